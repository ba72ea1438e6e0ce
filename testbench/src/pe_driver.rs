//! Drives the processing engine: jobs (what a data-flow engine would stream into it) become beats
//! (one cycle of port values each); the beats run in rust-hdl or, through the same port list, in
//! the emitted Verilog under Icarus; the golden model says what each job must produce.

use crate::cosim::{run_icarus, Port};
use crate::golden::lfsr::Lfsr;
use crate::golden::{Activation, Fixed16};
use crate::sim::{Clocked, Toggles};
use anyhow::{ensure, Result};
use nt_hdl::config::OPERAND_BUFFER_ADDR_BITS as ADDR_BITS;
use nt_hdl::ops::{ActFn, PeMode};
use nt_hdl::pe::{Pe, PE_LATENCY};
use nt_hdl::Config;
use std::path::Path;

/// Junk in the high half of a select beat's `opb`, which the routed value must not carry.
const SELECT_OPB_HIGH: u32 = 0xA5A5_0000;

/// One cycle of PE inputs.
#[derive(Clone, Debug, Default)]
pub struct Beat {
    pub valid: bool,
    pub first: bool,
    pub last: bool,
    pub mode: u8,
    pub act: u8,
    pub eta: u16,
    pub bcast: u16,
    pub bcast_from_buffer: bool,
    pub buffer_read_address: u16,
    pub buffer_write_enable: bool,
    pub buffer_write_address: u16,
    pub buffer_write_data: u16,
    pub seed_load: bool,
    pub seed: u32,
    pub counter_clear: bool,
    pub opa: Vec<u32>,
    pub opb: Vec<u32>,
}

/// One cycle of PE outputs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outputs {
    pub valid: bool,
    pub wide: Vec<u32>,
    pub narrow: Vec<u16>,
    pub busy_cycles: u32,
    pub sat_events: u32,
}

/// A unit of work for the PE, in the golden model's number types.
#[derive(Clone, Debug)]
pub enum Job {
    /// Per lane j: `y_j = act(q(bias_j + sum_k w[j][k] * x[k]))`. With `from_buffer`, `x` is first
    /// written to the reuse buffer and broadcast from there.
    Forward {
        act: Activation,
        x: Vec<i16>,
        w: Vec<Vec<i16>>,
        bias: Vec<i32>,
        from_buffer: bool,
    },
    /// Per lane i: `q(q(sum_k wt[i][k] * delta[k]) * f'(y_prev[i]))`.
    Backward {
        act: Activation,
        delta: Vec<i16>,
        wt: Vec<Vec<i16>>,
        y_prev: Vec<i16>,
    },
    /// Per lane j: `grad_align(sum_b delta[j][b] * x[b])`.
    Gradient { x: Vec<i16>, delta: Vec<Vec<i16>> },
    /// Per element e and lane j: stochastic-rounding update of `w[e][j]` by `g[e][j]`.
    Update {
        eta: u16,
        w: Vec<Vec<i32>>,
        g: Vec<Vec<i32>>,
    },
    /// Per lane j: the maximum of `x[j][k]` over k and the first k where it occurs.
    Max { x: Vec<Vec<i16>> },
    /// Per beat k and lane j: `delta[k][j]` if `index[k][j] == at[k]`, else 0.
    Select {
        at: Vec<i16>,
        index: Vec<Vec<i16>>,
        delta: Vec<Vec<i16>>,
    },
    /// Reseeds every lane's LFSR.
    Seed { seed: u32 },
}

/// What a job must produce: one result per emitted beat.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub wide: Vec<u32>,
    pub narrow: Vec<u16>,
}

fn act_code(a: Activation) -> u8 {
    a.code()
}

fn lane_vec<T>(v: &[T], lanes: usize, what: &str) -> Result<()> {
    ensure!(
        v.len() == lanes,
        "{what}: {} values for {lanes} lanes",
        v.len()
    );
    Ok(())
}

impl Job {
    /// The beats that carry this job into a PE of `lanes` lanes.
    pub fn beats(&self, lanes: usize) -> Result<Vec<Beat>> {
        let idle = Beat {
            opa: vec![0; lanes],
            opb: vec![0; lanes],
            ..Default::default()
        };
        let mut out = vec![];
        match self {
            Job::Forward {
                act,
                x,
                w,
                bias,
                from_buffer,
            } => {
                lane_vec(w, lanes, "forward weights")?;
                lane_vec(bias, lanes, "forward biases")?;
                if *from_buffer {
                    for (k, &xk) in x.iter().enumerate() {
                        out.push(Beat {
                            buffer_write_enable: true,
                            buffer_write_address: k as u16,
                            buffer_write_data: xk as u16,
                            ..idle.clone()
                        });
                    }
                }
                for (k, &xk) in x.iter().enumerate() {
                    let mut b = idle.clone();
                    b.valid = true;
                    b.first = k == 0;
                    b.last = k + 1 == x.len();
                    b.mode = PeMode::Forward as u8;
                    b.act = act_code(*act);
                    if *from_buffer {
                        b.bcast_from_buffer = true;
                        b.buffer_read_address = k as u16;
                    } else {
                        b.bcast = xk as u16;
                    }
                    for j in 0..lanes {
                        ensure!(
                            w[j].len() == x.len(),
                            "forward: lane {j} has {} weights for {} inputs",
                            w[j].len(),
                            x.len()
                        );
                        b.opa[j] = w[j][k] as u16 as u32;
                        if k == 0 {
                            b.opb[j] = bias[j] as u32;
                        }
                    }
                    out.push(b);
                }
            }
            Job::Backward {
                act,
                delta,
                wt,
                y_prev,
            } => {
                lane_vec(wt, lanes, "backward weights")?;
                lane_vec(y_prev, lanes, "backward outputs")?;
                for (k, &dk) in delta.iter().enumerate() {
                    let mut b = idle.clone();
                    b.valid = true;
                    b.first = k == 0;
                    b.last = k + 1 == delta.len();
                    b.mode = PeMode::Backward as u8;
                    b.act = act_code(*act);
                    b.bcast = dk as u16;
                    for j in 0..lanes {
                        b.opa[j] = wt[j][k] as u16 as u32;
                        if b.last {
                            b.opb[j] = y_prev[j] as u16 as u32;
                        }
                    }
                    out.push(b);
                }
            }
            Job::Gradient { x, delta } => {
                lane_vec(delta, lanes, "gradient errors")?;
                for (bi, &xb) in x.iter().enumerate() {
                    let mut b = idle.clone();
                    b.valid = true;
                    b.first = bi == 0;
                    b.last = bi + 1 == x.len();
                    b.mode = PeMode::Gradient as u8;
                    b.bcast = xb as u16;
                    for (opa, d) in b.opa.iter_mut().zip(delta) {
                        *opa = d[bi] as u16 as u32;
                    }
                    out.push(b);
                }
            }
            Job::Update { eta, w, g } => {
                for (we, ge) in w.iter().zip(g) {
                    lane_vec(we, lanes, "update weights")?;
                    lane_vec(ge, lanes, "update gradients")?;
                    let mut b = idle.clone();
                    b.valid = true;
                    b.mode = PeMode::Update as u8;
                    b.eta = *eta;
                    for j in 0..lanes {
                        b.opa[j] = we[j] as u32;
                        b.opb[j] = ge[j] as u32;
                    }
                    out.push(b);
                }
            }
            Job::Max { x } => {
                lane_vec(x, lanes, "max terms")?;
                let k = x[0].len();
                for t in 0..k {
                    let mut b = idle.clone();
                    b.valid = true;
                    b.first = t == 0;
                    b.last = t + 1 == k;
                    b.mode = PeMode::Max as u8;
                    for (j, (opa, xj)) in b.opa.iter_mut().zip(x).enumerate() {
                        ensure!(
                            xj.len() == k,
                            "max: lane {j} has {} terms, not {k}",
                            xj.len()
                        );
                        *opa = xj[t] as u16 as u32;
                    }
                    out.push(b);
                }
            }
            Job::Select { at, index, delta } => {
                for (k, &a) in at.iter().enumerate() {
                    lane_vec(&index[k], lanes, "select indices")?;
                    lane_vec(&delta[k], lanes, "select values")?;
                    let mut b = idle.clone();
                    b.valid = true;
                    // A select beat emits on its own; first and last do not matter.
                    b.first = k % 2 == 0;
                    b.mode = PeMode::Select as u8;
                    b.bcast = a as u16;
                    for j in 0..lanes {
                        b.opa[j] = index[k][j] as u16 as u32;
                        b.opb[j] = (delta[k][j] as u16 as u32) | SELECT_OPB_HIGH;
                    }
                    out.push(b);
                }
            }
            Job::Seed { seed } => out.push(Beat {
                seed_load: true,
                seed: *seed,
                ..idle
            }),
        }
        Ok(out)
    }

    /// The golden results of this job, in output order, and its saturation events. `lfsrs` holds
    /// the lanes' random sources and is advanced (or reseeded) as the hardware's would be.
    pub fn expected(&self, q: &Fixed16, lfsrs: &mut [Lfsr]) -> (Vec<Expected>, u64) {
        let lanes = lfsrs.len();
        let sext = |v: i16| v as i32 as u32;
        match self {
            Job::Forward {
                act, x, w, bias, ..
            } => {
                let mut sat = 0;
                let mut narrow = vec![];
                for j in 0..lanes {
                    let acc = q.bias_to_acc(bias[j])
                        + (0..x.len())
                            .map(|k| Fixed16::mul(w[j][k], x[k]))
                            .sum::<i64>();
                    let (z, s) = q.requant(acc);
                    sat += s as u64;
                    narrow.push(q.activate(*act, z));
                }
                (
                    vec![Expected {
                        wide: narrow.iter().map(|&v| sext(v)).collect(),
                        narrow: narrow.iter().map(|&v| v as u16).collect(),
                    }],
                    sat,
                )
            }
            Job::Backward {
                act,
                delta,
                wt,
                y_prev,
            } => {
                let mut sat = 0;
                let mut narrow = vec![];
                for j in 0..lanes {
                    let acc: i64 = (0..delta.len())
                        .map(|k| Fixed16::mul(wt[j][k], delta[k]))
                        .sum();
                    let (d, s1) = q.derivative(*act, y_prev[j]);
                    let (v, s2) = q.backward(acc, d);
                    sat += s1 as u64 + s2 as u64;
                    narrow.push(v);
                }
                (
                    vec![Expected {
                        wide: narrow.iter().map(|&v| sext(v)).collect(),
                        narrow: narrow.iter().map(|&v| v as u16).collect(),
                    }],
                    sat,
                )
            }
            Job::Gradient { x, delta } => {
                let mut sat = 0;
                let mut wide = vec![];
                for dj in delta.iter().take(lanes) {
                    let acc: i64 = dj.iter().zip(x).map(|(&d, &xb)| Fixed16::mul(d, xb)).sum();
                    let (g, s) = q.grad_align(acc);
                    sat += s as u64;
                    wide.push(g as u32);
                }
                // Gradient results are 32-bit only; the narrow output reads zero.
                let narrow = vec![0; lanes];
                (vec![Expected { wide, narrow }], sat)
            }
            Job::Update { eta, w, g } => {
                let mut sat = 0;
                let mut res = vec![];
                for (we, ge) in w.iter().zip(g) {
                    let mut wide = vec![];
                    let mut narrow = vec![];
                    for j in 0..lanes {
                        let r = lfsrs[j].next_r();
                        let (nw, s1) = Fixed16::sr_update(we[j], ge[j], *eta, r);
                        // The new master only: its MAC weight is derived where it is read, but
                        // whether it saturates is counted with the update.
                        let (_, s2) = q.mac_weight(nw);
                        sat += s1 as u64 + s2 as u64;
                        wide.push(nw as u32);
                        narrow.push(0);
                    }
                    res.push(Expected { wide, narrow });
                }
                (res, sat)
            }
            Job::Max { x } => {
                let mut wide = vec![];
                let mut narrow = vec![];
                for xj in x {
                    // The first maximum: a later equal term does not move it.
                    let mut best = 0;
                    for (k, &v) in xj.iter().enumerate() {
                        if v > xj[best] {
                            best = k;
                        }
                    }
                    wide.push(best as u32);
                    narrow.push(xj[best] as u16);
                }
                (vec![Expected { wide, narrow }], 0)
            }
            Job::Select { at, index, delta } => {
                let res = at
                    .iter()
                    .zip(index.iter().zip(delta))
                    .map(|(&a, (ik, dk))| {
                        let narrow: Vec<u16> = ik
                            .iter()
                            .zip(dk)
                            .map(|(&i, &d)| if i == a { d as u16 } else { 0 })
                            .collect();
                        Expected {
                            wide: narrow.iter().map(|&v| sext(v as i16)).collect(),
                            narrow,
                        }
                    })
                    .collect();
                (res, 0)
            }
            Job::Seed { seed } => {
                for (j, l) in lfsrs.iter_mut().enumerate() {
                    *l = Lfsr::seeded(*seed, j);
                }
                (vec![], 0)
            }
        }
    }
}

/// Input ports in the order of a stimulus row.
pub fn input_ports(lanes: usize) -> Vec<Port> {
    let mut p = vec![
        Port::new("in_valid", 1),
        Port::new("in_first", 1),
        Port::new("in_last", 1),
        Port::new("mode", nt_hdl::ops::MODE_BITS),
        Port::new("act", 3),
        Port::new("eta", 16),
        Port::new("bcast", 16),
        Port::new("bcast_from_buffer", 1),
        Port::new("buffer_read_address", ADDR_BITS),
        Port::new("buffer_write_enable", 1),
        Port::new("buffer_write_address", ADDR_BITS),
        Port::new("buffer_write_data", 16),
        Port::new("seed_load", 1),
        Port::new("seed", 32),
        Port::new("counter_clear", 1),
    ];
    p.extend((0..lanes).map(|i| Port::new(format!("opa_{i}"), 32)));
    p.extend((0..lanes).map(|i| Port::new(format!("opb_{i}"), 32)));
    p
}

/// Output ports in the order of a response row.
pub fn output_ports(lanes: usize) -> Vec<Port> {
    let mut p = vec![Port::new("out_valid", 1)];
    p.extend((0..lanes).map(|i| Port::new(format!("out_wide_{i}"), 32)));
    p.extend((0..lanes).map(|i| Port::new(format!("out_narrow_{i}"), 16)));
    p.push(Port::new("busy_cycles", 32));
    p.push(Port::new("sat_events", 32));
    p
}

fn row_of(b: &Beat) -> Vec<u64> {
    let mut r = vec![
        b.valid as u64,
        b.first as u64,
        b.last as u64,
        b.mode as u64,
        b.act as u64,
        b.eta as u64,
        b.bcast as u64,
        b.bcast_from_buffer as u64,
        b.buffer_read_address as u64,
        b.buffer_write_enable as u64,
        b.buffer_write_address as u64,
        b.buffer_write_data as u64,
        b.seed_load as u64,
        b.seed as u64,
        b.counter_clear as u64,
    ];
    r.extend(b.opa.iter().map(|&v| v as u64));
    r.extend(b.opb.iter().map(|&v| v as u64));
    r
}

fn outputs_of_row(row: &[u64], lanes: usize) -> Outputs {
    Outputs {
        valid: row[0] != 0,
        wide: row[1..1 + lanes].iter().map(|&v| v as u32).collect(),
        narrow: row[1 + lanes..1 + 2 * lanes]
            .iter()
            .map(|&v| v as u16)
            .collect(),
        busy_cycles: row[1 + 2 * lanes] as u32,
        sat_events: row[2 + 2 * lanes] as u32,
    }
}

fn mode_of(code: u8) -> PeMode {
    PeMode::ALL[code as usize]
}

fn act_of(code: u8) -> ActFn {
    ActFn::ALL[code as usize]
}

fn apply(pe: &mut Pe, b: &Beat) {
    pe.in_valid.next = b.valid;
    pe.in_first.next = b.first;
    pe.in_last.next = b.last;
    pe.mode.next = mode_of(b.mode);
    pe.act.next = act_of(b.act);
    pe.eta.next = (b.eta as u64).into();
    pe.bcast.next = (b.bcast as u64).into();
    pe.bcast_from_buffer.next = b.bcast_from_buffer;
    pe.buffer_read_address.next = (b.buffer_read_address as u64).into();
    pe.buffer_write_enable.next = b.buffer_write_enable;
    pe.buffer_write_address.next = (b.buffer_write_address as u64).into();
    pe.buffer_write_data.next = (b.buffer_write_data as u64).into();
    pe.seed_load.next = b.seed_load;
    pe.seed.next = (b.seed as u64).into();
    pe.counter_clear.next = b.counter_clear;
    for (i, v) in b.opa.iter().enumerate() {
        pe.opa[i].next = (*v as u64).into();
    }
    for (i, v) in b.opb.iter().enumerate() {
        pe.opb[i].next = (*v as u64).into();
    }
}

fn sample(pe: &Pe) -> Outputs {
    Outputs {
        valid: pe.out_valid.val(),
        wide: pe
            .out_wide
            .iter()
            .map(|s| s.val().to_u64() as u32)
            .collect(),
        narrow: pe
            .out_narrow
            .iter()
            .map(|s| s.val().to_u64() as u16)
            .collect(),
        busy_cycles: pe.busy_cycles.val().to_u64() as u32,
        sat_events: pe.sat_events.val().to_u64() as u32,
    }
}

/// Beats for a sequence of jobs, followed by enough idle cycles to drain the pipeline and the
/// saturation counter.
pub fn program(jobs: &[Job], lanes: usize) -> Result<Vec<Beat>> {
    let mut beats = vec![];
    for j in jobs {
        beats.extend(j.beats(lanes)?);
    }
    let idle = Beat {
        opa: vec![0; lanes],
        opb: vec![0; lanes],
        ..Default::default()
    };
    beats.extend(std::iter::repeat_n(idle, PE_LATENCY + 2));
    Ok(beats)
}

/// The golden results of a job sequence and its total saturation events.
pub fn expected(jobs: &[Job], config: &Config) -> (Vec<Expected>, u64) {
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    // The LFSRs power up at zero, like the hardware's registers, until a Seed job loads them.
    let mut lfsrs: Vec<Lfsr> = vec![Lfsr { state: 0 }; config.pe.lanes];
    let mut all = vec![];
    let mut sat = 0;
    for j in jobs {
        let (e, s) = j.expected(&q, &mut lfsrs);
        all.extend(e);
        sat += s;
    }
    (all, sat)
}

/// Runs beats through the rust-hdl PE, one output sample per beat. `vcd` records a waveform.
pub fn run_rust(config: &Config, beats: &[Beat], vcd: Option<&Path>) -> Result<Vec<Outputs>> {
    run_rust_counting(config, beats, vcd, None)
}

/// As [`run_rust`], adding the run's register and input toggles to `toggles`.
pub fn run_rust_counting(
    config: &Config,
    beats: &[Beat],
    vcd: Option<&Path>,
    toggles: Option<&mut Toggles>,
) -> Result<Vec<Outputs>> {
    let mut sim = Clocked::new(Pe::new(config))?;
    if let Some(path) = vcd {
        sim.record_vcd(path, PE_TOP)?;
    }
    if toggles.is_some() {
        sim.count_toggles();
    }
    let mut out = Vec::with_capacity(beats.len());
    for b in beats {
        apply(&mut sim.uut, b);
        sim.tick()?;
        out.push(sample(&sim.uut));
    }
    sim.finish()?;
    if let (Some(t), Some(counted)) = (toggles, sim.toggles()) {
        t.add(&counted);
    }
    Ok(out)
}

/// The PE's top-level Verilog module name.
pub const PE_TOP: &str = "nt_pe";

/// Runs beats through the emitted Verilog of the PE under Icarus.
pub fn run_verilog(
    config: &Config,
    verilog: &str,
    beats: &[Beat],
    workdir: &Path,
) -> Result<Vec<Outputs>> {
    let lanes = config.pe.lanes;
    let rows: Vec<Vec<u64>> = beats.iter().map(row_of).collect();
    let resp = run_icarus(
        workdir,
        verilog,
        PE_TOP,
        "clock",
        &input_ports(lanes),
        &output_ports(lanes),
        &rows,
    )?;
    Ok(resp.iter().map(|r| outputs_of_row(r, lanes)).collect())
}

/// The results a run produced, in order (the cycles where `out_valid` was high).
pub fn results(outputs: &[Outputs]) -> Vec<Expected> {
    outputs
        .iter()
        .filter(|o| o.valid)
        .map(|o| Expected {
            wide: o.wide.clone(),
            narrow: o.narrow.clone(),
        })
        .collect()
}
