//! The `ntgen` command line, end to end, with the real EDA tools.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn ntgen(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ntgen"))
        .args(args)
        .output()
        .expect("ntgen runs")
}

fn configs() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs")
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn ok(out: &Output) {
    assert!(
        out.status.success(),
        "ntgen failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Emits the design with `lanes` lanes; with fewer than 16 on a 2x2 mesh, to keep tests short.
fn emit(lanes: usize, dir: &Path) -> PathBuf {
    let config = configs().join("default.toml");
    let side = if lanes < 16 { 2 } else { 4 };
    let out = ntgen(&[
        "verilog",
        "--config",
        config.to_str().unwrap(),
        "--set",
        &format!("pe.lanes={lanes}"),
        "--set",
        &format!("array.rows={side}"),
        "--set",
        &format!("array.cols={side}"),
        "--out",
        dir.to_str().unwrap(),
    ]);
    ok(&out);
    dir.join("nt_pe.v")
}

#[test]
fn verilog_is_byte_identical_across_runs() {
    let a = emit(4, &scratch("det_a"));
    let b = emit(4, &scratch("det_b"));
    let (ta, tb) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(ta.len() > 10_000);
    assert_eq!(ta, tb, "two runs emitted different Verilog");
    let text = String::from_utf8(ta).unwrap();
    assert!(text.contains("module nt_pe("), "top module name");
    assert!(
        !text.contains('$'),
        "rust-hdl's `$` separators must be gone"
    );
}

fn tool(dir: &Path, prog: &str, args: &[&str]) -> Output {
    Command::new(prog)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{prog} not runnable ({e}); run scripts/setup.sh"))
}

/// Every emitted top module: (file, top), from the directory `ntgen verilog` wrote.
fn emitted(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "v"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let top = p.file_stem().unwrap().to_string_lossy().to_string();
            (p, top)
        })
        .collect()
}

#[test]
fn verilog_passes_verilator_icarus_and_yosys_checks() {
    // Every block at 4 lanes; the PE again at the default 16 (the other blocks have no lanes).
    for lanes in [4, 16] {
        let dir = scratch(&format!("tools_{lanes}"));
        emit(lanes, &dir);
        let files = emitted(&dir);
        assert!(
            files.len() >= 3,
            "expected the PE, vault controller and data-flow engine: {files:?}"
        );
        for (v, top) in files.iter().filter(|(_, t)| lanes == 4 || t == "nt_pe") {
            let f = v.to_str().unwrap();
            let lint = tool(
                &dir,
                "verilator",
                &["--lint-only", "-Wall", "--top-module", top, f],
            );
            let msgs = String::from_utf8_lossy(&lint.stderr);
            assert!(
                lint.status.success() && !msgs.contains("%Warning"),
                "verilator -Wall on {top}:\n{msgs}"
            );
            let iv = tool(&dir, "iverilog", &["-g2012", "-o", "sim.vvp", "-s", top, f]);
            assert!(
                iv.status.success(),
                "iverilog on {top}:\n{}",
                String::from_utf8_lossy(&iv.stderr)
            );
            // The module is its blocks (each synthesized in full here) plus wiring: elaborating
            // and checking it is enough, and a full synthesis of it takes minutes.
            let script = if top == "nt_module" {
                format!("read_verilog {f}; hierarchy -top {top}; proc; opt_clean; check -assert")
            } else {
                format!("read_verilog {f}; synth -top {top}; check -assert; stat")
            };
            let ys = tool(&dir, "yosys", &["-q", "-p", &script]);
            assert!(
                ys.status.success(),
                "yosys check -assert on {top}:\n{}",
                String::from_utf8_lossy(&ys.stderr)
            );
        }
    }
}

#[test]
fn bad_configurations_are_rejected_before_anything_is_written() {
    let dir = scratch("bad_cfg");
    std::fs::create_dir_all(&dir).unwrap();
    let cases: &[(&str, &str)] = &[
        ("[pe]\nlanes = 12\n", "pe.lanes"),
        ("[format]\nfrac_bits = 20\n", "format.frac_bits"),
        ("[array]\nrows = 0\n", "array.rows"),
        ("[pe]\nlanez = 4\n", "lanez"),
        ("[pe\nlanes = 4\n", "TOML"),
    ];
    for (i, (text, field)) in cases.iter().enumerate() {
        let cfg = dir.join(format!("bad{i}.toml"));
        std::fs::write(&cfg, text).unwrap();
        let out_dir = dir.join(format!("out{i}"));
        let out = ntgen(&[
            "verilog",
            "--config",
            cfg.to_str().unwrap(),
            "--out",
            out_dir.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "accepted {text:?}");
        assert!(
            err.contains(field),
            "error for {text:?} does not name {field}: {err}"
        );
        assert!(!out_dir.exists(), "output written for a bad configuration");
    }
    let missing = ntgen(&[
        "verilog",
        "--config",
        "/nonexistent.toml",
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent.toml"));
    let bad_override = ntgen(&[
        "verilog",
        "--set",
        "pe.lanes=3",
        "--out",
        dir.join("o").to_str().unwrap(),
    ]);
    assert!(!bad_override.status.success());
    assert!(!dir.join("o").exists());
}

#[test]
fn main_job_on_a_small_configuration_reports_every_phase() {
    let dir = scratch("run_small");
    let config = configs().join("small.toml");
    let out = ntgen(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--vcd",
    ]);
    ok(&out);
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("report.json")).unwrap()).unwrap();
    let phases = report["pe_training_step"]["phases"].as_array().unwrap();
    let names: Vec<&str> = phases
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["forward", "backward", "weight_gradient", "weight_update"]
    );
    for p in phases {
        assert!(p["cycles"].as_u64().unwrap() > 0);
        let u = p["utilization"].as_f64().unwrap();
        assert!(u > 0.0 && u <= 1.0, "utilization {u}");
    }
    assert_eq!(report["eda"]["verilator_warnings"], 0);
    assert!(report["eda"]["pe_generic_cells"].as_u64().unwrap() > 1000);
    assert!(dir.join("verilog/nt_pe.v").exists());
    assert!(dir.join("waves/pe_forward.vcd").exists());
}

#[test]
fn pe_benchmark_reports_both_simulators() {
    let config = configs().join("small.toml");
    let out = ntgen(&[
        "bench",
        "pe",
        "--config",
        config.to_str().unwrap(),
        "--json",
    ]);
    ok(&out);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["lanes"], 4);
    assert!(r["cycles"].as_f64().unwrap() > 100.0);
    assert!(r["rust_hdl_cycles_per_s"].as_f64().unwrap() > 0.0);
    assert!(r["icarus_cycles_per_s_with_compile"].as_f64().unwrap() > 0.0);
}
