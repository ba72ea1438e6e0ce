//! One training step of a fully connected layer on a single processing engine: forward,
//! backward, weight gradient and weight update, each checked against the golden model.
//!
//! The layer has `lanes` outputs (one per lane), `inputs` inputs and a mini-batch of `batch`
//! samples; the output error is the mean-squared-error error against random targets. This is the
//! PE-level workload of the main job; whole networks over the tile array build on it.

use crate::golden::{Activation, Fixed16};
use crate::pe_driver::{self, Job};
use crate::sim::Toggles;
use anyhow::{bail, Result};
use nt_hdl::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::path::Path;

/// Shape of the step.
#[derive(Clone, Copy, Debug)]
pub struct StepShape {
    pub inputs: usize,
    pub batch: usize,
}

impl Default for StepShape {
    fn default() -> Self {
        StepShape {
            inputs: 64,
            batch: 16,
        }
    }
}

/// Figures of one phase as simulated.
#[derive(Clone, Debug, Serialize)]
pub struct PhaseReport {
    pub phase: String,
    pub cycles: u64,
    pub results: usize,
    pub useful_macs: u64,
    /// useful MACs / (lanes x cycles)
    pub utilization: f64,
    pub saturation_events: u64,
}

/// The jobs of each phase, built from random data with the golden model supplying what the host
/// or the previous phase would (targets, output errors).
pub fn build(config: &Config, shape: StepShape, seed: u64) -> Result<Vec<(String, Vec<Job>, u64)>> {
    let lanes = config.pe.lanes;
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let one = q.one() as i32;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let (n_in, batch) = (shape.inputs, shape.batch);
    if n_in == 0 || batch == 0 || n_in > config.pe.operand_buffer_depth {
        bail!(
            "step shape: inputs must be 1..={} (the operand buffer), batch at least 1",
            config.pe.operand_buffer_depth
        );
    }
    // Master weights with G fraction bits, about +-0.25; inputs in [0, 1) (outputs of a ReLU).
    let g_one = 1i64 << config.format.grad_frac_bits;
    let master: Vec<Vec<i32>> = (0..lanes)
        .map(|_| {
            (0..n_in)
                .map(|_| rng.gen_range(-(g_one / 4)..(g_one / 4)) as i32)
                .collect()
        })
        .collect();
    let bias: Vec<i32> = (0..lanes)
        .map(|_| rng.gen_range(-(g_one / 8)..(g_one / 8)) as i32)
        .collect();
    let w: Vec<Vec<i16>> = master
        .iter()
        .map(|r| r.iter().map(|&m| q.mac_weight(m).0).collect())
        .collect();
    let x: Vec<Vec<i16>> = (0..batch)
        .map(|_| (0..n_in).map(|_| rng.gen_range(0..one) as i16).collect())
        .collect();
    let target: Vec<Vec<i16>> = (0..batch)
        .map(|_| (0..lanes).map(|_| rng.gen_range(0..one) as i16).collect())
        .collect();
    let act = Activation::Sigmoid;

    let forward: Vec<Job> = x
        .iter()
        .map(|xb| Job::Forward {
            act,
            x: xb.clone(),
            w: w.clone(),
            bias: bias.clone(),
            from_buffer: false,
        })
        .collect();
    // Output errors from the golden forward results (the RTL's are checked equal to them).
    let mut delta = vec![vec![0i16; lanes]; batch];
    for b in 0..batch {
        for j in 0..lanes {
            let acc = q.bias_to_acc(bias[j])
                + (0..n_in)
                    .map(|k| Fixed16::mul(w[j][k], x[b][k]))
                    .sum::<i64>();
            let y = q.activate(act, q.requant(acc).0);
            let (d, _) = q.derivative(act, y);
            delta[b][j] = q.output_error(y, target[b][j], d).0;
        }
    }
    // Backward: errors of the layer's inputs (as outputs of a ReLU layer), `lanes` at a time.
    let mut backward = vec![];
    for b in 0..batch {
        for group in (0..n_in).step_by(lanes) {
            let idx: Vec<usize> = (group..group + lanes).map(|i| i.min(n_in - 1)).collect();
            backward.push(Job::Backward {
                act: Activation::Relu,
                delta: delta[b].clone(),
                wt: idx
                    .iter()
                    .map(|&i| (0..lanes).map(|k| w[k][i]).collect())
                    .collect(),
                y_prev: idx.iter().map(|&i| x[b][i]).collect(),
            });
        }
    }
    // Weight gradient: per input i, lane j accumulates delta[b][j] * x[b][i] over the batch.
    let gradient: Vec<Job> = (0..n_in)
        .map(|i| Job::Gradient {
            x: (0..batch).map(|b| x[b][i]).collect(),
            delta: (0..lanes)
                .map(|j| (0..batch).map(|b| delta[b][j]).collect())
                .collect(),
        })
        .collect();
    let grads: Vec<Vec<i32>> = (0..n_in)
        .map(|i| {
            (0..lanes)
                .map(|j| {
                    q.grad_align((0..batch).map(|b| Fixed16::mul(delta[b][j], x[b][i])).sum())
                        .0
                })
                .collect()
        })
        .collect();
    let update = vec![
        Job::Seed { seed: rng.gen() },
        Job::Update {
            eta: (0.01 * 65536.0) as u16,
            w: (0..n_in)
                .map(|i| (0..lanes).map(|j| master[j][i]).collect())
                .collect(),
            g: grads,
        },
    ];
    let macs = |jobs: &[Job]| -> u64 {
        jobs.iter()
            .map(|j| match j {
                Job::Forward { x, .. } => (x.len() * lanes) as u64,
                Job::Backward { delta, .. } => (delta.len() * lanes) as u64,
                Job::Gradient { x, .. } => (x.len() * lanes) as u64,
                Job::Update { w, .. } => (w.len() * lanes) as u64,
                // Comparisons and routing multiply nothing.
                Job::Seed { .. } | Job::Max { .. } | Job::Select { .. } => 0,
            })
            .sum()
    };
    let phases = vec![
        ("forward", forward),
        ("backward", backward),
        ("weight_gradient", gradient),
        ("weight_update", update),
    ];
    Ok(phases
        .into_iter()
        .map(|(n, j)| {
            let m = macs(&j);
            (n.to_string(), j, m)
        })
        .collect())
}

/// Simulates the step on the rust-hdl PE, phase by phase, failing on the first result that
/// differs from the golden model.
pub fn run(
    config: &Config,
    shape: StepShape,
    seed: u64,
    vcd_dir: Option<&Path>,
) -> Result<Vec<PhaseReport>> {
    run_counting(config, shape, seed, vcd_dir, None)
}

/// As [`run`], adding every phase's register and input toggles to `toggles`.
pub fn run_counting(
    config: &Config,
    shape: StepShape,
    seed: u64,
    vcd_dir: Option<&Path>,
    mut toggles: Option<&mut Toggles>,
) -> Result<Vec<PhaseReport>> {
    let mut reports = vec![];
    for (phase, jobs, useful_macs) in build(config, shape, seed)? {
        let beats = pe_driver::program(&jobs, config.pe.lanes)?;
        let vcd = vcd_dir.map(|d| d.join(format!("pe_{phase}.vcd")));
        let outs =
            pe_driver::run_rust_counting(config, &beats, vcd.as_deref(), toggles.as_deref_mut())?;
        // Each phase runs on a freshly reset PE, as `pe_driver::expected` assumes.
        let (want, want_sat) = pe_driver::expected(&jobs, config);
        let got = pe_driver::results(&outs);
        if got.len() != want.len() {
            bail!(
                "{phase}: {} results, golden model expects {}",
                got.len(),
                want.len()
            );
        }
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            if g != w {
                let lane = (0..g.wide.len())
                    .find(|&l| g.wide[l] != w.wide[l] || g.narrow[l] != w.narrow[l])
                    .unwrap_or(0);
                bail!(
                    "{phase}: result {i}, lane {lane}: RTL gave wide {:#x} narrow {:#x}, golden model {:#x} / {:#x}",
                    g.wide[lane], g.narrow[lane], w.wide[lane], w.narrow[lane]
                );
            }
        }
        let last = outs.last().expect("a program has beats");
        if last.sat_events as u64 != want_sat {
            bail!(
                "{phase}: saturation counter {} but golden model counts {want_sat}",
                last.sat_events
            );
        }
        let cycles = beats.len() as u64;
        reports.push(PhaseReport {
            phase,
            cycles,
            results: got.len(),
            useful_macs,
            utilization: useful_macs as f64 / (config.pe.lanes as u64 * cycles) as f64,
            saturation_events: want_sat,
        });
    }
    Ok(reports)
}
