//! The EDA flow: Yosys synthesizes the Verilog (memories stubbed and costed by the SRAM model),
//! ntgen gates the clocks of enabled flip-flops ([`crate::clock_gating`]), Yosys maps the result
//! to a Liberty library, ntgen buffers its nets of high fanout ([`crate::fanout`]), OpenSTA
//! reports slack, the critical path and power.
//!
//! The scripts live in `scripts/synth.ys`, `scripts/map.ys`, `scripts/finish.ys` and
//! `scripts/sta.tcl` (templates with `{NAME}` fields); the clock constraint comes from
//! `constraints/clock.sdc`.

use crate::clock_gating::{self, Gated};
use crate::fanout::{self, CellFacts};
use crate::liberty::embedded_liberty;
use crate::tools;
use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const SYNTH_TEMPLATE: &str = include_str!("../../scripts/synth.ys");
const MAP_TEMPLATE: &str = include_str!("../../scripts/map.ys");
const FINISH_TEMPLATE: &str = include_str!("../../scripts/finish.ys");
const STA_TEMPLATE: &str = include_str!("../../scripts/sta.tcl");
const SDC_TEMPLATE: &str = include_str!("../../constraints/clock.sdc");

/// Environment variable naming a Liberty file to use instead of the default.
pub const LIBERTY_ENV: &str = "NT_LIBERTY";
/// The real NanGate 15nm typical library, relative to the project root, used when present.
pub const NANGATE15_REL: &str =
    "../shared/pdk/nangate15/NanGate_15nm_OCL_typical_conditional_nldm.lib";

/// The `--liberty` value that selects the embedded library even where a real one is found.
pub const EMBEDDED: &str = "embedded";

/// A cell library ready for both tools.
#[derive(Clone, Debug)]
pub struct Library {
    /// Where it came from: a path, or `embedded nt15_typ`.
    pub origin: String,
    /// An uncompressed copy readable by Yosys and OpenSTA.
    pub path: PathBuf,
    /// Picoseconds per library time unit (1 for ps libraries, 1000 for ns).
    pub ps_per_unit: f64,
    /// Its buffer and clock pins, for fanout buffering.
    pub cells: CellFacts,
}

fn project_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Picks the library: `explicit` (`--liberty`), else `$NT_LIBERTY`, else `configured` (the
/// configuration's `flow.liberty`), else NanGate 15nm when `../shared/pdk` has it, else the
/// embedded one. `embedded` at any of the first three selects the embedded one. Writes the
/// usable copy into `dir`.
pub fn resolve_library(
    explicit: Option<&Path>,
    configured: Option<&Path>,
    dir: &Path,
) -> Result<Library> {
    let env = std::env::var_os(LIBERTY_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let named = explicit
        .map(Path::to_path_buf)
        .or(env)
        .or_else(|| configured.map(Path::to_path_buf));
    let chosen = match named {
        Some(p) if p.file_name() == Some(EMBEDDED.as_ref()) => None,
        Some(p) => Some(p),
        None => Some(project_root().join(NANGATE15_REL)).filter(|p| p.exists()),
    };
    std::fs::create_dir_all(dir)?;
    let dest = dir.join("cells.lib");
    let origin = match &chosen {
        Some(p) if p.is_dir() => {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("cannot read directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    let n = f.to_string_lossy();
                    n.ends_with(".lib") || n.ends_with(".lib.gz")
                })
                .collect();
            files.sort();
            if files.is_empty() {
                bail!("{} holds no .lib or .lib.gz file", p.display());
            }
            let texts = files
                .iter()
                .map(|f| Ok((f.display().to_string(), liberty_text(f)?)))
                .collect::<Result<Vec<_>>>()?;
            std::fs::write(&dest, merge_libraries(&texts)?)?;
            format!("{} ({} files)", p.display(), files.len())
        }
        Some(p) => {
            std::fs::write(&dest, liberty_text(p)?)?;
            p.display().to_string()
        }
        None => {
            std::fs::write(&dest, embedded_liberty())?;
            "embedded nt15_typ".to_string()
        }
    };
    let text = std::fs::read_to_string(&dest).context("Liberty file is not text")?;
    if !text.contains("library") || !text.contains("cell") {
        bail!("{origin} does not look like a Liberty library");
    }
    let ps_per_unit = time_unit_ps(&text).with_context(|| format!("{origin}: no time_unit"))?;
    let cells = CellFacts::from_liberty(&text);
    if cells.buffer.is_none() {
        bail!("{origin} has no buffer cell (one input, output function equal to it), which fanout buffering needs");
    }
    Ok(Library {
        origin,
        path: dest,
        ps_per_unit,
        cells,
    })
}

/// A Liberty file's text; gzipped files are unpacked (OpenSTA cannot read them).
fn liberty_text(p: &Path) -> Result<String> {
    let bytes =
        std::fs::read(p).with_context(|| format!("cannot read Liberty file {}", p.display()))?;
    let bytes = if p.extension().is_some_and(|e| e == "gz") {
        let out = std::process::Command::new("gzip")
            .args(["-dc", &p.to_string_lossy()])
            .output()
            .context("running gzip")?;
        if !out.status.success() {
            bail!("cannot gunzip {}", p.display());
        }
        out.stdout
    } else {
        bytes
    };
    String::from_utf8(bytes).with_context(|| format!("{} is not text", p.display()))
}

/// Byte offset of the first line that opens a `cell (` group.
fn first_cell(text: &str) -> Option<usize> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let t = line.trim_start();
        if t.strip_prefix("cell")
            .is_some_and(|r| r.trim_start().starts_with('('))
        {
            return Some(at);
        }
        at += line.len();
    }
    None
}

/// The `keyword (name) { ... }` groups in `text`: (name, whole group text).
pub(crate) fn groups<'a>(text: &'a str, keyword: &str) -> Vec<(&'a str, &'a str)> {
    let mut out = vec![];
    let mut from = 0;
    while let Some(i) = text[from..].find(keyword).map(|i| i + from) {
        from = i + keyword.len();
        // A whole word only: `pin` is not the end of `pg_pin`.
        let before = text[..i].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let rest = &text[from..];
        let Some(open) = rest.find('(') else { break };
        if !rest[..open].trim().is_empty() {
            continue;
        }
        let Some(close) = rest.find(')') else { break };
        let name = rest[open + 1..close].trim();
        let Some(brace) = rest[close..].find('{').map(|b| b + close) else {
            break;
        };
        let mut depth = 0;
        let mut end = None;
        for (k, c) in rest[brace..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(from + brace + k + 1);
                        break;
                    }
                }
                _ => {}
            }
        }
        let Some(end) = end else { break };
        out.push((name, &text[i..end]));
        from = end;
    }
    out
}

/// Table-template groups a library's header may define.
const TEMPLATE_KEYWORDS: [&str; 2] = ["lu_table_template", "power_lut_template"];

/// One library from several files of one corner (ASAP7 ships its cells in several): the first
/// file's header, the table templates of the others it lacks, and every file's cells.
fn merge_libraries(files: &[(String, String)]) -> Result<String> {
    let mut parts = vec![];
    for (name, text) in files {
        let cells = first_cell(text).with_context(|| format!("{name}: no cell"))?;
        let end = text
            .rfind('}')
            .filter(|&e| e > cells)
            .with_context(|| format!("{name}: the library group is not closed"))?;
        parts.push((&text[..cells], &text[cells..end]));
    }
    let (header, _) = parts[0];
    let mut merged = header.to_string();
    let mut known: Vec<String> = TEMPLATE_KEYWORDS
        .iter()
        .flat_map(|k| groups(header, k).into_iter().map(|(n, _)| n.to_string()))
        .collect();
    for (h, _) in &parts[1..] {
        for k in TEMPLATE_KEYWORDS {
            for (n, g) in groups(h, k) {
                if !known.iter().any(|x| x == n) {
                    merged.push_str("  ");
                    merged.push_str(g);
                    merged.push('\n');
                    known.push(n.to_string());
                }
            }
        }
    }
    for (_, cells) in &parts {
        merged.push_str(cells);
    }
    merged.push_str("}\n");
    Ok(merged)
}

fn time_unit_ps(lib: &str) -> Option<f64> {
    let line = lib
        .lines()
        .find(|l| l.trim_start().starts_with("time_unit"))?;
    let unit = line.split('"').nth(1)?.trim();
    let (num, suffix) = unit.split_at(unit.find(|c: char| c.is_alphabetic())?);
    let n: f64 = if num.is_empty() {
        1.0
    } else {
        num.parse().ok()?
    };
    Some(
        n * match suffix {
            "ps" => 1.0,
            "ns" => 1000.0,
            "us" => 1.0e6,
            _ => return None,
        },
    )
}

/// `path` relative to `dir` where they share a root (`../cells.lib`), so that the scripts left
/// in an output directory still run after it moved into place.
fn relative(path: &Path, dir: &Path) -> String {
    let common = path
        .components()
        .zip(dir.components())
        .take_while(|(a, b)| a == b)
        .count();
    // Sharing only `/` is no common root: such a path stays absolute.
    if common == 0 || (path.has_root() && common == 1) {
        return path.display().to_string();
    }
    let mut rel = PathBuf::new();
    for _ in dir.components().skip(common) {
        rel.push("..");
    }
    rel.extend(path.components().skip(common));
    rel.display().to_string()
}

fn render(template: &str, fields: &[(&str, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in fields {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// Yosys results for one design.
#[derive(Clone, Debug, Default)]
pub struct Synthesis {
    /// Per module: own cell area (um^2) and the submodules it instantiates, with counts.
    pub modules: BTreeMap<String, (f64, BTreeMap<String, u64>)>,
    pub cells: u64,
    /// Buffers the fanout pass added.
    pub buffers: usize,
    /// Per module: the clock gates the gating pass added, and the flip-flops they serve.
    pub gated: BTreeMap<String, Gated>,
    pub netlist: PathBuf,
}

impl Synthesis {
    /// The clock gates of the design under `top`, every instance counted.
    pub fn gated_under(&self, top: &str) -> Gated {
        let mut g = Gated::default();
        for (m, own) in &self.gated {
            let n = self.instances_of(top, m) as usize;
            g.gates += n * own.gates;
            g.flops += n * own.flops;
        }
        g
    }

    /// How many instances of `module` the design under `top` holds.
    pub fn instances_of(&self, top: &str, module: &str) -> u64 {
        if top == module {
            return 1;
        }
        match self.modules.get(top) {
            Some((_, subs)) => subs
                .iter()
                .map(|(m, n)| n * self.instances_of(m, module))
                .sum(),
            None => 0,
        }
    }

    /// Area of `module` including everything below it.
    pub fn area_of(&self, module: &str) -> f64 {
        match self.modules.get(module) {
            Some((own, subs)) => {
                own + subs
                    .iter()
                    .map(|(m, n)| *n as f64 * self.area_of(m))
                    .sum::<f64>()
            }
            None => 0.0,
        }
    }
}

/// The generic netlist synth.ys writes, the gated one map.ys reads, the mapped netlist map.ys
/// writes, and the buffered one finish.ys reads.
const GENERIC_JSON: &str = "generic.json";
const GATED_JSON: &str = "gated.json";
const MAPPED_JSON: &str = "mapped.json";
const BUFFERED_JSON: &str = "buffered.json";

/// Whether a synthesis gates the clocks of its enabled flip-flops ([`clock_gating`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gating {
    /// Where the library has a clock-gating cell.
    Gated,
    /// Enables become multiplexers.
    None,
}

/// Maps `file` (top `top`) in `dir` to `lib` for a clock of `target_mhz`, flat but for the
/// modules `kept` (the memory stubs the SRAM model costs, the PE's lane), gating clocks where
/// `gating` asks and the library can, and buffers its nets of high fanout; writes `netlist.v`
/// and the `stat` report.
pub fn synthesize(
    dir: &Path,
    file: &str,
    top: &str,
    lib: &Library,
    target_mhz: f64,
    kept: &[String],
    gating: Gating,
) -> Result<Synthesis> {
    let keep = match kept {
        [] => String::new(),
        kept => format!("setattr -mod -set keep_hierarchy 1 {}", kept.join(" ")),
    };
    let script = render(
        SYNTH_TEMPLATE,
        &[
            ("KEEP", keep),
            ("VERILOG", file.to_string()),
            ("TOP", top.to_string()),
            ("LIBERTY", relative(&lib.path, dir)),
            ("GENERIC", GENERIC_JSON.into()),
        ],
    );
    std::fs::write(dir.join("synth.ys"), &script)?;
    tools::run("yosys", &["-q", "-l", "synth.log", "-s", "synth.ys"], dir)?;
    // The JSON netlists are large and only steps between the scripts.
    let mut netlist = take_json(&dir.join(GENERIC_JSON))?;
    // The library's cells come again from map.ys's read_liberty.
    if let Some(m) = netlist.get_mut("modules").and_then(|m| m.as_object_mut()) {
        m.retain(|_, m| m["attributes"].get("blackbox").is_none());
    }
    let gated = match (gating, &lib.cells.clock_gate) {
        (Gating::Gated, Some(gate)) => clock_gating::gate_netlist(&mut netlist, gate)?,
        _ => BTreeMap::new(),
    };
    std::fs::write(dir.join(GATED_JSON), serde_json::to_vec(&netlist)?)?;
    drop(netlist);
    let map = render(
        MAP_TEMPLATE,
        &[
            ("LIBERTY", relative(&lib.path, dir)),
            ("GATED", GATED_JSON.into()),
            ("TOP", top.to_string()),
            ("MAPPED", MAPPED_JSON.into()),
            ("DELAY_PS", format!("{:.0}", 1.0e6 / target_mhz)),
        ],
    );
    std::fs::write(dir.join("map.ys"), &map)?;
    tools::run("yosys", &["-q", "-l", "map.log", "-s", "map.ys"], dir)?;
    std::fs::remove_file(dir.join(GATED_JSON))?;
    let mut netlist = take_json(&dir.join(MAPPED_JSON))?;
    let buffers = fanout::buffer_netlist(&mut netlist, &lib.cells)?;
    std::fs::write(dir.join(BUFFERED_JSON), serde_json::to_vec(&netlist)?)?;
    let finish = render(
        FINISH_TEMPLATE,
        &[
            ("LIBERTY", relative(&lib.path, dir)),
            ("BUFFERED", BUFFERED_JSON.into()),
            ("TOP", top.to_string()),
            ("NETLIST", "netlist.v".into()),
            ("STAT", "synth_stat.txt".into()),
        ],
    );
    std::fs::write(dir.join("finish.ys"), &finish)?;
    tools::run("yosys", &["-q", "-l", "finish.log", "-s", "finish.ys"], dir)?;
    std::fs::remove_file(dir.join(BUFFERED_JSON))?;
    let stat = std::fs::read_to_string(dir.join("synth_stat.txt")).context("reading Yosys stat")?;
    let mut syn = parse_stat(&stat);
    syn.cells = tools::parse_cell_count(&stat).unwrap_or(0);
    syn.buffers = buffers;
    syn.gated = gated;
    syn.netlist = dir.join("netlist.v");
    Ok(syn)
}

/// Reads and deletes a JSON netlist Yosys wrote.
fn take_json(path: &Path) -> Result<serde_json::Value> {
    let bytes = std::fs::read(path)
        .with_context(|| format!("reading Yosys's JSON netlist {}", path.display()))?;
    std::fs::remove_file(path)?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("parsing Yosys's JSON netlist {}", path.display()))
}

/// Reads per-module areas and submodule counts from `stat -liberty` output.
fn parse_stat(stat: &str) -> Synthesis {
    let mut syn = Synthesis::default();
    let mut current: Option<String> = None;
    let names: Vec<String> = stat
        .lines()
        .filter_map(|l| {
            l.trim()
                .strip_prefix("=== ")
                .and_then(|r| r.strip_suffix(" ==="))
        })
        .map(str::to_string)
        .collect();
    for line in stat.lines() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix("=== ").and_then(|r| r.strip_suffix(" ===")) {
            current = (name != "design hierarchy").then(|| name.to_string());
            if let Some(c) = &current {
                syn.modules.entry(c.clone()).or_default();
            }
            continue;
        }
        let Some(c) = &current else { continue };
        if let Some(a) = t
            .strip_prefix("Chip area for module")
            .and_then(|r| r.split(':').nth(1))
        {
            syn.modules.get_mut(c).unwrap().0 = a.trim().parse().unwrap_or(0.0);
        } else {
            let mut parts = t.split_whitespace();
            if let (Some(cell), Some(n), None) = (parts.next(), parts.next(), parts.next()) {
                let cell = cell.trim_start_matches('\\');
                if names.iter().any(|m| m == cell) {
                    if let Ok(n) = n.parse::<u64>() {
                        syn.modules
                            .get_mut(c)
                            .unwrap()
                            .1
                            .insert(cell.to_string(), n);
                    }
                }
            }
        }
    }
    syn
}

/// Switching activity applied in OpenSTA: toggles per clock cycle.
#[derive(Clone, Copy, Debug)]
pub struct Activity {
    /// Mean toggle rate of the flip-flop outputs.
    pub registers: f64,
    /// Mean toggle rate of the primary inputs.
    pub inputs: f64,
    /// Every clock gate closed (a block at rest): the flip-flops behind them see no clock. This
    /// OpenSTA takes no activity on a clock pin, so a gate is either open (the clock's full rate)
    /// or closed (a constant, `set_case_analysis` on its output).
    pub gates_closed: bool,
}

/// OpenSTA's figures.
#[derive(Clone, Debug, Default)]
pub struct Timing {
    pub worst_slack_ps: f64,
    pub fmax_mhz: f64,
    pub critical_path: String,
    pub internal_mw: f64,
    pub switching_mw: f64,
    pub leakage_mw: f64,
    pub total_mw: f64,
    /// Total power (mW) per top-level instance (the first hierarchy level); cells of the top
    /// module itself count under `TOP_LEVEL`.
    pub blocks: BTreeMap<String, f64>,
}

/// The `Timing::blocks` key of the top module's own cells.
pub const TOP_LEVEL: &str = "(top level)";

/// Runs OpenSTA on the netlist at `target_mhz` with `activity`; its script and log are
/// `{stem}.tcl` and `{stem}.log`.
pub fn analyze(
    dir: &Path,
    syn: &Synthesis,
    top: &str,
    lib: &Library,
    target_mhz: f64,
    activity: Activity,
    stem: &str,
) -> Result<Timing> {
    let period_ps = 1.0e6 / target_mhz;
    let period_units = period_ps / lib.ps_per_unit;
    let sdc = render(
        SDC_TEMPLATE,
        &[
            ("PERIOD", format!("{period_units:.4}")),
            ("CLOCK_PORT", "clock".into()),
        ],
    );
    std::fs::write(dir.join("constraint.sdc"), &sdc)?;
    let script = render(
        STA_TEMPLATE,
        &[
            ("LIBERTY", relative(&lib.path, dir)),
            ("NETLIST", relative(&syn.netlist, dir)),
            ("TOP", top.to_string()),
            ("SDC", "constraint.sdc".into()),
            (
                "GATES",
                gate_case(activity, &lib.cells, !syn.gated.is_empty()),
            ),
            ("REG_ACTIVITY", format!("{:.6}", activity.registers)),
            ("IN_ACTIVITY", format!("{:.6}", activity.inputs)),
        ],
    );
    let tcl = format!("{stem}.tcl");
    std::fs::write(dir.join(&tcl), &script)?;
    let out = tools::run("sta", &["-no_init", "-exit", &tcl], dir)?;
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    std::fs::write(dir.join(format!("{stem}.log")), &text)?;
    parse_sta(&text, period_ps, lib.ps_per_unit)
}

/// The timing script's line that closes every clock gate, when `activity` says they are.
fn gate_case(activity: Activity, cells: &CellFacts, gated: bool) -> String {
    match (&cells.clock_gate, activity.gates_closed && gated) {
        (Some(g), true) => format!(
            "# At rest: every clock gate closed.\nset_case_analysis 0 [get_pins -hierarchical {}*/{}]",
            clock_gating::GATE_PREFIX,
            g.out_pin
        ),
        _ => "# Every clock gate open.".into(),
    }
}

fn parse_sta(text: &str, period_ps: f64, ps_per_unit: f64) -> Result<Timing> {
    let mut t = Timing::default();
    // The first `report_checks` path is the worst: "<value>   slack (MET|VIOLATED)".
    let slack = text
        .lines()
        .find(|l| l.contains("slack (MET)") || l.contains("slack (VIOLATED)"))
        .and_then(|l| l.split_whitespace().next())
        .context("OpenSTA printed no slack")?;
    t.worst_slack_ps = slack.parse::<f64>().context("slack value")? * ps_per_unit;
    t.fmax_mhz = 1.0e6 / (period_ps - t.worst_slack_ps);
    let start = text.find("Startpoint").unwrap_or(0);
    let end = text[start..]
        .find("slack (")
        .map(|e| start + e)
        .unwrap_or(start);
    let line_end = text[end..]
        .find('\n')
        .map(|e| end + e)
        .unwrap_or(text.len());
    t.critical_path = text[start..line_end].to_string();
    // A group's line of the power report, "Group   internal switching leakage total percent",
    // in watts.
    let group = |name: &str| -> Option<Vec<f64>> {
        let line = text.lines().find(|l| {
            l.split_whitespace().next() == Some(name) && l.split_whitespace().count() >= 5
        })?;
        Some(
            line.split_whitespace()
                .skip(1)
                .take(4)
                .map(|x| x.parse().unwrap_or(0.0))
                .collect(),
        )
    };
    let v = group("Total").context("OpenSTA printed no power total")?;
    let mw = |w: f64| w * 1e3;
    (t.internal_mw, t.switching_mw, t.leakage_mw, t.total_mw) =
        (mw(v[0]), mw(v[1]), mw(v[2]), mw(v[3]));
    // Per-instance lines: four numbers (internal, switching, leakage, total), then the name.
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 5 || !f[..4].iter().all(|x| x.parse::<f64>().is_ok()) {
            continue;
        }
        let total: f64 = f[3].parse().unwrap_or(0.0);
        let block = match f[4].split_once('/') {
            Some((first, _)) => first.to_string(),
            None => TOP_LEVEL.to_string(),
        };
        *t.blocks.entry(block).or_default() += mw(total);
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_libraries_keeping_one_header_and_every_cell() {
        let a = "library (a) {\n  time_unit : \"1ps\";\n  lu_table_template (t1) { index_1 (\"1\"); }\n  cell (X) { area : 1; }\n}\n";
        let b = "library (b) {\n  lu_table_template (t1) { index_1 (\"1\"); }\n  power_lut_template (t2) { index_1 (\"2\"); }\n  cell (Y) { pin (A) { } }\n  cell (Z) { area : 3; }\n}\n";
        let m = merge_libraries(&[("a".into(), a.into()), ("b".into(), b.into())]).unwrap();
        assert_eq!(m.matches("library (").count(), 1);
        assert_eq!(m.matches("lu_table_template (t1)").count(), 1);
        assert_eq!(m.matches("power_lut_template (t2)").count(), 1);
        for c in ["cell (X)", "cell (Y)", "cell (Z)"] {
            assert!(m.contains(c), "{c} missing:\n{m}");
        }
        assert_eq!(m.matches('{').count(), m.matches('}').count());
        assert!(merge_libraries(&[("c".into(), "library (c) { }".into())]).is_err());
    }

    #[test]
    fn sums_cell_power_per_block() {
        let log = "Sequential 0.5e-3 0.1e-3 0.1e-3 0.7e-3 20%\n\
                   Total 1.0e-3 2.0e-3 0.5e-3 3.5e-3 100%\n\
                   1.0e-3 1.0e-3 0.0 2.0e-3 lanes_0/_1_\n\
                   0.5e-3 0.5e-3 0.0 1.0e-3 lanes_0/acc/_2_\n\
                   0.2e-3 0.3e-3 0.0 0.5e-3 _7_\n\
                   Startpoint: x\n  1.00  2.00 ^ lanes_0/_1_/Y (INV_X1)\n\
                   100.0 slack (MET)\n";
        let t = parse_sta(log, 1000.0, 1.0).unwrap();
        assert!((t.total_mw - 3.5).abs() < 1e-9);
        assert!((t.blocks["lanes_0"] - 3.0).abs() < 1e-9);
        assert!((t.blocks[TOP_LEVEL] - 0.5).abs() < 1e-9);
        assert!((t.fmax_mhz - 1.0e6 / 900.0).abs() < 1e-6);
    }

    #[test]
    fn paths_are_relative_where_they_share_a_root() {
        let rel = |p: &str, d: &str| relative(Path::new(p), Path::new(d));
        assert_eq!(rel("/o/work/cells.lib", "/o/work/pe"), "../cells.lib");
        assert_eq!(rel("/o/work/pe/x.v", "/o/work/pe"), "x.v");
        assert_eq!(rel("lib/a.lib", "/o/work"), "lib/a.lib");
        assert_eq!(rel("/p/a.lib", "/o/work"), "/p/a.lib");
    }

    #[test]
    fn reads_time_units() {
        assert_eq!(time_unit_ps("  time_unit : \"1ps\";"), Some(1.0));
        assert_eq!(time_unit_ps("time_unit : \"1ns\" ;"), Some(1000.0));
        assert_eq!(time_unit_ps("nothing"), None);
    }

    #[test]
    fn composes_hierarchical_areas() {
        let stat = "=== top ===\n   Number of cells: 3\n     lane 2\n     INV_X1 1\n   Chip area for module '\\top': 1.5\n\n\
                    === lane ===\n   Number of cells: 1\n     NAND2_X1 1\n   Chip area for module '\\lane': 2.0\n\n=== design hierarchy ===\n";
        let s = parse_stat(stat);
        assert_eq!(s.area_of("lane"), 2.0);
        assert_eq!(s.area_of("top"), 5.5);
        assert_eq!(s.instances_of("top", "lane"), 2);
        assert_eq!(s.instances_of("top", "other"), 0);
    }
}
