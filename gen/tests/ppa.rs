//! `ntgen ppa`: the synthesis, timing and power flow with the real Yosys and OpenSTA, on the
//! embedded library always and on the NanGate libraries where ../shared/pdk has them.

mod common;

use common::{ntgen, root, scratch, small_config};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

fn pdk(rel: &str) -> Option<PathBuf> {
    let p = root().join("../shared/pdk").join(rel);
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

/// `ntgen ppa --json` on the small configuration with `args`, writing to `dir`: the report.
fn ppa_with(args: &[&str], dir: &Path) -> Value {
    let config = small_config();
    let mut all = vec!["ppa", "--config", config.to_str().unwrap()];
    all.extend(args);
    all.extend(["--json", "--out", dir.to_str().unwrap()]);
    let out = ntgen(&all);
    assert!(
        out.status.success(),
        "ntgen ppa failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON report on stdout")
}

/// `ntgen ppa` on the 2x2-tile small configuration with `lanes` lanes, the given blocks (empty:
/// all) and library.
fn ppa(lanes: usize, blocks: &str, liberty: &str, dir: &Path) -> Value {
    let lanes = format!("pe.lanes={lanes}");
    let mut args = vec!["--set", &lanes, "--liberty", liberty];
    if !blocks.is_empty() {
        args.extend(["--blocks", blocks]);
    }
    ppa_with(&args, dir)
}

fn num(v: &Value, key: &str) -> f64 {
    v[key]
        .as_f64()
        .unwrap_or_else(|| panic!("no number {key} in {v}"))
}

fn block<'a>(r: &'a Value, top: &str) -> &'a Value {
    r["blocks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["top"] == top)
        .unwrap_or_else(|| panic!("no block {top}"))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

#[test]
fn embedded_library_report_is_complete_and_consistent() {
    let dir = scratch("ppa_embedded");
    // Two runs of the same length on 4 tiles x 2 lanes, at 10% and at 50% utilization.
    let (cycles, macs) = (10_000u64, [8_000u64, 40_000]);
    let (read, written) = (100_000u64, 20_000u64);
    std::fs::create_dir_all(&dir).unwrap();
    let summaries: Vec<String> = macs
        .iter()
        .map(|m| {
            let f = dir.join(format!("summary_{m}.json"));
            // Every beat of the 2-lane PEs does two useful MACs.
            let phase = |c: u64, m: u64| {
                serde_json::json!({"cycles": c, "useful_macs": m, "mac_busy_cycles": m / 2,
                    "dram_bytes_read": read / 2, "dram_bytes_written": written / 2,
                    "noc_flits": 500})
            };
            let s = serde_json::json!({"network": format!("u{m}"), "tiles": 4, "lanes": 2,
                "totals": [phase(cycles / 2, m / 2), phase(cycles / 2, m / 2)]});
            std::fs::write(&f, s.to_string()).unwrap();
            f.to_str().unwrap().to_string()
        })
        .collect();
    let mut args = vec!["--set", "pe.lanes=2", "--liberty", "embedded"];
    args.extend(["--blocks", "pe,feeder,router,host"]);
    for s in &summaries {
        args.extend(["--network-summary", s.as_str()]);
    }
    let staged = dir.join("out");
    let r = ppa_with(&args, &staged);
    check_networks(&r, cycles, macs, read + written);
    // The feeder's and the routers' gates open with their traffic (named load conditions):
    // at the activity simulation's traffic they take less than with every gate open.
    for top in ["nt_pe_feeder", "nt_router_n2"] {
        let b = block(&r, top);
        let gates = &b["traffic_gates"];
        assert!(num(gates, "clock_mw") > 0.0, "{b}");
        assert!(num(gates, "sim_rate") > 0.0, "{b}");
        assert!(num(&gates["share"], "always_open") < 0.5, "{b}");
        assert!(num(b, "busy_power_mw") < num(b, "power_mw"), "{b}");
    }
    let dir = staged;
    assert_eq!(r["library"], "embedded nt15_typ");
    let tiles = r["tiles"].as_u64().unwrap() as f64;
    assert_eq!(tiles, 4.0);
    let (area, power, fmax) = (
        num(&r, "area_um2"),
        num(&r, "power_mw"),
        num(&r, "fmax_mhz"),
    );
    assert!(area > 1000.0 && power > 0.1 && fmax > 100.0, "{r}");
    let blocks = r["blocks"].as_array().unwrap();
    // On a 2x2 mesh every router has two neighbours: one class.
    assert_eq!(blocks.len(), 4, "--blocks pe,feeder,router,host");
    let instances = |top: &str| num(block(&r, top), "instances");
    assert_eq!(instances("nt_pe"), tiles);
    assert_eq!(instances("nt_router_n2"), tiles);
    assert_eq!(instances("nt_host_interface"), 1.0);
    // The module is every block instance; a tile its share; the slowest block sets the clock.
    let sum = |key: &str, tiles_only: bool| -> f64 {
        blocks
            .iter()
            .filter(|b| !tiles_only || b["top"] != "nt_host_interface")
            .map(|b| num(b, key) * num(b, "instances"))
            .sum()
    };
    assert!(close(area, sum("area_um2", false)) && close(power, sum("power_mw", false)));
    // Busy at the simulated rates, the gates that close save more than every gate costs open.
    assert!(close(num(&r, "busy_power_mw"), sum("busy_power_mw", false)));
    assert!(num(&r, "busy_power_mw") < power, "{r}");
    assert!(close(
        num(&r["tile"], "area_um2") * tiles,
        sum("area_um2", true)
    ));
    assert!(close(
        num(&r["tile"], "power_mw") * tiles,
        sum("power_mw", true)
    ));
    let slowest = blocks
        .iter()
        .map(|b| num(b, "fmax_mhz"))
        .fold(f64::INFINITY, f64::min);
    assert!(close(fmax, slowest));
    let clock = num(&r, "target_mhz").min(fmax);
    assert!(close(
        num(&r, "peak_gops"),
        2.0 * 2.0 * tiles * clock / 1000.0
    ));
    // The PE's parts add up to the PE.
    let pe = block(&r, "nt_pe");
    let parts = pe["parts"].as_array().unwrap();
    let part_area: f64 = parts.iter().map(|p| num(p, "area_um2")).sum();
    assert!(
        close(part_area, num(pe, "area_um2")),
        "PE parts {part_area} vs {}",
        num(pe, "area_um2")
    );
    assert!(
        num(pe, "sram_area_um2") > 0.0,
        "the operand buffer is costed as SRAM"
    );
    for f in [
        "ppa.json",
        "ppa.md",
        "ppa.svg",
        "work/pe/netlist.v",
        "work/nt_router_n2/sta.log",
        "openroad/config.mk",
        "openroad/constraint.sdc",
    ] {
        assert!(dir.join(f).exists(), "{f} missing");
    }
    // Every table row of the Markdown report starts its line.
    let md = std::fs::read_to_string(dir.join("ppa.md")).unwrap();
    assert!(
        md.lines()
            .all(|l| !l.trim_start().starts_with('|') || l.starts_with('|')),
        "{md}"
    );
    assert!(md.contains("\n| power at") && md.contains("gates open as in the activity"));
    let svg = std::fs::read_to_string(dir.join("ppa.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<rect"));
    wide_nets_are_buffered(&dir.join("work/feeder"), "nt_pe_feeder");
}

/// The networks' figures follow from the runs' cycles, MACs and bytes and the blocks' power:
/// the PEs are charged their idle power plus their busy excess (gates open as often as their
/// enables were high in the activity simulation) in proportion to utilization,
/// the memories their accesses (0.04 pJ a bit, the SRAM model's figure) by PE beat and DRAM byte.
fn check_networks(r: &Value, cycles: u64, macs: [u64; 2], bytes: u64) {
    let nets = r["networks"].as_array().unwrap();
    assert_eq!(nets.len(), 2);
    let clock_hz = num(r, "target_mhz").min(num(r, "fmax_mhz")) * 1e6;
    let pe = block(r, "nt_pe");
    // The networks are charged the PE's busy power with its gates open as often as their
    // enables were high: above its power at rest, below its power with every gate open.
    let (open, idle) = (num(pe, "power_mw"), num(pe, "idle_power_mw"));
    let busy = num(pe, "busy_power_mw");
    assert!(
        0.0 < idle && idle < busy && busy < open,
        "PE idle {idle} mW, busy {busy} mW, every gate open {open} mW"
    );
    let share = num(pe, "gates_open_share");
    assert!(0.0 < share && share < 1.0, "{pe}");
    let seconds = cycles as f64 / clock_hz;
    for (n, m) in nets.iter().zip(macs) {
        let ops = 2.0 * m as f64;
        assert!(close(num(n, "gops"), ops / seconds * 1e-9), "{n}");
        let logic_j = ops / (num(n, "logic_gops_per_w") * 1e9);
        let system_j = ops / (num(n, "system_gops_per_w") * 1e9);
        let dram_pj_per_bit = (system_j - logic_j) / (bytes as f64 * 8.0) * 1e12;
        assert!(
            (0.1..100.0).contains(&dram_pj_per_bit),
            "{dram_pj_per_bit} pJ/bit"
        );
        assert!(close(num(n, "logic_energy_uj"), logic_j * 1e6), "{n}");
        // The DRAM's share alone bounds the system figure.
        let bound = num(n, "dram_bound_gops_per_w");
        assert!(close(bound, ops / (system_j - logic_j) * 1e-9), "{n}");
        assert!(bound > num(n, "system_gops_per_w"), "{n}");
        assert!(
            close(num(n, "dram_bytes_per_mac"), bytes as f64 / m as f64),
            "{n}"
        );
        let rates = &r["memory_rates"];
        let bits = num(rates, "feeder_bits_per_busy_cycle") * (m / 2) as f64
            + num(rates, "bits_per_dram_byte") * bytes as f64;
        assert!(close(num(n, "sram_energy_uj"), bits * 0.04e-6), "{n}");
    }
    // A beat reads at least one 16-bit operand in each of the two lanes' buffers; DRAM data
    // pass through at least one queue or buffer.
    let rates = &r["memory_rates"];
    assert!(num(rates, "feeder_bits_per_busy_cycle") >= 32.0, "{rates}");
    assert!(num(rates, "bits_per_dram_byte") >= 8.0, "{rates}");
    // The extra energy of the busier run is the PEs' busy excess for 40% of the time.
    let energy = |i: usize| num(&nets[i], "logic_energy_uj") * 1e-6;
    let tiles = num(r, "tiles");
    let util = |m: u64| m as f64 / (tiles * 2.0 * cycles as f64);
    // Dynamic energy is charged per cycle of the target clock.
    let target_seconds = cycles as f64 / (num(r, "target_mhz") * 1e6);
    let sram = |i: usize| num(&nets[i], "sram_energy_uj") * 1e-6;
    let expected = tiles * (busy - idle) * 1e-3 * (util(macs[1]) - util(macs[0])) * target_seconds
        + sram(1)
        - sram(0);
    let extra = energy(1) - energy(0);
    assert!(
        (extra - expected).abs() <= 1e-3 * expected,
        "extra energy {extra} J, expected {expected} J"
    );
}

/// The largest number of cell input pins one net drives, in any module of a Yosys JSON netlist,
/// among nets driven by a cell and not reaching a clock pin.
fn widest_fanout(json: &Path) -> usize {
    let v: Value = serde_json::from_slice(&std::fs::read(json).unwrap()).unwrap();
    let mut widest = 0;
    for m in v["modules"].as_object().unwrap().values() {
        let Some(cells) = m["cells"].as_object() else {
            continue;
        };
        let mut loads = std::collections::HashMap::<u64, usize>::new();
        let mut driven = std::collections::HashSet::new();
        let mut clocks = std::collections::HashSet::new();
        for c in cells.values() {
            for (pin, bits) in c["connections"].as_object().unwrap() {
                for b in bits.as_array().unwrap().iter().filter_map(Value::as_u64) {
                    match c["port_directions"][pin.as_str()].as_str() {
                        Some("output") => {
                            driven.insert(b);
                        }
                        Some("input") if pin == "CLK" || pin == "C" => {
                            clocks.insert(b);
                        }
                        Some("input") => *loads.entry(b).or_default() += 1,
                        _ => {}
                    }
                }
            }
        }
        for (b, n) in loads {
            if driven.contains(&b) && !clocks.contains(&b) {
                widest = widest.max(n);
            }
        }
    }
    widest
}

/// The block's scripts run again where ntgen left them, and its netlist's wide nets were split
/// into buffer trees: Yosys's own synthesis has a net wider than that.
fn wide_nets_are_buffered(work: &Path, top: &str) {
    let yosys = |args: &[&str]| {
        let out = Command::new("yosys")
            .args(args)
            .current_dir(work)
            .output()
            .unwrap();
        assert!(out.status.success(), "yosys {args:?} in {}", work.display());
    };
    yosys(&["-q", "-s", "synth.ys"]);
    let script = format!(
        "read_liberty -lib ../cells.lib; read_verilog netlist.v; hierarchy -top {top}; \
         write_json final.json"
    );
    yosys(&["-q", "-p", &script]);
    let (mapped, buffered) = (
        widest_fanout(&work.join("generic.json")),
        widest_fanout(&work.join("final.json")),
    );
    const MAX_FANOUT: usize = 16;
    assert!(
        mapped > MAX_FANOUT,
        "the mapped netlist's widest net: {mapped}"
    );
    assert!(
        buffered <= MAX_FANOUT,
        "the buffered netlist's widest net: {buffered}"
    );
}

#[test]
fn embedded_library_is_within_20_percent_of_nangate15() {
    let Some(lib) = pdk("nangate15/NanGate_15nm_OCL_typical_conditional_nldm.lib") else {
        return;
    };
    let real = ppa(4, "", lib.to_str().unwrap(), &scratch("ppa_n15"));
    let ours = ppa(4, "", "embedded", &scratch("ppa_n15_embedded"));
    // Power with every gate open, and busy with the gates open as simulated (what the networks
    // are charged); the module's busy power sums every block's.
    let every = ["area_um2", "power_mw", "busy_power_mw"];
    let pairs = [
        (
            "PE",
            block(&real, "nt_pe"),
            block(&ours, "nt_pe"),
            &every[..],
        ),
        (
            "router",
            block(&real, "nt_router_n2"),
            block(&ours, "nt_router_n2"),
            &every[..],
        ),
        ("tile", &real["tile"], &ours["tile"], &every[..2]),
        ("module", &real, &ours, &every[2..]),
    ];
    for (what, a, b, keys) in pairs {
        for &key in keys {
            let (x, y) = (num(a, key), num(b, key));
            let err = (y - x).abs() / x;
            eprintln!(
                "{what} {key}: NanGate 15nm {x:.3}, embedded {y:.3}, error {:.1}%",
                100.0 * err
            );
            assert!(err < 0.20, "{what} {key}: embedded {y} vs NanGate 15nm {x}");
        }
    }
}

#[test]
fn gzipped_nanosecond_library_is_read_and_scaled() {
    let Some(lib) = pdk("nangate45/nangate45_typ.lib.gz") else {
        return;
    };
    let r = ppa(2, "pe", lib.to_str().unwrap(), &scratch("ppa_n45"));
    // 45nm is slower than 15nm but a registered 16-bit MAC pipeline still runs at hundreds of MHz:
    // a wrong time unit would be off by 1000x.
    let fmax = num(&r, "fmax_mhz");
    assert!((100.0..5000.0).contains(&fmax), "fmax {fmax} MHz");
    assert!(num(&r, "area_um2") > 5000.0);
}

#[test]
fn a_library_directory_is_read_as_one_library() {
    // ASAP7 comes as three files (simple gates, inverters and buffers, sequential cells).
    let Some(dir) = pdk("asap7") else {
        return;
    };
    let r = ppa(2, "pe", dir.to_str().unwrap(), &scratch("ppa_asap7"));
    assert!(
        r["library"].as_str().unwrap().contains("3 files"),
        "{}",
        r["library"]
    );
    // Picosecond units, like NanGate 15nm: a unit error would be off by 1000x.
    let fmax = num(&r, "fmax_mhz");
    assert!((100.0..20000.0).contains(&fmax), "fmax {fmax} MHz");
    assert!(num(&r, "area_um2") > 100.0);
    assert!(num(&r, "power_mw") > 0.0);
}

/// `ntgen ppa --config CONFIG ARGS` fails naming `named`, and leaves no output folder.
fn assert_ppa_fails(config: &Path, args: &[&str], scratch_name: &str, named: &str) {
    let dir = scratch(scratch_name);
    let mut all = vec!["ppa", "--config", config.to_str().unwrap()];
    all.extend(args);
    all.extend(["--out", dir.to_str().unwrap()]);
    let out = ntgen(&all);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains(named));
    assert!(!dir.exists());
}

#[test]
fn an_unknown_block_is_an_error_and_writes_nothing() {
    assert_ppa_fails(
        &small_config(),
        &["--blocks", "pe,cache"],
        "ppa_bad_block",
        "cache",
    );
}

#[test]
fn a_missing_library_is_an_error_and_writes_nothing() {
    assert_ppa_fails(
        &root().join("configs/default.toml"),
        &["--liberty", "/no/such.lib"],
        "ppa_missing",
        "/no/such.lib",
    );
}

#[test]
fn the_configuration_names_the_library_relative_to_itself() {
    let dir = scratch("ppa_config_liberty");
    std::fs::create_dir_all(dir.join("libs")).unwrap();
    let lib = dir.join("libs/mine.lib");
    assert!(ntgen(&["liberty", "--out", lib.to_str().unwrap()])
        .status
        .success());
    let small = std::fs::read_to_string(small_config()).unwrap();
    let run = |liberty: &str, out: &Path| {
        let config = dir.join(format!("{liberty}.toml").replace('/', "_"));
        std::fs::write(
            &config,
            format!("{small}\n[flow]\nliberty = \"{liberty}\"\n"),
        )
        .unwrap();
        // The configuration's key comes after $NT_LIBERTY: run without it.
        Command::new(env!("CARGO_BIN_EXE_ntgen"))
            .env_remove("NT_LIBERTY")
            .args(["ppa", "--config", config.to_str().unwrap()])
            .args(["--blocks", "host", "--json", "--out", out.to_str().unwrap()])
            .output()
            .unwrap()
    };
    let out = run("libs/mine.lib", &dir.join("good"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    let origin = r["library"].as_str().unwrap();
    assert_eq!(Path::new(origin), lib, "the library the report names");

    let out = run("libs/none.lib", &dir.join("bad"));
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("none.lib"));
    assert!(!dir.join("bad").exists());
}

/// The composition of separately synthesized blocks against the whole module synthesized as one
/// flat design (1x2 tiles, 2 lanes). Ignored by default: the flat synthesis takes about twelve
/// minutes; run it with `cargo test -p ntgen --test ppa -- --ignored`.
#[test]
#[ignore]
fn composition_is_close_to_a_flat_synthesis_of_the_module() {
    let r = ppa_with(
        &[
            "--set",
            "array.rows=1",
            "--set",
            "pe.lanes=2",
            "--liberty",
            "embedded",
            "--flat",
        ],
        &scratch("ppa_flat"),
    );
    let flat = &r["flat"];
    for (key, bound) in [
        ("area_error", 0.10),
        ("leakage_error", 0.10),
        ("fmax_error", 0.20),
    ] {
        let e = num(flat, key);
        eprintln!("composed against flat: {key} {:+.1}%", 100.0 * e);
        assert!(e.abs() < bound, "{key} {e}: {flat}");
    }
}

/// The PE's stage registers sit behind clock gates, which close at rest: its idle power is a
/// small part of its busy power, where without gates it is its flip-flops' clock, about 45
/// percent (`--no-clock-gating`, which takes ABC minutes longer and is left out here).
#[test]
fn clock_gates_stop_an_idle_pe() {
    let dir = scratch("ppa_gated");
    let r = ppa(2, "pe", "embedded", &dir);
    let pe = block(&r, "nt_pe");
    let share = num(pe, "idle_power_mw") / num(pe, "power_mw");
    eprintln!(
        "PE idle/busy: {share:.3} ({} gates over {} flip-flops)",
        pe["clock_gates"], pe["gated_flip_flops"]
    );
    // Two lanes of some 750 flip-flops in a handful of stage groups each.
    assert!(num(pe, "clock_gates") >= 2.0 * 4.0, "{pe}");
    assert!(num(pe, "gated_flip_flops") >= 2.0 * 600.0, "{pe}");
    assert!(share < 0.1, "the PE at rest: {pe}");
    let script = std::fs::read_to_string(dir.join("work/pe/sta_idle.tcl")).unwrap();
    assert!(script.contains("set_case_analysis 0"), "{script}");
}
