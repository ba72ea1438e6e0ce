//! `ntgen train` and `ntgen compile` end to end: networks trained in a simulation of the whole
//! module (Verilator when installed, else rust-hdl), every phase checked against the golden model
//! by the command itself; the two simulators agree on every figure.

mod common;

use common::{
    design_figures, ntgen, root, scratch, small_config, summary, text, verilator_missing,
};
use serde_json::Value;
use std::path::Path;
use std::process::Output;

fn small() -> String {
    small_config().display().to_string()
}

fn net(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/nets")
        .join(name)
        .display()
        .to_string()
}

fn train(net_file: &str, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--config",
        &small(),
        "--net",
        net_file,
        "--batch",
        "4",
        "--out",
        out.to_str().unwrap(),
    ]
    .into_iter()
    .map(String::from)
    .collect::<Vec<_>>();
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    ntgen(&refs)
}

/// Every phase ran, moved data and did work; utilization is a fraction.
fn assert_phases(s: &Value) {
    let phases: Vec<&str> = s["totals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["forward", "backward", "gradient", "update"]);
    for p in s["totals"].as_array().unwrap() {
        let u = p["utilization"].as_f64().unwrap();
        assert!(p["cycles"].as_u64().unwrap() > 0, "{p}");
        assert!(u > 0.0 && u <= 1.0, "{p}");
        assert!(p["dram_bytes_read"].as_u64().unwrap() > 0, "{p}");
        assert!(p["mac_busy_cycles"].as_u64().unwrap() > 0, "{p}");
    }
    assert!(s["checked_tensors"].as_u64().unwrap() > 0);
    // Each step's phases break down into their segments, in full.
    for step in s["steps"].as_array().unwrap() {
        for p in step["phases"].as_array().unwrap() {
            let segs = p["by_segment"].as_array().unwrap();
            assert_eq!(segs.len() as u64, p["segments"].as_u64().unwrap(), "{p}");
            for key in [
                "cycles",
                "useful_macs",
                "dram_bytes_read",
                "dram_bytes_written",
            ] {
                let sum: u64 = segs.iter().map(|g| g[key].as_u64().unwrap()).sum();
                assert_eq!(sum, p[key].as_u64().unwrap(), "{key} of {}", p["phase"]);
            }
            for g in segs {
                let u = g["utilization"].as_f64().unwrap();
                assert!((0.0..=1.0).contains(&u), "{g}");
                assert!(!g["segment"].as_str().unwrap().is_empty());
            }
        }
    }
}

#[test]
fn mlp_trains_bit_exactly_and_its_loss_falls() {
    let out = scratch("train_mlp");
    // One batch, trained on repeatedly: the loss of the same batch must fall.
    let r = train(
        &net("mlp_tiny.toml"),
        &out,
        &["--steps", "4", "--samples", "4", "--eta", "0.25"],
    );
    assert!(r.status.success(), "{}", text(&r));
    let s = summary(&out);
    assert_phases(&s);
    let loss: Vec<f64> = s["loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(loss.len(), 4);
    assert!(
        loss[3] < 0.8 * loss[0],
        "loss did not fall on a repeated batch: {loss:?}"
    );
    // The gathers moved data between tiles.
    assert!(s["totals"][0]["noc_flits"].as_u64().unwrap() > 0);
    for f in ["fc0_w.npy", "fc1_grad_w.npy", "fc1_delta.npy", "fc0_y.npy"] {
        assert!(out.join(f).exists(), "{f} missing");
    }
}

#[test]
fn rnn_trains_bit_exactly_through_time() {
    let out = scratch("train_rnn");
    let r = train(&net("rnn_tiny.toml"), &out, &["--steps", "1"]);
    assert!(r.status.success(), "{}", text(&r));
    let s = summary(&out);
    assert_phases(&s);
    assert!(text(&r).contains("every phase matched the golden model"));
}

/// A layer of 64 rows keeps a copy of its MAC weights for its backward product (the plan's map
/// has the region), and two steps train bit-exactly: the second step's backward reads the copy
/// the first step's update and exchange rewrote, and the command checks the copy in every
/// reader's vault after each update.
#[test]
fn a_backward_product_reads_the_mac_copy_the_update_keeps() {
    let r = ntgen(&[
        "compile",
        "--config",
        &small(),
        "--net",
        &net("fc_wide.toml"),
        "--batch",
        "4",
    ]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(text(&r).contains("fc1.wc"), "{}", text(&r));
    let out = scratch("train_fc_wide");
    let r = train(&net("fc_wide.toml"), &out, &["--steps", "2"]);
    assert!(r.status.success(), "{}", text(&r));
    assert!(text(&r).contains("every phase matched the golden model"));
    assert_phases(&summary(&out));
}

/// The emitted Verilog under Verilator and the rust-hdl model report the same cycles, counters
/// and loss for every phase of a training step.
#[test]
fn verilator_and_rust_hdl_report_the_same_training_step() {
    if verilator_missing("") {
        return;
    }
    let mut runs = vec![];
    for sim in ["verilator", "rust-hdl"] {
        let out = scratch(&format!("train_sim_{sim}"));
        let r = train(&net("mlp_tiny.toml"), &out, &["--steps", "1", "--sim", sim]);
        assert!(r.status.success(), "{sim}: {}", text(&r));
        let s = summary(&out);
        assert_eq!(s["simulator"], sim);
        runs.push(design_figures(s));
    }
    assert!(runs[0]["simulated_cycles"].as_u64().unwrap() > 0);
    assert_eq!(runs[0], runs[1], "Verilator and rust-hdl disagree");
}

/// Every network in examples/ trains one step bit-exactly on the emitted Verilog of the small
/// module (the CNNs at batch 1: their weight-gradient reductions must fit its 64-entry lane
/// buffers). scripts/run.sh trains them on the default module.
#[test]
fn every_example_trains_one_step_bit_exactly() {
    if verilator_missing(" (rust-hdl would take many minutes)") {
        return;
    }
    let mut names = vec![];
    for entry in std::fs::read_dir(root().join("examples")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let batch = if name.starts_with("cnn") { "1" } else { "4" };
        let out = scratch(&format!("train_example_{name}"));
        let r = ntgen(&[
            "train",
            "--config",
            &small(),
            "--net",
            path.to_str().unwrap(),
            "--batch",
            batch,
            "--steps",
            "1",
            "--sim",
            "verilator",
            "--out",
            out.to_str().unwrap(),
        ]);
        assert!(r.status.success(), "{name}: {}", text(&r));
        assert_phases(&summary(&out));
        names.push(name);
    }
    names.sort();
    assert_eq!(names, ["cnn", "cnn_rnn", "mlp", "rnn"]);
}

#[test]
fn a_corrupted_value_is_reported_with_tensor_index_and_values() {
    let out = scratch("train_corrupt");
    let r = train(
        &net("mlp_tiny.toml"),
        &out,
        &["--steps", "1", "--corrupt", "gradient"],
    );
    assert!(!r.status.success());
    let t = text(&r);
    assert!(
        t.contains("after the gradient phase") && t.contains("expected") && t.contains("simulated"),
        "{t}"
    );
    assert!(!out.exists(), "a failed run left {}", out.display());
}

#[test]
fn bad_networks_fail_naming_the_cause_without_output() {
    let dir = scratch("train_bad");
    std::fs::create_dir_all(&dir).unwrap();
    let cases = [
        ("syntax.toml", "name = \"x\"\ninput = [8\n", "syntax.toml"),
        (
            "unknown.toml",
            "name = \"x\"\ninput = [8]\n[[layer]]\ntype = \"lstm\"\n",
            "lstm",
        ),
        (
            // 100 inputs exceed configs/small.toml's 64-entry lane buffers.
            "wide.toml",
            "name = \"x\"\ninput = [100]\n[[layer]]\ntype = \"fc\"\nout = 4\nact = \"relu\"\n",
            "lane_buffer_depth",
        ),
    ];
    for (file, body, needle) in cases {
        let path = dir.join(file);
        std::fs::write(&path, body).unwrap();
        let out = dir.join(format!("{file}.out"));
        let r = train(path.to_str().unwrap(), &out, &["--steps", "1"]);
        assert!(!r.status.success(), "{file} was accepted");
        assert!(text(&r).contains(needle), "{file}: {}", text(&r));
        assert!(!out.exists(), "{file}: output left behind");
    }
    // Two 64 x 64 layers do not fit a vault of 16 rows (64 KiB).
    let path = dir.join("big.toml");
    let layer = "[[layer]]\ntype = \"fc\"\nout = 64\nact = \"relu\"\n";
    std::fs::write(&path, format!("name = \"x\"\ninput = [64]\n{layer}{layer}")).unwrap();
    let out = dir.join("big.out");
    let r = train(path.to_str().unwrap(), &out, &["--set", "dram.rows=16"]);
    assert!(!r.status.success());
    assert!(text(&r).contains("bytes per vault"), "{}", text(&r));
    assert!(!out.exists());
}

#[test]
fn compile_lists_the_plan_with_every_macs_of_the_network() {
    let r = ntgen(&[
        "compile",
        "--config",
        &root().join("configs/default.toml").display().to_string(),
        "--net",
        &root().join("examples/mlp.toml").display().to_string(),
        "--json",
    ]);
    assert!(r.status.success(), "{}", text(&r));
    let v: Value = serde_json::from_slice(&r.stdout).unwrap();
    let segs = v["segments"].as_array().unwrap();
    let macs = |phase: &str| -> u64 {
        segs.iter()
            .filter(|s| s["phase"] == phase)
            .map(|s| s["macs"].as_u64().unwrap())
            .sum()
    };
    // 64-32-10 at batch 16: forward 16 * (64*32 + 32*10); backward only for the second layer.
    assert_eq!(macs("forward"), 16 * (64 * 32 + 32 * 10));
    assert_eq!(macs("backward"), 16 * 32 * 10);
    assert_eq!(macs("gradient"), 16 * (64 * 32 + 32 * 10));
    assert_eq!(macs("update"), 64 * 32 + 32 + 32 * 10 + 10);
    assert!(segs.iter().any(|s| s["tiles_used"] == 16));
}

/// The benchmark networks (examples/bench/) compile on the default module at batch 16 with every
/// MAC of the network in the plan, and a weight gradient too long for one program is spread over
/// several segments (the Elman layer's), where bench_fc's layers take one each. bench_conv's
/// convolution takes every tile.
#[test]
fn benchmark_networks_compile_on_the_default_module() {
    let plan = |net: &str| -> Vec<Value> {
        let r = ntgen(&[
            "compile",
            "--config",
            &root().join("configs/default.toml").display().to_string(),
            "--net",
            &root().join(net).display().to_string(),
            "--batch",
            "16",
            "--json",
        ]);
        assert!(r.status.success(), "{net}: {}", text(&r));
        let v: Value = serde_json::from_slice(&r.stdout).unwrap();
        v["segments"].as_array().unwrap().clone()
    };
    let macs = |segs: &[Value], phase: &str| -> u64 {
        segs.iter()
            .filter(|s| s["phase"] == phase)
            .map(|s| s["macs"].as_u64().unwrap())
            .sum()
    };
    let fc = plan("examples/bench/fc.toml");
    assert_eq!(macs(&fc, "forward"), 16 * 2 * 256 * 256);
    assert_eq!(macs(&fc, "backward"), 16 * 256 * 256);
    assert_eq!(macs(&fc, "gradient"), 16 * 2 * 256 * 256);
    let gradient_segments =
        |segs: &[Value]| segs.iter().filter(|s| s["phase"] == "gradient").count();
    // A run takes several blocks of inputs: each layer's gradient fits one program.
    assert_eq!(gradient_segments(&fc), 2);
    let rnn = plan("examples/bench/rnn.toml");
    // So does the Elman layer's (terms = samples x steps), its errors read as they lie.
    assert_eq!(gradient_segments(&rnn), 2);
    // Four steps of 224 outputs over 32 + 224 terms, less the first step's recurrent terms
    // (h_0 = 0 adds nothing), then 16 outputs of 224.
    assert_eq!(
        macs(&rnn, "forward"),
        16 * (4 * 224 * 256 - 224 * 224 + 16 * 224)
    );
    // 256 channels of 28 x 3 x 3 terms over 4 x 4 output pixels, then 16 outputs of 256.
    let conv = plan("examples/bench/conv.toml");
    let conv_macs = 16 * 256 * 28 * 9 * 16;
    assert_eq!(macs(&conv, "forward"), conv_macs + 16 * 256 * 16);
    assert_eq!(macs(&conv, "gradient"), conv_macs + 16 * 256 * 16);
    assert!(conv
        .iter()
        .any(|s| s["phase"] == "forward" && s["macs"] == conv_macs && s["tiles_used"] == 16));
}
