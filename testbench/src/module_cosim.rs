//! Co-simulation of the whole module: the same job (DRAM contents, a program per tile per
//! segment, a seed) runs on the rust-hdl model ([`run_rust`], through [`ModuleSim`]) and on the
//! emitted Verilog ([`run_verilog`], under Verilator, or Icarus when Verilator is missing), and
//! both report the cycles of every segment, the DRAM contents afterwards and a digest of every
//! vault's DRAM commands. Equal results prove the Verilog users synthesize behaves as the model
//! the project verifies, cycle for cycle.
//!
//! The host protocol is one list of [`HostOp`]s ([`host_ops`]), which the Rust side applies to
//! [`ModuleSim`] and the Verilog side's hosts (a C++ main for Verilator, a Verilog testbench for
//! Icarus) read from `script.txt`: the hosts only interpret it, so the cycle counts can agree.
//!
//! On the Verilog side each vault's DRAM is `nt_dram_model` (see [`sources::DRAM_MODEL`]), which
//! reproduces [`crate::dram::Dram`]'s data behaviour; the timing checking stays with the rust-hdl
//! run, and equal command digests mean the Verilog issued exactly the commands it checked.

mod sources;

use crate::module_driver::{
    CommandDigest, CommandRecord, ModuleSim, ProgramFault, DIGEST_BASIS, DIGEST_PRIME,
    DRAIN_LIMIT_CYCLES,
};
use anyhow::{anyhow, bail, ensure, Context, Result};
use nt_hdl::bank_machine::ROW_BITS;
use nt_hdl::config::Config;
use nt_hdl::dataflow_program::{decode, Instr};
use nt_hdl::host_interface::{
    CONTROL, CONTROL_COUNTER_CLEAR, CONTROL_SEED_LOAD, CONTROL_START, PROGRAM_WINDOW, SEED,
    TILE_REGS, TILE_REG_STRIDE,
};
use nt_hdl::tile::MAX_BEAT_BITS;
use nt_hdl::vault_controller::{cmd_code, BANK_BITS, COL_BITS, MASK_BITS};
use sources::{fill, VaultPort};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

/// One segment: every tile's program (encoded words), loaded, started together, waited for.
/// A tile without a program (or with an empty one) keeps its program memory as it was: the
/// hardware runs whatever is there, from word 0 (all zeros is `end`).
#[derive(Clone, Debug, Default)]
pub struct Segment {
    pub programs: Vec<Vec<u32>>,
}

#[derive(Clone, Debug, Default)]
pub struct ModuleJob {
    /// The LFSR seed, loaded once before the first segment.
    pub seed: u32,
    /// Per vault: (byte address, bytes) written into its DRAM before the run.
    pub dram_init: Vec<Vec<(u64, Vec<u8>)>>,
    pub segments: Vec<Segment>,
    pub max_cycles_per_segment: u64,
    /// (byte address, length) ranges read back from every vault after the run.
    pub dump: Vec<(u64, usize)>,
    /// Keep every DRAM command (cycle, port values), not only their digest.
    pub record_commands: bool,
}

/// The simulator a result came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simulator {
    RustHdl,
    Verilator,
    Icarus,
}

#[derive(Clone, Debug)]
pub struct ModuleRunResult {
    /// Per segment, the cycles from start to done ([`ModuleSim::run`]).
    pub segment_cycles: Vec<u64>,
    /// `[vault][range]`: the bytes of every [`ModuleJob::dump`] range.
    pub dumps: Vec<Vec<Vec<u8>>>,
    /// Cycles from power-up to the end of the drain.
    pub total_cycles: u64,
    /// Wall-clock seconds of the simulation proper (no build).
    pub sim_seconds: f64,
    /// Wall-clock seconds of building the simulator: Verilator's C++ compile or Icarus's
    /// elaboration; 0 for rust-hdl and for a Verilator build reused from an earlier run.
    pub build_seconds: f64,
    pub simulator: Simulator,
    /// Per vault, the digest of every command it received.
    pub command_digests: Vec<CommandDigest>,
    /// Per vault, every command, when [`ModuleJob::record_commands`] asked for them.
    pub commands: Option<Vec<Vec<CommandRecord>>>,
}

impl ModuleRunResult {
    /// Simulated cycles per wall-clock second.
    pub fn cycles_per_second(&self) -> f64 {
        self.total_cycles as f64 / self.sim_seconds.max(f64::MIN_POSITIVE)
    }
}

/// One step of the host protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HostOp {
    /// [`ModuleSim::host_write`]: one cycle with the word on the host port.
    Write { addr: u64, data: u32 },
    /// [`ModuleSim::run`]: counter clear, start, then cycles until every tile is done.
    Run { max_cycles: u64 },
    /// [`ModuleSim::drain`].
    Drain,
}

/// The host protocol of `job`: the seed (SEED, then CONTROL seed_load), then per segment every
/// tile's program word by word (tile t word i at `t * PROGRAM_WINDOW + i`) and a run; a drain
/// at the end.
pub fn host_ops(config: &Config, job: &ModuleJob) -> Result<Vec<HostOp>> {
    let tiles = config.array.rows * config.array.cols;
    let mut ops = vec![
        HostOp::Write {
            addr: SEED,
            data: job.seed,
        },
        HostOp::Write {
            addr: CONTROL,
            data: CONTROL_SEED_LOAD as u32,
        },
    ];
    for (s, seg) in job.segments.iter().enumerate() {
        ensure!(
            seg.programs.len() <= tiles,
            "segment {s}: {} programs for {tiles} tiles",
            seg.programs.len()
        );
        for (t, words) in seg.programs.iter().enumerate() {
            ensure!(
                words.len() as u64 <= PROGRAM_WINDOW,
                "segment {s}, tile {t}: program of {} words exceeds the program memory ({PROGRAM_WINDOW} words)",
                words.len()
            );
            for (i, &data) in words.iter().enumerate() {
                ops.push(HostOp::Write {
                    addr: t as u64 * PROGRAM_WINDOW + i as u64,
                    data,
                });
            }
        }
        ops.push(HostOp::Run {
            max_cycles: job.max_cycles_per_segment,
        });
    }
    ops.push(HostOp::Drain);
    Ok(ops)
}

fn check_job(config: &Config, job: &ModuleJob) -> Result<usize> {
    let tiles = config.array.rows * config.array.cols;
    ensure!(
        job.dram_init.len() <= tiles,
        "DRAM contents for {} vaults, the module has {tiles}",
        job.dram_init.len()
    );
    Ok(tiles)
}

/// Runs `job` on the rust-hdl model (flit width `W`), every DRAM access timing-checked.
pub fn run_rust<const W: usize>(config: &Config, job: &ModuleJob) -> Result<ModuleRunResult> {
    let tiles = check_job(config, job)?;
    let ops = host_ops(config, job)?;
    let mut sim = ModuleSim::<W>::new(config)?;
    for (v, init) in job.dram_init.iter().enumerate() {
        for (addr, bytes) in init {
            sim.drams[v].poke(*addr, bytes);
        }
    }
    if job.record_commands {
        sim.record_commands();
    }
    let t0 = Instant::now();
    let mut segment_cycles = vec![];
    for op in ops {
        match op {
            HostOp::Write { addr, data } => sim.host_write(addr, data)?,
            HostOp::Run { max_cycles } => segment_cycles.push(sim.run(max_cycles)?),
            HostOp::Drain => sim.drain()?,
        }
    }
    let sim_seconds = t0.elapsed().as_secs_f64();
    Ok(ModuleRunResult {
        segment_cycles,
        dumps: (0..tiles)
            .map(|v| {
                job.dump
                    .iter()
                    .map(|&(a, n)| sim.drams[v].peek(a, n))
                    .collect()
            })
            .collect(),
        total_cycles: sim.cycles(),
        sim_seconds,
        build_seconds: 0.0,
        simulator: Simulator::RustHdl,
        command_digests: (0..tiles).map(|v| sim.command_digest(v)).collect(),
        commands: sim.commands().map(|c| c.to_vec()),
    })
}

/// [`run_rust`] for the flit width `config` asks for.
pub fn run_rust_for(config: &Config, job: &ModuleJob) -> Result<ModuleRunResult> {
    match config.noc.flit_width {
        32 => run_rust::<32>(config, job),
        64 => run_rust::<64>(config, job),
        w => bail!("noc.flit_width = {w}: no module instantiation for this width"),
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths).any(|dir| {
            std::fs::metadata(dir.join(program)).is_ok_and(|m| m.is_file() && m.len() > 0)
        })
    })
}

/// Whether `verilator` is on PATH.
pub fn verilator_available() -> bool {
    on_path("verilator")
}

/// Whether Icarus Verilog (`iverilog` and `vvp`) is on PATH.
pub fn icarus_available() -> bool {
    on_path("iverilog") && on_path("vvp")
}

/// Runs `job` on the emitted Verilog under Verilator, or under Icarus when Verilator is missing.
/// `work_dir` holds the sources, the job files and the simulator's outputs; a Verilator build
/// there is reused while its sources are unchanged. One run at a time per `work_dir`.
pub fn run_verilog(config: &Config, job: &ModuleJob, work_dir: &Path) -> Result<ModuleRunResult> {
    let sim = if verilator_available() {
        Simulator::Verilator
    } else if icarus_available() {
        Simulator::Icarus
    } else {
        bail!("neither verilator nor iverilog is on PATH (install them with scripts/setup.sh)");
    };
    run_verilog_with(config, job, work_dir, sim)
}

/// Fault codes of `nt_dram_model`'s summary.
mod model_fault {
    pub const NONE: u64 = 0;
    pub const OUTSIDE: u64 = 1;
    pub const MISSING_BEAT: u64 = 2;
    pub const UNEXPECTED_BEAT: u64 = 3;
    pub const QUEUE_FULL: u64 = 4;

    pub fn name(code: u64) -> &'static str {
        match code {
            OUTSIDE => "a write beat outside the modelled storage (the job's address range)",
            MISSING_BEAT => "a write burst's data beat missing",
            UNEXPECTED_BEAT => "write data with no write burst due",
            QUEUE_FULL => "more bursts in flight than the model queues",
            _ => "an unknown fault",
        }
    }
}

/// `log2` of the bursts in flight `nt_dram_model` queues per direction. Bursts leave the bus one
/// per BL cycles, so at most `max(CL, CWL) / BL + 1` are between command and last beat.
const MODEL_QUEUE_BITS: u32 = 4;
/// The smallest storage the model gets, so that small jobs share one Verilator build.
const MIN_MODEL_BYTES: u64 = 1 << 16;

/// Bytes of storage the Verilog DRAM model needs for `job`: every initialised, dumped or
/// streamed byte (stream extents from the decoded programs; undecodable programs fault in the
/// hardware before they access memory), rounded up to a power of two so that jobs of similar
/// size share a Verilator build.
pub fn model_bytes(config: &Config, job: &ModuleJob) -> u64 {
    let mut end = MIN_MODEL_BYTES;
    for init in &job.dram_init {
        for (addr, bytes) in init {
            end = end.max(addr + bytes.len() as u64);
        }
    }
    for &(addr, len) in &job.dump {
        end = end.max(addr + len as u64);
    }
    for seg in &job.segments {
        for words in &seg.programs {
            for instr in decode(words).unwrap_or_default() {
                if let Instr::Stream(d) = instr {
                    let reach: i64 = d
                        .loops
                        .iter()
                        .map(|&(count, stride)| (count as i64 - 1) * (stride as i64).max(0))
                        .sum();
                    end = end.max((d.base as i64 + reach + d.size as i64).max(0) as u64);
                }
            }
        }
    }
    end.next_power_of_two().min(config.dram.vault_bytes())
}

/// The `$readmemh` image of one vault: only the initialised beats, each run of them after an
/// `@index` line; bytes of a beat in little-endian order (byte 0 in the low bits).
fn init_image(init: &[(u64, Vec<u8>)], beat_bytes: usize) -> String {
    let mut beats: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    for (addr, bytes) in init {
        for (i, &b) in bytes.iter().enumerate() {
            let a = addr + i as u64;
            beats
                .entry(a / beat_bytes as u64)
                .or_insert_with(|| vec![0; beat_bytes])[(a % beat_bytes as u64) as usize] = b;
        }
    }
    let mut s = String::new();
    let mut next = None;
    for (index, beat) in beats {
        if next != Some(index) {
            let _ = writeln!(s, "@{index:x}");
        }
        for b in beat.iter().rev() {
            let _ = write!(s, "{b:02x}");
        }
        s.push('\n');
        next = Some(index + 1);
    }
    s
}

/// Reads a `$writememh` file of `beats` beats back into bytes (unwritten beats are zero).
fn read_image(text: &str, beats: usize, beat_bytes: usize) -> Result<Vec<u8>> {
    let mut out = vec![0u8; beats * beat_bytes];
    let mut index = 0usize;
    for line in text.lines() {
        let line = line.split("//").next().unwrap_or("").trim();
        for token in line.split_whitespace() {
            if let Some(a) = token.strip_prefix('@') {
                index = usize::from_str_radix(a, 16).with_context(|| format!("bad address {a}"))?;
                continue;
            }
            ensure!(index < beats, "image has more than {beats} beats");
            let digits = token.len();
            ensure!(
                digits == 2 * beat_bytes,
                "beat `{token}` is not {beat_bytes} bytes"
            );
            for b in 0..beat_bytes {
                let hex = &token[digits - 2 * (b + 1)..digits - 2 * b];
                out[index * beat_bytes + b] = u8::from_str_radix(hex, 16)
                    .with_context(|| format!("bad beat `{token}` (X or Z in the model?)"))?;
            }
            index += 1;
        }
    }
    Ok(out)
}

/// The module's per-tile DRAM ports and the model's ports they join.
fn vault_ports() -> Vec<VaultPort> {
    /// Width of the controller's `cmd` port ([`nt_hdl::module::Module::cmd`]).
    const CMD_BITS: usize = 3;
    vec![
        VaultPort {
            module: "cmd",
            model: "cmd",
            width: CMD_BITS,
        },
        VaultPort {
            module: "cmd_bank",
            model: "cmd_bank",
            width: BANK_BITS,
        },
        VaultPort {
            module: "cmd_row",
            model: "cmd_row",
            width: ROW_BITS,
        },
        VaultPort {
            module: "cmd_col",
            model: "cmd_col",
            width: COL_BITS,
        },
        VaultPort {
            module: "dram_wvalid",
            model: "wvalid",
            width: 1,
        },
        VaultPort {
            module: "dram_wmask",
            model: "wmask",
            width: MASK_BITS,
        },
        VaultPort {
            module: "dram_wdata",
            model: "wdata",
            width: MAX_BEAT_BITS,
        },
        VaultPort {
            module: "dram_rdata",
            model: "rdata",
            width: MAX_BEAT_BITS,
        },
    ]
}

/// The co-simulation's Verilog besides `nt_module`: the DRAM model and the wrapper.
fn cosim_verilog(config: &Config, mem_beats: u64) -> Result<String> {
    let t = config.dram.timing();
    ensure!(
        t.cl >= 1 && t.cwl >= 1,
        "the DRAM model needs CL and CWL of at least one cycle"
    );
    ensure!(
        (t.cl.max(t.cwl) / t.bl + 1) < 1 << MODEL_QUEUE_BITS,
        "CL/CWL of {}/{} cycles keep more bursts in flight than the DRAM model queues",
        t.cl,
        t.cwl
    );
    let ports = vault_ports();
    let width = |name: &str| {
        ports
            .iter()
            .find(|p| p.module == name)
            .map_or(1, |p| p.width)
    };
    let params: Vec<(&str, String)> = vec![
        ("CMD_BITS", width("cmd").to_string()),
        ("BANK_BITS", BANK_BITS.to_string()),
        ("ROW_BITS", ROW_BITS.to_string()),
        ("COL_BITS", COL_BITS.to_string()),
        ("PORT_BITS", MAX_BEAT_BITS.to_string()),
        ("PORT_MASK_BITS", MASK_BITS.to_string()),
        ("BEAT_BYTES", config.dram.bytes_per_cycle.to_string()),
        ("BANKS", config.dram.banks.to_string()),
        ("COLUMNS", config.dram.columns().to_string()),
        ("BANK_XOR_MASK", config.dram.bank_xor_mask().to_string()),
        ("BL", t.bl.to_string()),
        ("CL", t.cl.to_string()),
        ("CWL", t.cwl.to_string()),
        ("MEM_BEATS", mem_beats.to_string()),
        ("QUEUE_BITS", MODEL_QUEUE_BITS.to_string()),
        ("CMD_ACT", cmd_code::ACT.to_string()),
        ("CMD_RD", cmd_code::RD.to_string()),
        ("CMD_WR", cmd_code::WR.to_string()),
    ];
    let model = fill(
        sources::DRAM_MODEL,
        &[
            ("DIGEST_BASIS", format!("{DIGEST_BASIS:016x}")),
            ("DIGEST_PRIME", format!("{DIGEST_PRIME:016x}")),
            ("FAULT_OUTSIDE", model_fault::OUTSIDE.to_string()),
            ("FAULT_MISSING_BEAT", model_fault::MISSING_BEAT.to_string()),
            (
                "FAULT_UNEXPECTED_BEAT",
                model_fault::UNEXPECTED_BEAT.to_string(),
            ),
            ("FAULT_QUEUE_FULL", model_fault::QUEUE_FULL.to_string()),
        ],
    )?;
    let tiles = config.array.rows * config.array.cols;
    Ok(format!("{model}{}", sources::top(tiles, &ports, &params)))
}

/// Values of the hosts' templates.
fn host_values(config: &Config) -> Vec<(&'static str, String)> {
    vec![
        ("CONTROL", format!("{CONTROL:x}")),
        (
            "CONTROL_COUNTER_CLEAR",
            format!("{CONTROL_COUNTER_CLEAR:x}"),
        ),
        ("CONTROL_START", format!("{CONTROL_START:x}")),
        ("TILE_REGS", format!("{TILE_REGS:x}")),
        ("TILE_REG_STRIDE", format!("{TILE_REG_STRIDE:x}")),
        ("TILES", (config.array.rows * config.array.cols).to_string()),
        ("DRAIN_LIMIT_CYCLES", DRAIN_LIMIT_CYCLES.to_string()),
        ("BEAT_BYTES", config.dram.bytes_per_cycle.to_string()),
    ]
}

/// `script.txt`: one operation per line, numbers in hexadecimal; `m` (dump) ends it.
fn script(ops: &[HostOp]) -> String {
    let mut s = String::new();
    for op in ops {
        let _ = match op {
            HostOp::Write { addr, data } => writeln!(s, "w {addr:x} {data:x}"),
            HostOp::Run { max_cycles } => writeln!(s, "r {max_cycles:x}"),
            HostOp::Drain => writeln!(s, "d"),
        };
    }
    s.push_str("m\n");
    s
}

/// 64-bit FNV-1a over bytes: the stamp of a Verilator build's inputs.
pub(crate) fn stamp(parts: &[&[u8]]) -> String {
    let mut h = DIGEST_BASIS;
    for p in parts {
        for &b in *p {
            h = (h ^ b as u64).wrapping_mul(DIGEST_PRIME);
        }
        h = (h ^ 0xFF).wrapping_mul(DIGEST_PRIME);
    }
    format!("{h:016x}")
}

/// Verilator's options. `--x-assign 0 --x-initial 0` give every variable rust-hdl's power-up
/// value (zero); the emitted Verilog's lint waivers cover the warnings, the rest are not fatal.
const VERILATOR_FLAGS: &[&str] = &[
    "--cc",
    "--exe",
    "--build",
    "--no-timing",
    "--x-assign",
    "0",
    "--x-initial",
    "0",
    "-Wno-fatal",
    "-Wno-lint",
    "-Wno-style",
    "--top-module",
    "nt_cosim_top",
];
/// C++ optimisation of the Verilated model: `-O2` for the evaluation code, `-O0` for the code
/// Verilator marks slow (construction, initial blocks). Measured on configs/small.toml (2x2 tiles,
/// 4 lanes), one compile job on a shared 2-core machine (load about 3): Verilator itself ~12 s;
/// the C++ build ~73 s at -O0, ~108 s at -O1, -Os and -O2 alike, ~99 s with this split;
/// simulation ~14 k cycles/s at -O0, ~22 k at -O1, ~28 k at -Os, ~30 k at -O2, ~40 k split.
const VERILATOR_MAKEFLAGS: &str = "OPT_FAST=-O2 OPT_SLOW=-O0 OPT_GLOBAL=-O2";
/// Parallel C++ compile jobs: the machines this runs on are small and shared.
const VERILATOR_BUILD_JOBS: &str = "1";
const VERILATOR_OBJ_DIR: &str = "obj_dir";
const VERILATOR_BINARY: &str = "nt_cosim";

/// Builds the Verilator simulator in `work_dir` unless a build of the same sources is there.
/// Returns the binary and the seconds the build took (0 when reused).
pub(crate) fn build_verilator(work_dir: &Path, sources: &[(&str, &str)]) -> Result<(PathBuf, f64)> {
    let obj = work_dir.join(VERILATOR_OBJ_DIR);
    let binary = obj.join(VERILATOR_BINARY);
    let mut parts: Vec<&[u8]> = sources
        .iter()
        .flat_map(|(n, t)| [n.as_bytes(), t.as_bytes()])
        .collect();
    parts.extend(VERILATOR_FLAGS.iter().map(|f| f.as_bytes()));
    parts.push(VERILATOR_MAKEFLAGS.as_bytes());
    let stamp = stamp(&parts);
    let stamp_file = obj.join("nt_build.stamp");
    if binary.is_file() && std::fs::read_to_string(&stamp_file).ok().as_deref() == Some(&stamp) {
        return Ok((binary, 0.0));
    }
    let _ = std::fs::remove_file(&stamp_file);
    let t0 = Instant::now();
    let mut cmd = Command::new("verilator");
    cmd.current_dir(work_dir)
        .args(VERILATOR_FLAGS)
        .args(["-j", VERILATOR_BUILD_JOBS])
        .args(["-MAKEFLAGS", VERILATOR_MAKEFLAGS])
        .args(["-Mdir", VERILATOR_OBJ_DIR, "-o", VERILATOR_BINARY]);
    for (name, _) in sources {
        cmd.arg(name);
    }
    let out = cmd.output().context("running verilator")?;
    if !out.status.success() {
        bail!(
            "verilator failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    std::fs::write(&stamp_file, &stamp)?;
    Ok((binary, t0.elapsed().as_secs_f64()))
}

/// Builds and runs the Icarus simulation; returns the seconds of elaboration and of the run.
fn run_icarus(work_dir: &Path, sources: &[(&str, &str)], trace: bool) -> Result<(f64, f64)> {
    let t0 = Instant::now();
    let out = Command::new("iverilog")
        .current_dir(work_dir)
        .args(["-g2012", "-o", "nt_cosim.vvp", "-s", "nt_cosim_tb"])
        .args(sources.iter().map(|(n, _)| *n))
        .output()
        .context("running iverilog")?;
    if !out.status.success() {
        bail!("iverilog failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let build = t0.elapsed().as_secs_f64();
    let t1 = Instant::now();
    let mut cmd = Command::new("vvp");
    cmd.current_dir(work_dir).args(["-n", "nt_cosim.vvp"]);
    if trace {
        cmd.arg("+trace");
    }
    let out = cmd.output().context("running vvp")?;
    if !out.status.success() {
        bail!("vvp failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((build, t1.elapsed().as_secs_f64()))
}

/// Output files of a run, removed before the next one so that a stale file never passes.
fn output_files(tiles: usize) -> Vec<String> {
    let mut f = vec!["result.txt".to_string()];
    for v in 0..tiles {
        f.push(format!("dram_out_{v}.hex"));
        f.push(format!("vault_{v}.txt"));
        f.push(format!("commands_{v}.txt"));
    }
    f
}

/// [`run_verilog`] on a given simulator.
pub fn run_verilog_with(
    config: &Config,
    job: &ModuleJob,
    work_dir: &Path,
    simulator: Simulator,
) -> Result<ModuleRunResult> {
    let tiles = check_job(config, job)?;
    let ops = host_ops(config, job)?;
    std::fs::create_dir_all(work_dir)
        .with_context(|| format!("cannot create {}", work_dir.display()))?;
    let beat_bytes = config.dram.bytes_per_cycle;
    let mem_bytes = model_bytes(config, job);
    let mem_beats = (mem_bytes / beat_bytes as u64) as usize;
    for f in output_files(tiles) {
        let _ = std::fs::remove_file(work_dir.join(f));
    }
    for v in 0..tiles {
        let init = job.dram_init.get(v).map_or(&[][..], |i| &i[..]);
        std::fs::write(
            work_dir.join(format!("dram_in_{v}.hex")),
            init_image(init, beat_bytes),
        )?;
    }
    std::fs::write(work_dir.join("script.txt"), script(&ops))?;
    let (build_seconds, sim_seconds) = match simulator {
        Simulator::Verilator => {
            let sources = verilator_sources(config, mem_bytes)?;
            let srcs: Vec<(&str, &str)> = sources.iter().map(|(n, t)| (*n, t.as_str())).collect();
            write_sources(work_dir, &srcs)?;
            let (binary, build) = build_verilator(work_dir, &srcs)?;
            let t0 = Instant::now();
            let mut cmd = Command::new(&binary);
            cmd.current_dir(work_dir);
            if job.record_commands {
                cmd.arg("+trace");
            }
            let out = cmd.output().context("running the Verilator simulation")?;
            if !out.status.success() {
                bail!(
                    "the Verilator simulation failed:\n{}{}",
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
            (build, t0.elapsed().as_secs_f64())
        }
        Simulator::Icarus => {
            let module =
                crate::module_driver::module_verilog(config, "co-simulation of the whole module")?;
            let cosim = cosim_verilog(config, mem_beats as u64)?;
            let tb = fill(sources::ICARUS_TB, &host_values(config))?;
            let srcs = [
                ("nt_cosim_tb.v", tb.as_str()),
                ("nt_cosim.v", cosim.as_str()),
                ("nt_module.v", module.as_str()),
            ];
            write_sources(work_dir, &srcs)?;
            run_icarus(work_dir, &srcs, job.record_commands)?
        }
        Simulator::RustHdl => bail!("rust-hdl is not a Verilog simulator: use run_rust"),
    };

    let result = std::fs::read_to_string(work_dir.join("result.txt"))
        .context("the simulation wrote no result.txt")?;
    let (segment_cycles, total_cycles) = parse_result(&result, job)?;
    let mut dumps = vec![];
    let mut command_digests = vec![];
    let mut commands = job.record_commands.then(Vec::new);
    for v in 0..tiles {
        let summary = std::fs::read_to_string(work_dir.join(format!("vault_{v}.txt")))
            .with_context(|| format!("vault {v}: the DRAM model wrote no summary"))?;
        let f: Vec<u64> = summary
            .split_whitespace()
            .map(|x| u64::from_str_radix(x, 16))
            .collect::<Result<_, _>>()
            .with_context(|| format!("vault {v}: bad summary `{summary}`"))?;
        ensure!(f.len() == 4, "vault {v}: bad summary `{summary}`");
        if f[2] != model_fault::NONE {
            bail!(
                "vault {v}: the Verilog DRAM model saw {} at cycle {}",
                model_fault::name(f[2]),
                f[3]
            );
        }
        command_digests.push(CommandDigest {
            hash: f[0],
            count: f[1],
        });
        let image = std::fs::read_to_string(work_dir.join(format!("dram_out_{v}.hex")))?;
        let bytes = read_image(&image, mem_beats, beat_bytes)
            .with_context(|| format!("vault {v}: reading the DRAM image"))?;
        dumps.push(
            job.dump
                .iter()
                .map(|&(a, n)| {
                    (a..a + n as u64)
                        .map(|x| bytes.get(x as usize).copied().unwrap_or(0))
                        .collect()
                })
                .collect(),
        );
        if let Some(c) = commands.as_mut() {
            let text = std::fs::read_to_string(work_dir.join(format!("commands_{v}.txt")))?;
            c.push(parse_commands(&text).with_context(|| format!("vault {v}: command trace"))?);
        }
    }
    Ok(ModuleRunResult {
        segment_cycles,
        dumps,
        total_cycles,
        sim_seconds,
        build_seconds,
        simulator,
        command_digests,
        commands,
    })
}

/// Writes `text` unless the file already holds it (keeps the build stamp's inputs stable and
/// the file times untouched).
/// The Verilator simulator's sources for `config` with `model_bytes` of DRAM per vault.
pub(crate) fn verilator_sources(
    config: &Config,
    model_bytes: u64,
) -> Result<Vec<(&'static str, String)>> {
    let mem_beats = model_bytes / config.dram.bytes_per_cycle as u64;
    Ok(vec![
        (
            "nt_module.v",
            crate::module_driver::module_verilog(config, "co-simulation of the whole module")?,
        ),
        ("nt_cosim.v", cosim_verilog(config, mem_beats)?),
        (
            "nt_cosim_main.cpp",
            fill(sources::VERILATOR_MAIN, &host_values(config))?,
        ),
    ])
}

/// Writes every source into `dir`, leaving unchanged files alone.
pub(crate) fn write_sources(dir: &Path, sources: &[(&str, &str)]) -> Result<()> {
    for (name, text) in sources {
        write_if_changed(&dir.join(name), text)?;
    }
    Ok(())
}

/// What a fault code of the Verilog DRAM model means.
pub(crate) fn model_fault_name(code: u64) -> &'static str {
    model_fault::name(code)
}

fn write_if_changed(path: &Path, text: &str) -> Result<()> {
    if std::fs::read_to_string(path).ok().as_deref() != Some(text) {
        std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(())
}

fn hex_fields(line: &str) -> Result<Vec<u64>> {
    line.split_whitespace()
        .map(|x| {
            u64::from_str_radix(x, 16).with_context(|| format!("bad number `{x}` in `{line}`"))
        })
        .collect()
}

/// `result.txt` into the segment cycles and the total, or the error [`ModuleSim::run`] gives
/// for the same event.
fn parse_result(text: &str, job: &ModuleJob) -> Result<(Vec<u64>, u64)> {
    let mut segments = vec![];
    for line in text.lines() {
        if let Some(end) = line.strip_prefix("n ") {
            return Ok((segments, hex_fields(end)?.first().copied().unwrap_or(0)));
        }
        match parse_run_line(line, job.max_cycles_per_segment)? {
            Some(cycles) => segments.push(cycles),
            None => bail!("bad result line `{line}`"),
        }
    }
    Err(anyhow!(
        "the simulation stopped before the end of the script (after {} segments)",
        segments.len()
    ))
}

/// A Verilog host's report of one run: `s` (the run's cycles), or the error [`ModuleSim::run`]
/// gives for `f` (a fault), `t` (a timeout after `max_cycles`) and `o` (an overflow); `None`
/// for another line.
pub(crate) fn parse_run_line(line: &str, max_cycles: u64) -> Result<Option<u64>> {
    let Some((tag, rest)) = line.split_once(' ') else {
        return Ok(None);
    };
    let f = hex_fields(rest)?;
    ensure!(!f.is_empty(), "bad result line `{line}`");
    let (cycle, statuses) = (f[0], &f[1..]);
    match tag {
        "s" => Ok(Some(f[0])),
        "f" => {
            for (t, &s) in statuses.iter().enumerate() {
                if s >> STATUS_ERROR_BIT & 1 == 1 {
                    return Err(ProgramFault {
                        tile: t,
                        code: s >> STATUS_CODE_SHIFT & STATUS_CODE_MASK,
                        cycle,
                    }
                    .into());
                }
            }
            bail!("the module reports an error but no tile does");
        }
        "t" => {
            let busy: Vec<usize> = statuses
                .iter()
                .enumerate()
                .filter(|(_, &s)| s >> STATUS_DONE_BIT & 1 == 0)
                .map(|(t, _)| t)
                .collect();
            bail!(
                "programs did not finish within {max_cycles} cycles; tiles still running: {busy:?}"
            );
        }
        "o" => bail!("a router buffer overflowed (credit protocol violated)"),
        _ => Ok(None),
    }
}

/// Fields of a tile's status register (`nt_hdl::host_interface::tile_reg::STATUS`).
const STATUS_DONE_BIT: u64 = 1;
const STATUS_ERROR_BIT: u64 = 2;
const STATUS_CODE_SHIFT: u64 = 4;
const STATUS_CODE_MASK: u64 = 0xF;

fn parse_commands(text: &str) -> Result<Vec<CommandRecord>> {
    text.lines()
        .map(|line| {
            let f = hex_fields(line)?;
            ensure!(f.len() == 5, "bad command line `{line}`");
            Ok(CommandRecord {
                cycle: f[0],
                code: f[1],
                bank: f[2],
                row: f[3],
                col: f[4],
            })
        })
        .collect()
}

/// The first difference between two runs' results, or `None` when they agree on everything
/// the co-simulation compares: segment cycles, total cycles, command digests, commands (when
/// both recorded them) and dumps.
pub fn first_difference(a: &ModuleRunResult, b: &ModuleRunResult) -> Option<String> {
    let (na, nb) = (format!("{:?}", a.simulator), format!("{:?}", b.simulator));
    if a.segment_cycles != b.segment_cycles {
        return Some(format!(
            "segment cycles: {na} {:?}, {nb} {:?}",
            a.segment_cycles, b.segment_cycles
        ));
    }
    if let (Some(ca), Some(cb)) = (&a.commands, &b.commands) {
        for (v, (x, y)) in ca.iter().zip(cb).enumerate() {
            if let Some(i) = (0..x.len().max(y.len())).find(|&i| x.get(i) != y.get(i)) {
                return Some(format!(
                    "vault {v}, command {i}: {na} {:?}, {nb} {:?}",
                    x.get(i),
                    y.get(i)
                ));
            }
        }
    }
    for (v, (x, y)) in a.command_digests.iter().zip(&b.command_digests).enumerate() {
        if x != y {
            return Some(format!("vault {v}: command digest {na} {x:?}, {nb} {y:?}"));
        }
    }
    for (v, (x, y)) in a.dumps.iter().zip(&b.dumps).enumerate() {
        for (r, (p, q)) in x.iter().zip(y).enumerate() {
            if let Some(i) = (0..p.len()).find(|&i| p[i] != q[i]) {
                return Some(format!(
                    "vault {v}, dump range {r}, byte {i}: {na} {:#04x}, {nb} {:#04x}",
                    p[i], q[i]
                ));
            }
        }
    }
    if a.total_cycles != b.total_cycles {
        return Some(format!(
            "total cycles: {na} {}, {nb} {}",
            a.total_cycles, b.total_cycles
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_round_trip_little_endian_beats() {
        let init = vec![(3u64, vec![1u8, 2, 3, 4, 5, 6]), (64, vec![0xAB])];
        let img = init_image(&init, 8);
        assert_eq!(
            img,
            "@0\n0504030201000000\n0000000000000006\n@8\n00000000000000ab\n"
        );
        let bytes = read_image(&img, 16, 8).unwrap();
        assert_eq!(&bytes[3..9], &[1, 2, 3, 4, 5, 6]);
        assert_eq!(bytes[64], 0xAB);
        // $writememh may separate words by spaces and add comments.
        let b = read_image("// x\n@1 0000000000000011 0000000000000022\n", 4, 8).unwrap();
        assert_eq!((b[8], b[16]), (0x11, 0x22));
    }

    #[test]
    fn templates_fail_on_missing_values() {
        assert_eq!(fill("a {{X}} b", &[("X", "1".into())]).unwrap(), "a 1 b");
        assert!(fill("a {{X}} {{Y}}", &[("X", "1".into())])
            .unwrap_err()
            .to_string()
            .contains("{{Y}}"));
    }

    #[test]
    fn model_storage_covers_every_stream() {
        use nt_hdl::dataflow_program::{encode, Descriptor, Dest, Slot};
        let c = Config::default();
        let stream = |base: u32, loops: Vec<(u32, i32)>| {
            Instr::Stream(Descriptor {
                slot: Slot::A,
                dest: Dest::Pe,
                size: 4,
                narrow: false,
                base,
                loops,
            })
        };
        let mut job = ModuleJob {
            dram_init: vec![vec![(0x100, vec![0; 16])]],
            ..Default::default()
        };
        assert_eq!(model_bytes(&c, &job), MIN_MODEL_BYTES);
        job.segments.push(Segment {
            programs: vec![
                vec![],
                encode(&[
                    stream(0x2_0000, vec![(16, 4)]),
                    stream(0x3_0000, vec![(8, -4)]),
                    Instr::End,
                ]),
            ],
        });
        assert_eq!(model_bytes(&c, &job), 0x4_0000);
    }

    #[test]
    fn digests_pack_ports_like_the_model() {
        let c = CommandRecord {
            cycle: 7,
            code: cmd_code::WR,
            bank: 2,
            row: 0x1234,
            col: 5,
        };
        assert_eq!(c.packed(), 3 << 29 | 2 << 24 | 0x1234 << 8 | 5);
    }
}
