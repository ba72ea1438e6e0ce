//! `ntgen ppa`: the synthesis, timing and power flow with the real Yosys and OpenSTA, on the
//! embedded library always and on the NanGate libraries where ../shared/pdk has them.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn pdk(rel: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/pdk")
        .join(rel);
    if p.exists() {
        Some(p)
    } else {
        eprintln!(
            "skipped: {} is not here (the cell libraries live in ../shared/pdk)",
            p.display()
        );
        None
    }
}

fn ppa(lanes: usize, liberty: &str, dir: &Path) -> Value {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/default.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_ntgen"))
        .args([
            "ppa",
            "--config",
            config.to_str().unwrap(),
            "--set",
            &format!("pe.lanes={lanes}"),
        ])
        .args([
            "--liberty",
            liberty,
            "--json",
            "--out",
            dir.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ntgen ppa failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report on stdout")
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

#[test]
fn embedded_library_report_is_complete_and_consistent() {
    let dir = scratch("ppa_embedded");
    let r = ppa(2, "embedded", &dir);
    assert_eq!(r["library"], "embedded nt15_typ");
    let (area, power, fmax) = (
        num(&r, "area_um2"),
        num(&r, "power_mw"),
        num(&r, "fmax_mhz"),
    );
    assert!(area > 1000.0 && power > 0.1 && fmax > 100.0, "{r}");
    let clock = num(&r, "target_mhz").min(fmax);
    assert!((num(&r, "peak_gops") - 2.0 * 2.0 * clock / 1000.0).abs() < 1e-6);
    let blocks = r["blocks"].as_array().unwrap();
    let block_area: f64 = blocks.iter().map(|b| num(b, "area_um2")).sum();
    assert!(
        (block_area - area).abs() < 1e-6 * area,
        "blocks {block_area} vs total {area}"
    );
    let block_power: f64 = blocks.iter().map(|b| num(b, "power_mw")).sum();
    assert!(
        (block_power - power).abs() < 0.01 * power,
        "blocks {block_power} vs total {power}"
    );
    assert!(r["networks"].is_array());
    for f in [
        "ppa.json",
        "ppa.md",
        "ppa.svg",
        "work/netlist.v",
        "work/sta.log",
        "openroad/config.mk",
        "openroad/constraint.sdc",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    let svg = std::fs::read_to_string(dir.join("ppa.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<rect"));
}

#[test]
fn embedded_library_is_within_20_percent_of_nangate15() {
    let Some(lib) = pdk("nangate15/NanGate_15nm_OCL_typical_conditional_nldm.lib") else {
        return;
    };
    let real = ppa(4, lib.to_str().unwrap(), &scratch("ppa_n15"));
    let ours = ppa(4, "embedded", &scratch("ppa_n15_embedded"));
    for key in ["area_um2", "power_mw"] {
        let (a, b) = (num(&real, key), num(&ours, key));
        let err = (b - a).abs() / a;
        eprintln!(
            "{key}: NanGate 15nm {a:.3}, embedded {b:.3}, error {:.1}%",
            100.0 * err
        );
        assert!(err < 0.20, "{key}: embedded {b} vs NanGate 15nm {a}");
    }
}

#[test]
fn gzipped_nanosecond_library_is_read_and_scaled() {
    let Some(lib) = pdk("nangate45/nangate45_typ.lib.gz") else {
        return;
    };
    let r = ppa(2, lib.to_str().unwrap(), &scratch("ppa_n45"));
    // 45nm is slower than 15nm but a registered 16-bit MAC pipeline still runs at hundreds of MHz:
    // a wrong time unit would be off by 1000x.
    let fmax = num(&r, "fmax_mhz");
    assert!((100.0..5000.0).contains(&fmax), "fmax {fmax} MHz");
    assert!(num(&r, "area_um2") > 5000.0);
}

#[test]
fn a_missing_library_is_an_error_and_writes_nothing() {
    let dir = scratch("ppa_missing");
    let out = Command::new(env!("CARGO_BIN_EXE_ntgen"))
        .args([
            "ppa",
            "--config",
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../configs/default.toml")
                .to_str()
                .unwrap(),
        ])
        .args(["--liberty", "/no/such.lib", "--out", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/no/such.lib"));
    assert!(!dir.exists());
}
