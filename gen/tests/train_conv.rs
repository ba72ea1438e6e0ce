//! `ntgen train` end to end on convolution and max pooling: a network compiled for the module,
//! one training step simulated (Verilator when installed, else rust-hdl), every phase's tensors
//! checked against the golden model by the command itself.
//!
//! Shapes are tiny on purpose: without Verilator the whole module simulates a few hundred cycles
//! per second.

mod common;

use common::{design_figures, ntgen, scratch, small_config, summary, verilator_missing};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Writes `net` into a scratch directory and trains it for one step on configs/small.toml;
/// returns the command's output and the output directory it was given.
fn train(name: &str, net: &str, batch: usize) -> (Output, PathBuf) {
    train_on(name, net, batch, "auto", &[])
}

/// [`train`] on the simulator `sim` (auto, verilator or rust-hdl), with the configuration keys
/// `sets` (`section.key=value`) overridden.
fn train_on(name: &str, net: &str, batch: usize, sim: &str, sets: &[&str]) -> (Output, PathBuf) {
    let dir = scratch(name);
    let out_dir = dir.join("out");
    let args = [
        "--steps",
        "1",
        "--sim",
        sim,
        "--out",
        out_dir.to_str().unwrap(),
    ];
    (
        on_small(("train", &args), &dir, (net, batch), sets),
        out_dir,
    )
}

/// Runs `ntgen CMD --config configs/small.toml --net NET --batch BATCH ARGS` with `sets`
/// overridden, `net` written into `dir`.
fn on_small(
    (cmd, args): (&str, &[&str]),
    dir: &Path,
    (net, batch): (&str, usize),
    sets: &[&str],
) -> Output {
    std::fs::create_dir_all(dir).unwrap();
    let net_file = dir.join("net.toml");
    std::fs::write(&net_file, net).unwrap();
    let batch = batch.to_string();
    let config = small_config();
    let mut all = vec![
        cmd,
        "--config",
        config.to_str().unwrap(),
        "--net",
        net_file.to_str().unwrap(),
        "--batch",
        &batch,
    ];
    all.extend(args);
    for set in sets {
        all.extend(["--set", set]);
    }
    ntgen(&all)
}

/// A reuse buffer that holds two of CONV_POOL_FC's padded input maps (2 x 9 x 9 entries), so
/// that its convolution reads its windows out of the buffer (configs/small.toml's 16 entries
/// hold none).
const WINDOWS: &str = "pe.operand_buffer_depth=512";

/// Whether the plan of `net` at `batch` on configs/small.toml with `sets` fills the reuse buffer
/// with input maps for a window compute.
fn plan_reads_windows(net: &str, batch: usize, sets: &[&str]) -> bool {
    let dir = scratch("plan_windows");
    let plan = on_small(("compile", &["--nests"]), &dir, (net, batch), sets);
    assert!(plan.status.success());
    String::from_utf8_lossy(&plan.stdout).contains("the input maps into the reuse buffer")
}

/// The run succeeded, says every phase matched, and its summary lists the four phases with work
/// in each and the tensors checked.
fn assert_trained_bit_exactly(out: &Output, out_dir: &Path, min_checked: u64) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ntgen train failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("every phase matched the golden model"),
        "{stdout}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out_dir.join("summary.json")).unwrap())
            .unwrap();
    let phases = summary["steps"][0]["phases"].as_array().unwrap();
    let names: Vec<&str> = phases
        .iter()
        .map(|p| p["phase"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["forward", "backward", "gradient", "update"]);
    for p in phases {
        assert!(p["cycles"].as_u64().unwrap() > 0, "{p}");
        assert!(p["useful_macs"].as_u64().unwrap() > 0, "{p}");
    }
    let checked = summary["checked_tensors"].as_u64().unwrap();
    assert!(checked >= min_checked, "only {checked} tensors checked");
}

/// Stride 2 and padding 1 on a 7x7 image: (7 + 2 - 3) / 2 + 1 = 4 output rows, pooled to 2.
const CONV_POOL_FC: &str = r#"
name = "conv_pool_fc"
input = [2, 7, 7]
[[layer]]
type = "conv"
out_channels = 3
kernel = 3
stride = 2
padding = 1
act = "relu"
[[layer]]
type = "maxpool"
[[layer]]
type = "fc"
out = 2
act = "identity"
"#;

/// Conv, pool, then an rnn reading the [2, 2, 2] map as 2 steps of 4 features.
const CONV_POOL_RNN_FC: &str = r#"
name = "conv_pool_rnn_fc"
input = [1, 4, 4]
[[layer]]
type = "conv"
out_channels = 2
kernel = 3
padding = 1
act = "relu"
[[layer]]
type = "maxpool"
[[layer]]
type = "rnn"
hidden = 3
steps = 2
[[layer]]
type = "fc"
out = 2
act = "identity"
"#;

/// Two convolutions: the second computes the error at its input (a transposed convolution).
const CONV_CONV_POOL_FC: &str = r#"
name = "conv_conv_pool_fc"
input = [1, 4, 4]
[[layer]]
type = "conv"
out_channels = 2
kernel = 3
padding = 1
act = "tanh"
[[layer]]
type = "conv"
out_channels = 2
kernel = 3
padding = 1
act = "relu"
[[layer]]
type = "maxpool"
[[layer]]
type = "fc"
out = 2
act = "identity"
"#;

/// 64 channels of 4x4: the convolution's error map takes 2,048 bytes a sample, eight DRAM rows,
/// so that consecutive samples would start in banks 0 and 8 by turns.
const CONV_WIDE_POOL_FC: &str = r#"
name = "conv_wide_pool_fc"
input = [7, 4, 4]
[[layer]]
type = "conv"
out_channels = 64
kernel = 3
padding = 1
act = "relu"
[[layer]]
type = "maxpool"
[[layer]]
type = "maxpool"
[[layer]]
type = "fc"
out = 2
act = "identity"
"#;

#[test]
fn conv_pool_fc_trains_one_step_bit_exactly() {
    let (out, dir) = train("train_conv_pool_fc", CONV_POOL_FC, 2);
    // conv y, delta, grad_w, grad_b, new_w, new_mac_w, new_b; pool y, delta; the fc's.
    assert_trained_bit_exactly(&out, &dir, 14);
}

/// The convolution's forward reads its windows out of the input maps in the reuse buffer, three
/// samples taking turns in its two halves, and trains as the golden model does.
#[test]
fn a_convolution_with_its_maps_in_the_reuse_buffer_trains_bit_exactly() {
    assert!(!plan_reads_windows(CONV_POOL_FC, 3, &[]));
    assert!(plan_reads_windows(CONV_POOL_FC, 3, &[WINDOWS]));
    // One channel and one sample: the gradient's and the forward's single map would not hide
    // their fill, and stream.
    let one_map = CONV_POOL_FC.replace("[2, 7, 7]", "[1, 7, 7]");
    assert!(!plan_reads_windows(&one_map, 1, &[WINDOWS]));
    let (out, dir) = train_on("train_conv_windows", CONV_POOL_FC, 3, "auto", &[WINDOWS]);
    assert_trained_bit_exactly(&out, &dir, 14);
}

/// The emitted Verilog under Verilator and the rust-hdl model agree on every cycle count and
/// counter of a CNN's training step (the DRAM contents they leave match the golden model in both).
#[test]
fn verilator_and_rust_hdl_report_the_same_cnn_step() {
    if verilator_missing("") {
        return;
    }
    let mut runs = vec![];
    for sim in ["verilator", "rust-hdl"] {
        // With the convolution's windows read out of the reuse buffer: two samples, so that the
        // forward has two maps to read windows from (the gradient has the two channels').
        let (out, dir) = train_on(
            &format!("train_cnn_{sim}"),
            CONV_POOL_FC,
            2,
            sim,
            &[WINDOWS],
        );
        assert_trained_bit_exactly(&out, &dir, 14);
        runs.push(design_figures(summary(&dir)));
    }
    assert_eq!(runs[0], runs[1], "Verilator and rust-hdl disagree");
}

#[test]
fn conv_pool_rnn_fc_trains_one_step_bit_exactly() {
    let (out, dir) = train("train_conv_pool_rnn_fc", CONV_POOL_RNN_FC, 2);
    assert_trained_bit_exactly(&out, &dir, 22);
}

#[test]
fn conv_conv_pool_fc_trains_one_step_bit_exactly() {
    // Batch 1: the longest of these nets, kept short.
    let (out, dir) = train("train_conv_conv_pool_fc", CONV_CONV_POOL_FC, 1);
    // Seven tensors per conv, the pool's two, the fc's seven.
    assert_trained_bit_exactly(&out, &dir, 20);
}

/// A map whose samples span several DRAM rows is laid out with a longer stride, so that the
/// weight gradient's walk over the samples meets other banks; every reader and writer follows.
#[test]
fn samples_staggered_over_the_banks_train_bit_exactly() {
    let batch = 4;
    let dir = scratch("train_conv_staggered");
    std::fs::create_dir_all(&dir).unwrap();
    let net = dir.join("net.toml");
    std::fs::write(&net, CONV_WIDE_POOL_FC).unwrap();
    let plan = ntgen(&[
        "compile",
        "--config",
        small_config().to_str().unwrap(),
        "--net",
        net.to_str().unwrap(),
        "--batch",
        &batch.to_string(),
    ]);
    assert!(plan.status.success());
    let text = String::from_utf8_lossy(&plan.stdout);
    let bytes: u64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("conv0.d "))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|b| b.parse().ok())
        .unwrap_or_else(|| panic!("no conv0.d region in\n{text}"));
    assert!(bytes > batch as u64 * 2048, "conv0.d: {bytes} bytes");
    let (out, dir) = train("train_conv_staggered_run", CONV_WIDE_POOL_FC, batch);
    assert_trained_bit_exactly(&out, &dir, 16);
}

#[test]
fn conv_reduction_beyond_the_lane_buffer_is_rejected_without_output() {
    // 8x8 outputs x batch 2 = 128 gradient terms; configs/small.toml holds 64 per lane.
    let net = CONV_POOL_FC
        .replace("[2, 7, 7]", "[1, 8, 8]")
        .replace("stride = 2", "stride = 1");
    let (out, dir) = train("train_conv_too_long", &net, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "accepted a reduction longer than the lane buffer"
    );
    assert!(
        err.contains(
            "layer 0 (conv): a gradient reduction (batch x output pixels) of 128 terms does not fit pe.lane_buffer_depth = 64"
        ),
        "{err}"
    );
    assert!(
        !dir.exists(),
        "output written for a network that does not compile"
    );
    // A strided convolution after a trainable layer would need a dilated error map.
    let net = CONV_CONV_POOL_FC.replacen(
        "padding = 1\nact = \"relu\"",
        "stride = 2\npadding = 1\nact = \"relu\"",
        1,
    );
    let (out, dir) = train("train_conv_strided_input_error", &net, 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success(),
        "accepted a strided transposed convolution"
    );
    assert!(
        err.contains(
            "layer 1 (conv): the error at a convolution's input (a transposed convolution) is compiled for stride 1 only, got stride 2"
        ),
        "{err}"
    );
    assert!(!dir.exists());
}
