//! The external EDA tools: found on PATH, run with their output kept, failures explained.

use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Command, Output};

/// Hint printed when a tool is missing.
const INSTALL_HINT: &str =
    "run scripts/setup.sh (installs Yosys, Icarus Verilog, Verilator and OpenSTA)";

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null 2>&1")])
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs `tool args` in `dir`; an error carries the tool's own output.
pub fn run(tool: &str, args: &[&str], dir: &Path) -> Result<Output> {
    if !have(tool) {
        bail!("`{tool}` is not installed: {INSTALL_HINT}");
    }
    let out = Command::new(tool)
        .args(args)
        .current_dir(dir)
        .output()
        .with_context(|| format!("cannot start {tool}"))?;
    if !out.status.success() {
        bail!(
            "{tool} {} failed:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n"),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(out)
}

/// `verilator --lint-only -Wall`: Ok with the warning count (zero when clean).
pub fn verilator_lint(dir: &Path, file: &str, top: &str) -> Result<usize> {
    let out = run(
        "verilator",
        &["--lint-only", "-Wall", "--top-module", top, file],
        dir,
    )?;
    let text = String::from_utf8_lossy(&out.stderr);
    Ok(text.lines().filter(|l| l.starts_with("%Warning")).count())
}

/// Generic Yosys synthesis (hierarchy kept: each distinct module once) with `check -assert`;
/// returns the whole design's cell count from `stat`.
pub fn yosys_generic_cells(dir: &Path, file: &str, top: &str, log: &str) -> Result<u64> {
    let script = format!("read_verilog {file}; synth -top {top}; check -assert; tee -o {log} stat");
    run("yosys", &["-q", "-p", &script], dir)?;
    let stat = std::fs::read_to_string(dir.join(log)).context("reading Yosys stat")?;
    parse_cell_count(&stat).context("no cell count in Yosys stat output")
}

/// The `Number of cells:` figure of a Yosys `stat` report (the last one: the top module's).
pub fn parse_cell_count(stat: &str) -> Option<u64> {
    stat.lines()
        .filter_map(|l| l.trim().strip_prefix("Number of cells:"))
        .filter_map(|v| v.trim().parse().ok())
        .next_back()
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_yosys_stat() {
        let stat = "=== top ===\n\n   Number of wires:  10\n   Number of cells:  1234\n";
        assert_eq!(super::parse_cell_count(stat), Some(1234));
        assert_eq!(super::parse_cell_count("nothing"), None);
    }
}
