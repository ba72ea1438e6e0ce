//! The whole module's emitted Verilog under Verilator, driven interactively: [`VerilatorModule`]
//! is a [`ModuleHost`] like the rust-hdl [`crate::module_driver::ModuleSim`], about a hundred
//! times faster, so that training steps on the default configuration finish in minutes.
//!
//! It runs the co-simulation's simulator (`module_cosim`: the same Verilog DRAM models, the same
//! host interpreter, so cycle counts agree with rust-hdl) with `+interactive`: host operations
//! go down a pipe, replies come back, and DRAM contents are read and written directly in the
//! models' storage between runs. The DRAM timing checker stays with the rust-hdl model, which
//! the co-simulation tests hold to the same command stream.
//!
//! Builds are kept in a cache directory keyed by their sources, so that every run of the same
//! configuration after the first starts at once; a lock file lets concurrent runs share a build.

use crate::module_cosim::{self, parse_run_line};
use crate::module_driver::ModuleHost;
use anyhow::{anyhow, bail, ensure, Context, Result};
use nt_hdl::config::Config;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, SystemTime};

/// The least DRAM storage a model gets, so that the example and benchmark networks (up to 1.5 MB
/// a vault, bench_fc at batch 64) share one build of a configuration: a build takes about three
/// minutes on the default module, and with 1 MiB the benchmarks took a second one.
const MIN_MODEL_BYTES: u64 = 4 << 20;
/// A build lock older than this is taken to be left by a killed run.
const STALE_LOCK: Duration = Duration::from_secs(30 * 60);
const LOCK_POLL: Duration = Duration::from_millis(500);

pub struct VerilatorModule {
    child: Child,
    to: BufWriter<ChildStdin>,
    from: BufReader<ChildStdout>,
    tiles: usize,
    /// Seconds the Verilator build took (0 when a cached build was used).
    pub build_seconds: f64,
}

/// The cache directory: `NT_CACHE_DIR`, else `$XDG_CACHE_HOME/neurotrainer`, else
/// `~/.cache/neurotrainer`, else the system's temporary directory.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("NT_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("neurotrainer");
    }
    if let Some(h) = std::env::var_os("HOME") {
        return PathBuf::from(h).join(".cache").join("neurotrainer");
    }
    std::env::temp_dir().join("neurotrainer-cache")
}

/// Holds `<dir>.lock` while alive.
struct BuildLock(PathBuf);

impl BuildLock {
    fn take(dir: &Path) -> Result<BuildLock> {
        let path = dir.with_extension("lock");
        loop {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    let _ = writeln!(f, "{}", std::process::id());
                    return Ok(BuildLock(path));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let age = std::fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| SystemTime::now().duration_since(t).ok());
                    if age.is_some_and(|a| a > STALE_LOCK) {
                        let _ = std::fs::remove_file(&path);
                    } else {
                        std::thread::sleep(LOCK_POLL);
                    }
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()))
                }
            }
        }
    }
}

impl Drop for BuildLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

impl VerilatorModule {
    /// Builds (or finds in the cache) the simulator of `config`'s module with `model_bytes` of
    /// DRAM per vault (at least [`MIN_MODEL_BYTES`], a power of two) and starts it.
    pub fn start(config: &Config, model_bytes: u64) -> Result<VerilatorModule> {
        ensure!(
            module_cosim::verilator_available(),
            "verilator is not on PATH (scripts/setup.sh installs it)"
        );
        let bytes = model_bytes
            .max(MIN_MODEL_BYTES)
            .next_power_of_two()
            .min(config.dram.vault_bytes());
        let sources = module_cosim::verilator_sources(config, bytes)?;
        let root = cache_dir().join("verilator");
        std::fs::create_dir_all(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        let key = module_cosim::stamp(
            &sources
                .iter()
                .flat_map(|(n, t)| [n.as_bytes(), t.as_bytes()])
                .collect::<Vec<_>>(),
        );
        let dir = root.join(key);
        let (binary, build_seconds) = {
            let _lock = BuildLock::take(&dir)?;
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            let refs: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (*n, t.as_str())).collect();
            module_cosim::write_sources(&dir, &refs)?;
            module_cosim::build_verilator(&dir, &refs)?
        };
        let tiles = config.array.rows * config.array.cols;
        // The models read an initial image each: none here (the host pokes what it needs).
        let run_dir = tempdir_in(&root)?;
        for v in 0..tiles {
            std::fs::write(run_dir.join(format!("dram_in_{v}.hex")), "")?;
        }
        let mut child = Command::new(&binary)
            .arg("+interactive")
            .current_dir(&run_dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let to = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let from = BufReader::new(child.stdout.take().expect("piped stdout"));
        // The run directory only holds the empty images, read at start-up.
        let mut m = VerilatorModule {
            child,
            to,
            from,
            tiles,
            build_seconds,
        };
        m.cycles()?;
        let _ = std::fs::remove_dir_all(&run_dir);
        Ok(m)
    }

    fn send(&mut self, line: &str) -> Result<()> {
        writeln!(self.to, "{line}").context("the Verilator simulation stopped")
    }

    /// Sends `line` and returns the reply's fields after its tag, which must be `tag`.
    fn ask(&mut self, line: &str, tag: &str) -> Result<String> {
        self.send(line)?;
        self.to
            .flush()
            .context("the Verilator simulation stopped")?;
        let reply = self.reply()?;
        match reply.split_once(' ').unwrap_or((&reply, "")) {
            (t, rest) if t == tag => Ok(rest.to_string()),
            ("e", msg) => bail!("the Verilator simulation refused `{line}`: {msg}"),
            _ => bail!("unexpected reply `{reply}` to `{line}`"),
        }
    }

    fn reply(&mut self) -> Result<String> {
        let mut reply = String::new();
        let n = self.from.read_line(&mut reply)?;
        if n == 0 {
            let status = self.child.wait()?;
            bail!("the Verilator simulation exited ({status}) without replying");
        }
        Ok(reply.trim_end().to_string())
    }

    /// The first fault each vault's DRAM model saw, if any.
    pub fn model_faults(&mut self) -> Result<()> {
        let r = self.ask("z", "z")?;
        let f: Vec<u64> = r
            .split_whitespace()
            .map(|x| u64::from_str_radix(x, 16))
            .collect::<Result<_, _>>()
            .with_context(|| format!("bad fault reply `{r}`"))?;
        for (v, pair) in f.chunks(2).enumerate() {
            if pair[0] != 0 {
                bail!(
                    "vault {v}: the Verilog DRAM model saw {} at cycle {}",
                    module_cosim::model_fault_name(pair[0]),
                    pair[1]
                );
            }
        }
        Ok(())
    }
}

fn tempdir_in(root: &Path) -> Result<PathBuf> {
    let stamp = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let d = root.join(format!("run-{}-{stamp}", std::process::id()));
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}

fn hex_u64(s: &str) -> Result<u64> {
    u64::from_str_radix(s.trim(), 16).map_err(|_| anyhow!("bad number `{s}`"))
}

impl ModuleHost for VerilatorModule {
    fn tiles(&self) -> usize {
        self.tiles
    }

    fn name(&self) -> &'static str {
        "verilator"
    }

    fn finish(&mut self) -> Result<()> {
        self.model_faults()
    }

    fn cycles(&mut self) -> Result<u64> {
        hex_u64(&self.ask("c", "n")?)
    }

    fn host_write(&mut self, addr: u64, data: u32) -> Result<()> {
        self.send(&format!("w {addr:x} {data:x}"))
    }

    fn host_read(&mut self, addr: u64) -> Result<u32> {
        Ok(hex_u64(&self.ask(&format!("q {addr:x}"), "v")?)? as u32)
    }

    fn run(&mut self, max_cycles: u64) -> Result<u64> {
        self.send(&format!("r {max_cycles:x}"))?;
        self.to.flush()?;
        let line = self.reply()?;
        parse_run_line(&line, max_cycles)?
            .ok_or_else(|| anyhow!("unexpected reply `{line}` to a run"))
    }

    fn drain(&mut self) -> Result<()> {
        self.send("d")?;
        self.model_faults()
    }

    fn peek(&mut self, vault: usize, addr: u64, len: usize) -> Result<Vec<u8>> {
        let hex = self.ask(&format!("k {vault:x} {addr:x} {len:x}"), "b")?;
        ensure!(hex.len() == 2 * len, "peek of {len} bytes returned `{hex}`");
        (0..len)
            .map(|i| {
                u8::from_str_radix(&hex[2 * i..2 * i + 2], 16)
                    .map_err(|_| anyhow!("bad byte in `{hex}`"))
            })
            .collect()
    }

    fn poke(&mut self, vault: usize, addr: u64, bytes: &[u8]) -> Result<()> {
        let mut line = format!("p {vault:x} {addr:x} {:x} ", bytes.len());
        for b in bytes {
            let _ = write!(line, "{b:02x}");
        }
        self.ask(&line, "k").map(|_| ())
    }
}

impl Drop for VerilatorModule {
    fn drop(&mut self) {
        let _ = self.send("x");
        let _ = self.to.flush();
        let _ = self.child.wait();
    }
}
