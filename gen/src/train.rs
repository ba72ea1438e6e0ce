//! `ntgen compile` and `ntgen train`: a network compiled for the module, then trained in a
//! simulation of the whole module (its emitted Verilog under Verilator, or the rust-hdl model),
//! every phase's tensors checked against the golden model.

use crate::cli::{CompileArgs, NetArgs, SimChoice, TrainArgs};
use crate::compiler::memory_map::RECORD_BYTES;
use crate::compiler::{self, GoldenRef, ParamRef, Plan};
use crate::npy;
use crate::output::Staged;
use anyhow::{bail, Context, Result};
use nt_hdl::dataflow_program::encode;
use nt_hdl::module::tile_salt;
use nt_hdl::Config;
use nt_testbench::golden::lfsr::Lfsr;
use nt_testbench::golden::net::{GoldenNet, Params, Step};
use nt_testbench::golden::Fixed16;
use nt_testbench::module_cosim::verilator_available;
use nt_testbench::module_driver::{ModuleHost, ModuleSim, TileCounters};
use nt_testbench::module_verilator::VerilatorModule;
use nt_testbench::network::Network;
use nt_testbench::sim::Toggles;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

/// Fraction bits of the learning rate.
const ETA_FRAC_BITS: u32 = 16;
/// Samples of a synthetic data set, in batches, unless `--samples` says otherwise.
const SYNTHETIC_BATCHES: usize = 4;
/// Keeps the synthetic data's random stream apart from the weights'.
const SYNTHETIC_SEED_SALT: u64 = 0x7EAC_4E12;
/// A segment that runs longer than this many cycles per element it moves is stuck.
const CYCLES_PER_ELEMENT_LIMIT: u64 = 64;
/// Fixed cycles allowed to any segment on top of the per-element allowance.
const SEGMENT_SLACK_CYCLES: u64 = 20_000;

fn eta_fixed(eta: f64) -> Result<u16> {
    let v = (eta * (1u64 << ETA_FRAC_BITS) as f64).round();
    if !(1.0..=u16::MAX as f64).contains(&v) {
        bail!("--eta {eta}: the learning rate must be in [2^-16, 1) (16 fraction bits)");
    }
    Ok(v as u16)
}

fn plan_for(config: &Config, args: &NetArgs) -> Result<(Network, Plan)> {
    let net = Network::load(&args.net)?;
    let eta = eta_fixed(args.eta)?;
    let plan = compiler::compile(&net, args.batch, eta, config)
        .with_context(|| format!("compiling {}", args.net.display()))?;
    Ok((net, plan))
}

#[derive(Serialize)]
struct PlanRow {
    layer: String,
    phase: String,
    segment: String,
    tiles_used: usize,
    macs: u64,
    dram_bytes_read: u64,
    dram_bytes_written: u64,
    noc_elements: u64,
}

fn plan_rows(plan: &Plan) -> Vec<PlanRow> {
    let mut rows = vec![];
    for ph in &plan.phases {
        for s in &ph.segments {
            rows.push(PlanRow {
                layer: plan.layer_names[s.layer].clone(),
                phase: ph.name.to_string(),
                segment: s.label.clone(),
                tiles_used: s.tiles_used(),
                macs: s.macs,
                dram_bytes_read: s.bytes_read,
                dram_bytes_written: s.bytes_written,
                noc_elements: s.noc_elements,
            });
        }
    }
    rows
}

pub fn compile_command(args: &CompileArgs) -> Result<()> {
    let config = args.config.load()?;
    let (net, plan) = plan_for(&config, &args.net)?;
    if args.json {
        #[derive(Serialize)]
        struct Out<'a> {
            network: &'a str,
            batch: usize,
            tiles: usize,
            lanes: usize,
            vault_bytes_used: u64,
            segments: Vec<PlanRow>,
        }
        let out = Out {
            network: &net.name,
            batch: plan.batch,
            tiles: plan.tiles,
            lanes: plan.lanes,
            vault_bytes_used: plan.map.used(),
            segments: plan_rows(&plan),
        };
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!(
        "network {} on {} tiles x {} lanes, batch {}: {} bytes per vault",
        net.name,
        plan.tiles,
        plan.lanes,
        plan.batch,
        plan.map.used()
    );
    println!("memory map (every vault):");
    for r in plan.map.regions() {
        println!("  {:<8} {:#10x} {:>9} bytes", r.name, r.base, r.bytes);
    }
    println!(
        "{:<9} {:<34} {:>5} {:>10} {:>11} {:>11} {:>8}",
        "phase", "segment", "tiles", "MACs", "DRAM read", "DRAM write", "NoC el."
    );
    for ph in &plan.phases {
        for s in &ph.segments {
            println!(
                "{:<9} {:<34} {:>5} {:>10} {:>11} {:>11} {:>8}",
                ph.name,
                s.label,
                s.tiles_used(),
                s.macs,
                s.bytes_read,
                s.bytes_written,
                s.noc_elements
            );
            if args.nests {
                for (t, n) in &s.nests {
                    println!("            tile {t:>2}: {n}");
                }
            }
        }
    }
    Ok(())
}

/// Inputs and targets of a data set, fixed point, sample-major.
struct DataSet {
    x: Vec<i16>,
    t: Vec<i16>,
    samples: usize,
}

fn to_fixed(v: f64, dtype: npy::Dtype, f: u32) -> i16 {
    match dtype {
        npy::Dtype::I16 => v as i16,
        _ => (v * (1u64 << f) as f64)
            .round()
            .clamp(i16::MIN as f64, i16::MAX as f64) as i16,
    }
}

fn load_data(dir: &Path, in_len: usize, out_len: usize, f: u32) -> Result<DataSet> {
    let x = npy::read(&dir.join("x.npy"))?;
    let t = npy::read(&dir.join("t.npy"))?;
    let n = *x.shape.first().context("x.npy has no dimensions")?;
    if x.values.len() != n * in_len {
        bail!(
            "x.npy: shape {:?} does not hold samples of {in_len} inputs",
            x.shape
        );
    }
    if t.shape.first() != Some(&n) || t.values.len() != n * out_len {
        bail!(
            "t.npy: shape {:?} is not {n} samples of {out_len} targets",
            t.shape
        );
    }
    Ok(DataSet {
        x: x.values.iter().map(|&v| to_fixed(v, x.dtype, f)).collect(),
        t: t.values.iter().map(|&v| to_fixed(v, t.dtype, f)).collect(),
        samples: n,
    })
}

/// Inputs uniform in [-1, 1); targets from a teacher network of the same shape.
fn synthetic_data(golden: &GoldenNet, batch: usize, samples: usize, seed: u64) -> Result<DataSet> {
    let fmt = golden.fmt();
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ SYNTHETIC_SEED_SALT);
    let in_len = golden.shapes()[0].input.len();
    if samples == 0 || !samples.is_multiple_of(batch) {
        bail!("--samples {samples}: must be a positive multiple of the batch ({batch})");
    }
    let one = 1i32 << fmt.f;
    let x: Vec<i16> = (0..samples * in_len)
        .map(|_| rng.gen_range(-one..one) as i16)
        .collect();
    let teacher = Params::random(golden.shapes(), fmt, &mut rng);
    let mut t = vec![];
    for s in 0..samples / batch {
        let xb = &x[s * batch * in_len..(s + 1) * batch * in_len];
        let rec = golden.forward(&teacher, xb, batch)?;
        t.extend(golden.output(&rec, batch));
    }
    Ok(DataSet { x, t, samples })
}

fn le_i16(v: &[i16]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// Weight or bias records: the master values (the MAC values are derived as they are read).
fn records(master: &[i32]) -> Vec<u8> {
    let out: Vec<u8> = master.iter().flat_map(|m| m.to_le_bytes()).collect();
    debug_assert_eq!(out.len(), master.len() * RECORD_BYTES as usize);
    out
}

/// Per phase figures of one step.
#[derive(Clone, Debug, Default, Serialize)]
struct PhaseFigures {
    phase: String,
    cycles: u64,
    useful_macs: u64,
    utilization: f64,
    dram_bytes_read: u64,
    dram_bytes_written: u64,
    row_hits: u64,
    row_misses: u64,
    noc_flits: u64,
    saturation_events: u64,
    mac_busy_cycles: u64,
    segments: usize,
    /// Host bus cycles spent loading the segments' programs (not in `cycles`).
    host_load_cycles: u64,
    /// Each segment's share, in plan order (per step only: the totals leave it out).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    by_segment: Vec<SegmentFigures>,
}

/// One segment's figures: where a phase's cycles go.
#[derive(Clone, Debug, Default, Serialize)]
struct SegmentFigures {
    segment: String,
    cycles: u64,
    useful_macs: u64,
    utilization: f64,
    dram_bytes_read: u64,
    dram_bytes_written: u64,
    row_misses: u64,
    noc_flits: u64,
}

#[derive(Clone, Debug, Serialize)]
struct StepFigures {
    step: usize,
    loss: f64,
    phases: Vec<PhaseFigures>,
}

#[derive(Serialize)]
struct Summary {
    network: String,
    config: String,
    tiles: usize,
    lanes: usize,
    batch: usize,
    eta: f64,
    steps: Vec<StepFigures>,
    /// Loss of the batch of each step, before its update.
    loss: Vec<f64>,
    /// Per phase, summed over the steps.
    totals: Vec<PhaseFigures>,
    simulator: String,
    simulated_cycles: u64,
    simulation_seconds: f64,
    simulation_cycles_per_second: f64,
    checked_tensors: usize,
}

pub fn train_command(args: &TrainArgs) -> Result<()> {
    let config = args.config.load()?;
    train(&config, args).map(|_| ())
}

/// The simulator `args` asks for, started on `plan`'s memory.
fn simulator(config: &Config, args: &TrainArgs, plan: &Plan) -> Result<Box<dyn ModuleHost>> {
    let verilator = match args.sim {
        SimChoice::Verilator => true,
        SimChoice::RustHdl => false,
        SimChoice::Auto => args.vcd.is_none() && verilator_available(),
    };
    if verilator {
        if args.vcd.is_some() {
            bail!("--vcd records the rust-hdl simulation: use it with --sim rust-hdl");
        }
        eprintln!(
            "simulator: Verilator (the first run of a configuration builds it, a few minutes)"
        );
        let m = VerilatorModule::start(config, plan.map.used())?;
        if m.build_seconds > 0.0 {
            eprintln!("built the Verilator simulation in {:.0} s", m.build_seconds);
        }
        return Ok(Box::new(m));
    }
    eprintln!("simulator: rust-hdl");
    match config.noc.flit_width {
        32 => rust_hdl_sim::<32>(config, args),
        64 => rust_hdl_sim::<64>(config, args),
        w => bail!("noc.flit_width = {w}: no module instantiation for this width"),
    }
}

fn rust_hdl_sim<const W: usize>(config: &Config, args: &TrainArgs) -> Result<Box<dyn ModuleHost>> {
    let mut sim = ModuleSim::<W>::new(config)?;
    if let Some(path) = &args.vcd {
        sim.sim
            .record_vcd(path, nt_testbench::module_driver::MODULE_TOP)?;
    }
    Ok(Box::new(sim))
}

/// The r values of this step's updates, in the order the hardware's lanes draw them.
fn update_draws(plan: &Plan, lfsrs: &mut [Vec<Lfsr>]) -> HashMap<ParamRef, u16> {
    let mut draws = HashMap::new();
    for (t, beats) in plan.update_beats.iter().enumerate() {
        for beat in beats {
            for (lane, p) in beat.iter().enumerate() {
                let r = lfsrs[t][lane].next_r();
                if let Some(p) = p {
                    draws.insert(*p, r);
                }
            }
        }
    }
    draws
}

/// Reads tensors back from the simulated vaults and compares them with the golden model.
struct Checker<'a> {
    plan: &'a Plan,
    checked: usize,
}

fn golden_value(g: &Step, r: GoldenRef, i: usize) -> i64 {
    match r {
        GoldenRef::Y(l) => g.layers[l].y[i] as i64,
        GoldenRef::Delta(l) => g.layers[l].delta[i] as i64,
        GoldenRef::GradW(l) => g.layers[l].grad_w[i] as i64,
        GoldenRef::GradB(l) => g.layers[l].grad_b[i] as i64,
        GoldenRef::NewW(l) => g.layers[l].new_w[i] as i64,
        GoldenRef::NewMacW(l) => g.layers[l].new_mac_w[i] as i64,
        GoldenRef::NewB(l) => g.layers[l].new_b[i] as i64,
    }
}

impl Checker<'_> {
    fn phase(&mut self, sim: &mut dyn ModuleHost, phase: &str, g: &Step) -> Result<()> {
        for c in self.plan.checks.iter().filter(|c| c.phase == phase) {
            for (vault, elements) in &c.places {
                for &(i, addr) in elements {
                    let b = sim.peek(*vault, addr, c.width)?;
                    let got = match c.width {
                        2 => i16::from_le_bytes([b[0], b[1]]) as i64,
                        _ => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64,
                    };
                    let want = golden_value(g, c.golden, i);
                    if got != want {
                        bail!(
                            "tensor {} ({:?}) element {i} in vault {vault} at {addr:#x}: expected {want}, simulated {got}",
                            c.name,
                            c.golden
                        );
                    }
                }
            }
            self.checked += 1;
        }
        Ok(())
    }
}

/// Trains as `args` say; returns the toggles counted when `args.count_toggles` asked for them.
pub fn train(config: &Config, args: &TrainArgs) -> Result<Option<Toggles>> {
    let (net, plan) = plan_for(config, &args.net)?;
    let fmt = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let golden = GoldenNet::new(net.clone(), fmt)?;
    let batch = plan.batch;
    let in_len = golden.shapes()[0].input.len();
    let out_len = golden.shapes().last().map(|s| s.output.len()).unwrap_or(0);
    let data = match &args.data {
        Some(dir) => load_data(dir, in_len, out_len, fmt.f)?,
        None => synthetic_data(
            &golden,
            batch,
            args.samples.unwrap_or(batch * SYNTHETIC_BATCHES),
            args.seed,
        )?,
    };
    if data.samples < batch {
        bail!(
            "the data set has {} samples, fewer than one batch of {batch}",
            data.samples
        );
    }
    let mut staged = Staged::new(&args.out)?;
    let mut rng = ChaCha8Rng::seed_from_u64(args.seed);
    let mut params = Params::random(golden.shapes(), fmt, &mut rng);
    let lfsr_seed = rng.gen::<u32>();

    let mut sim = simulator(config, args, &plan)?;
    let sim = sim.as_mut();
    if args.count_toggles {
        sim.count_toggles()?;
    }
    let started = Instant::now();
    sim.seed(lfsr_seed)?;
    let mut lfsrs: Vec<Vec<Lfsr>> = (0..plan.tiles)
        .map(|t| {
            (0..plan.lanes)
                .map(|lane| Lfsr::seeded(lfsr_seed ^ tile_salt(t), lane))
                .collect()
        })
        .collect();

    // Every vault starts with the constants and the parameters.
    for v in 0..plan.tiles {
        sim.poke(v, plan.konst, &le_i16(&plan.konst_values))?;
        for (lp, at) in params.layers.iter().zip(&plan.params) {
            match at.rows {
                Some((cols, pitch)) => {
                    for (r, row) in lp.weights.chunks(cols).enumerate() {
                        sim.poke(v, at.w + r as u64 * pitch, &records(row))?;
                    }
                }
                None => sim.poke(v, at.w, &records(&lp.weights))?,
            }
            sim.poke(v, at.b, &records(&lp.biases))?;
        }
    }
    for c in &plan.mac_copies {
        let w = &params.layers[c.layer].weights;
        let values: Vec<i16> = c.indices.iter().map(|&i| fmt.mac_weight(w[i]).0).collect();
        sim.poke(c.vault, c.base, &le_i16(&values))?;
    }

    let mut checker = Checker {
        plan: &plan,
        checked: 0,
    };
    let mut steps = vec![];
    let batches = data.samples / batch;
    let lanes_total = plan.tiles * plan.lanes;
    for step in 0..args.steps {
        let first = (step % batches) * batch;
        let x = &data.x[first * in_len..(first + batch) * in_len];
        let t = &data.t[first * out_len..(first + batch) * out_len];
        for v in 0..plan.tiles {
            for (&a, &val) in plan.input_addrs.iter().zip(x) {
                sim.poke(v, a, &val.to_le_bytes())?;
            }
            for (&a, &val) in plan.target_addrs.iter().zip(t) {
                sim.poke(v, a, &val.to_le_bytes())?;
            }
        }
        let draws = update_draws(&plan, &mut lfsrs);
        let g = golden.step(&params, x, t, batch, plan.eta, |p| {
            draws
                .get(&p)
                .copied()
                .unwrap_or_else(|| panic!("parameter {p:?} has no update beat in the plan"))
        })?;
        let mut phases = vec![];
        for ph in &plan.phases {
            let mut fig = PhaseFigures {
                phase: ph.name.to_string(),
                ..Default::default()
            };
            for seg in &ph.segments {
                let load_start = sim.cycles()?;
                for (tile, prog) in seg.programs.iter().enumerate() {
                    sim.load_program(tile, &encode(prog))
                        .with_context(|| format!("segment {}", seg.label))?;
                }
                fig.host_load_cycles += sim.cycles()? - load_start;
                let elements: u64 = (seg.bytes_read + seg.bytes_written) / 2 + seg.macs;
                let limit = SEGMENT_SLACK_CYCLES + CYCLES_PER_ELEMENT_LIMIT * elements;
                let cycles = sim.run(limit).with_context(|| {
                    format!("step {step}, phase {}, segment {}", ph.name, seg.label)
                })?;
                fig.cycles += cycles;
                if args.progress {
                    eprintln!("  {:<9} {:<40} {cycles:>8} cycles", ph.name, seg.label);
                }
                fig.useful_macs += seg.macs;
                fig.segments += 1;
                let mut c = TileCounters::default();
                for tile in 0..plan.tiles {
                    c.add(&sim.counters(tile)?);
                }
                fig.dram_bytes_read += c.bytes_read;
                fig.dram_bytes_written += c.bytes_written;
                fig.row_hits += c.row_hits;
                fig.row_misses += c.row_misses;
                fig.noc_flits += c.flits_sent;
                fig.saturation_events += c.sat_events;
                fig.mac_busy_cycles += c.mac_busy_cycles;
                fig.by_segment.push(SegmentFigures {
                    segment: seg.label.clone(),
                    cycles,
                    useful_macs: seg.macs,
                    utilization: utilization(seg.macs, lanes_total, cycles),
                    dram_bytes_read: c.bytes_read,
                    dram_bytes_written: c.bytes_written,
                    row_misses: c.row_misses,
                    noc_flits: c.flits_sent,
                });
            }
            sim.drain()?;
            if args.corrupt.as_deref() == Some(ph.name) {
                corrupt_one(sim, &plan, ph.name)?;
            }
            checker
                .phase(sim, ph.name, &g)
                .with_context(|| format!("step {step}, after the {} phase", ph.name))?;
            fig.utilization = utilization(fig.useful_macs, lanes_total, fig.cycles);
            phases.push(fig);
        }
        eprintln!(
            "step {step}: loss {:.6}, cycles {}",
            g.loss,
            phases.iter().map(|p| p.cycles).sum::<u64>()
        );
        steps.push(StepFigures {
            step,
            loss: g.loss,
            phases,
        });
        params = g.params.clone();
        if step + 1 == args.steps {
            write_tensors(&mut staged, &plan, &g)?;
        }
    }
    sim.finish()?;
    let toggles = sim.toggles();
    let seconds = started.elapsed().as_secs_f64();
    let simulated_cycles = sim.cycles()?;
    let mut totals: Vec<PhaseFigures> = vec![];
    for s in &steps {
        for (i, p) in s.phases.iter().enumerate() {
            if totals.len() <= i {
                totals.push(PhaseFigures {
                    phase: p.phase.clone(),
                    ..Default::default()
                });
            }
            let t = &mut totals[i];
            t.cycles += p.cycles;
            t.useful_macs += p.useful_macs;
            t.dram_bytes_read += p.dram_bytes_read;
            t.dram_bytes_written += p.dram_bytes_written;
            t.row_hits += p.row_hits;
            t.row_misses += p.row_misses;
            t.noc_flits += p.noc_flits;
            t.saturation_events += p.saturation_events;
            t.mac_busy_cycles += p.mac_busy_cycles;
            t.segments += p.segments;
            t.host_load_cycles += p.host_load_cycles;
        }
    }
    for t in &mut totals {
        t.utilization = utilization(t.useful_macs, lanes_total, t.cycles);
    }
    let summary = Summary {
        network: net.name.clone(),
        config: args.config.config.display().to_string(),
        tiles: plan.tiles,
        lanes: plan.lanes,
        batch,
        eta: plan.eta as f64 / (1u64 << ETA_FRAC_BITS) as f64,
        loss: steps.iter().map(|s| s.loss).collect(),
        steps,
        totals,
        simulator: sim.name().to_string(),
        simulated_cycles,
        simulation_seconds: seconds,
        simulation_cycles_per_second: simulated_cycles as f64 / seconds.max(1e-9),
        checked_tensors: checker.checked,
    };
    staged.write(
        "summary.json",
        serde_json::to_string_pretty(&summary)? + "\n",
    )?;
    staged.commit()?;
    let result = format!(
        "trained {} for {} steps on {} tiles x {} lanes: every phase matched the golden model ({} tensors checked); loss {:.6} -> {:.6}; summary in {}",
        net.name,
        args.steps,
        plan.tiles,
        plan.lanes,
        summary.checked_tensors,
        summary.loss.first().copied().unwrap_or(0.0),
        summary.loss.last().copied().unwrap_or(0.0),
        args.out.join("summary.json").display()
    );
    // A run for the power analysis reports on standard error: its caller owns standard output.
    if args.count_toggles {
        eprintln!("{result}");
    } else {
        println!("{result}");
    }
    Ok(toggles)
}

/// Useful MACs over the MACs the module's `lanes` (every tile's) could do in `cycles`.
fn utilization(macs: u64, lanes: usize, cycles: u64) -> f64 {
    macs as f64 / lanes as f64 / cycles.max(1) as f64
}

/// Flips the low bit of the first value the checks of `phase` read (the checker's self-test).
fn corrupt_one(sim: &mut dyn ModuleHost, plan: &Plan, phase: &str) -> Result<()> {
    let c = plan
        .checks
        .iter()
        .find(|c| c.phase == phase)
        .with_context(|| format!("no tensor is checked after the {phase} phase"))?;
    let (vault, elements) = &c.places[0];
    let addr = elements[0].1;
    let b = sim.peek(*vault, addr, 1)?[0];
    sim.poke(*vault, addr, &[b ^ 1])?;
    Ok(())
}

/// The last step's tensors, as the golden model and the simulation (checked equal) hold them.
fn write_tensors(staged: &mut Staged, plan: &Plan, g: &Step) -> Result<()> {
    for (name, ls) in plan.layer_names.iter().zip(&g.layers) {
        let n = |v: usize| [v];
        staged.write(
            &format!("{name}_y.npy"),
            npy::encode_i16(&n(ls.y.len()), &ls.y),
        )?;
        staged.write(
            &format!("{name}_delta.npy"),
            npy::encode_i16(&n(ls.delta.len()), &ls.delta),
        )?;
        staged.write(
            &format!("{name}_grad_w.npy"),
            npy::encode_i32(&n(ls.grad_w.len()), &ls.grad_w),
        )?;
        staged.write(
            &format!("{name}_grad_b.npy"),
            npy::encode_i32(&n(ls.grad_b.len()), &ls.grad_b),
        )?;
        staged.write(
            &format!("{name}_w.npy"),
            npy::encode_i32(&n(ls.new_w.len()), &ls.new_w),
        )?;
        staged.write(
            &format!("{name}_b.npy"),
            npy::encode_i32(&n(ls.new_b.len()), &ls.new_b),
        )?;
    }
    Ok(())
}
