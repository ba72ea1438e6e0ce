//! Helpers shared by the `ntgen` end-to-end tests.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Runs `ntgen`. Verilator builds go to a cache under the build directory, shared by every test
/// of this run (the first test of a configuration builds, the others wait for it).
pub fn ntgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ntgen"))
        .args(args)
        .env(
            "NT_CACHE_DIR",
            Path::new(env!("CARGO_TARGET_TMPDIR")).join("ntcache"),
        )
        .output()
        .expect("ntgen runs")
}

/// True, saying the test is skipped and `why`, when Verilator is not installed.
pub fn verilator_missing(why: &str) -> bool {
    let missing = !nt_testbench::module_cosim::verilator_available();
    if missing {
        println!("SKIPPED: verilator is not on PATH{why}");
    }
    missing
}

/// The project's root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// configs/small.toml (2x2 tiles, 4 lanes).
pub fn small_config() -> PathBuf {
    root().join("configs/small.toml")
}

/// An empty scratch directory under the build directory (not created).
pub fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// A command's standard output and error.
pub fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The summary.json of a training run.
pub fn summary(out: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// A summary without what depends on the simulator rather than on the design: its name and its
/// speed. Two simulators of the same design must agree on the rest.
pub fn design_figures(mut summary: Value) -> Value {
    let o = summary.as_object_mut().expect("summary is an object");
    for k in [
        "simulator",
        "simulation_seconds",
        "simulation_cycles_per_second",
    ] {
        o.remove(k);
    }
    summary
}
