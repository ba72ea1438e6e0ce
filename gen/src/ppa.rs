//! `ntgen ppa`: area, timing and power of the tile's blocks on a cell library, with switching
//! activity from simulation, composed into a tile and the module's tile array, and the peak
//! throughput they imply.
//!
//! Tiles are identical, so each block is synthesized once and the totals are composed:
//! tile = PE + PE feeder + network interface + vault controller + data-flow engine + router;
//! module = tile x rows x cols + host interface.
//!
//! Switching activity: the PE's from a training step streamed through it (busy every cycle, the
//! rate at peak throughput); the other blocks' from their own registers and ports over a small
//! MLP's training step on the module (at most 2x2 tiles in rust-hdl).

use crate::cli::{ConfigArgs, NetArgs, PpaArgs, SimChoice, TrainArgs};
use crate::emit::{
    self, glue_files, host_file, module_file, pe_file, router_files, vault_files, DesignFile,
    HOST_TOP,
};
use crate::flow::{self, Activity, Gating, Library, Synthesis, Timing};
use crate::output::Staged;
use crate::sram::{access_energy_uj, access_power_mw, memories_in, Memory};
use crate::train;
use anyhow::{bail, Context, Result};
use nt_hdl::Config;
use nt_testbench::pe_step::{self, StepShape};
use nt_testbench::sim::{BlockToggles, Toggles};
use serde::Serialize;
use std::path::Path;

/// Seed of the simulated step that provides the switching activity.
const ACTIVITY_SEED: u64 = 2018;
/// The PE's activity: a training step of a fully connected layer streamed through it, busy
/// every cycle (the rate at peak throughput).
const PE_ACTIVITY_SOURCE: &str =
    "measured: the PE streaming a fully connected layer's training step";
/// The other blocks' activity: their registers and ports over a training step of the whole
/// module (rust-hdl, at most 2x2 tiles: the default 4x4 simulates too slowly).
const MODULE_ACTIVITY_SOURCE: &str =
    "measured: this block over a small MLP's training step on a 2x2 module";
/// The network of the module's activity step, its batch, and the array side it runs on.
const ACTIVITY_NET: &str = "name = \"activity\"\ninput = [8]\n\
    [[layer]]\ntype = \"fc\"\nout = 6\nact = \"relu\"\n\
    [[layer]]\ntype = \"fc\"\nout = 3\nact = \"identity\"\n";
const ACTIVITY_BATCH: usize = 4;
const ACTIVITY_ETA: f64 = 0.01;
const ACTIVITY_ARRAY_SIDE: usize = 2;
/// Operations per multiply-accumulate.
const OPS_PER_MAC: f64 = 2.0;
/// Block names accepted by `--blocks`, in report order.
pub const BLOCKS: [&str; 7] = ["pe", "feeder", "ni", "vault", "engine", "router", "host"];
/// The work folder and name of the flat run of `--flat`.
const FLAT: &str = "flat";

/// A part of a block (the PE's lanes, control and buffer).
#[derive(Serialize)]
struct Part {
    name: String,
    area_um2: f64,
    power_mw: f64,
}

/// One block, per instance.
#[derive(Serialize)]
struct BlockReport {
    name: String,
    top: String,
    /// Instances in the module.
    instances: usize,
    area_um2: f64,
    power_mw: f64,
    logic_power_mw: f64,
    internal_mw: f64,
    switching_mw: f64,
    leakage_mw: f64,
    sram_area_um2: f64,
    /// The memories' leakage and access power.
    sram_power_mw: f64,
    /// Of that, the access power: the bits the block's memories read and wrote per cycle in its
    /// activity simulation.
    sram_access_mw: f64,
    /// Logic power (mW) with no switching and every clock gate closed: what a busy block's
    /// figure falls to while it waits. Measured for the PE, whose activity is a busy one's.
    #[serde(skip_serializing_if = "Option::is_none")]
    idle_power_mw: Option<f64>,
    /// Power (mW) with the block's activity and each clock gate open as often as its enable was
    /// high in the activity simulation (gates whose enable no simulated flag names count as
    /// always open): what a block busy at its activity simulation's rates takes (`power_mw` has
    /// every gate open). Measured for every block with clock gates.
    #[serde(skip_serializing_if = "Option::is_none")]
    busy_power_mw: Option<f64>,
    /// Of the gated flip-flops' clock cycles, the share their gates passed in the activity
    /// simulation (the weight of their clock power in `busy_power_mw`).
    #[serde(skip_serializing_if = "Option::is_none")]
    gates_open_share: Option<f64>,
    /// How the networks are charged this block's gated clock, where its traffic opens the gates.
    #[serde(skip_serializing_if = "Option::is_none")]
    traffic_gates: Option<TrafficGates>,
    /// Integrated clock gates, and the flip-flops behind them (gen/src/clock_gating.rs).
    clock_gates: usize,
    gated_flip_flops: usize,
    fmax_mhz: f64,
    worst_slack_ps: f64,
    cells: u64,
    /// Of the cells, the buffers of the fanout trees.
    fanout_buffers: usize,
    register_activity: f64,
    activity_source: String,
    parts: Vec<Part>,
    #[serde(skip)]
    critical_path: String,
}

#[derive(Serialize)]
struct Totals {
    area_um2: f64,
    power_mw: f64,
}

/// One network's efficiency, from its training simulation on this configuration.
#[derive(Serialize)]
struct NetworkFigures {
    name: String,
    /// Operations (2 per useful multiply-accumulate) per second at the module's clock.
    gops: f64,
    logic_gops_per_w: f64,
    system_gops_per_w: f64,
    /// The system figure with the logic at no cost: what the DRAM traffic alone allows.
    dram_bound_gops_per_w: f64,
    /// DRAM bytes read and written per useful multiply-accumulate.
    dram_bytes_per_mac: f64,
    cycles: u64,
    ops: f64,
    dram_bytes: u64,
    logic_energy_uj: f64,
    /// Of the logic energy, the memories' accesses.
    sram_energy_uj: f64,
    dram_energy_uj: f64,
    utilization: f64,
    source: String,
}

/// What drives the memories' accesses, measured over the activity simulation of the module:
/// the PE feeder's lane buffers are read on PE beats and filled for them; the data-flow engine's
/// and the vault controller's queues and buffers carry DRAM data.
#[derive(Serialize, Default, Clone, Copy)]
struct MemoryRates {
    /// The PE feeder's memory bits read and written per cycle a PE is busy.
    feeder_bits_per_busy_cycle: f64,
    /// The other blocks' memory bits read and written per DRAM byte moved.
    bits_per_dram_byte: f64,
}

/// The totals of an `ntgen train` summary that the report charges.
#[derive(Default)]
struct RunTotals {
    tiles: usize,
    lanes: usize,
    cycles: u64,
    useful_macs: u64,
    /// Summed over the tiles.
    mac_busy_cycles: u64,
    dram_bytes: u64,
    noc_flits: u64,
}

impl RunTotals {
    /// Reads `path`, an `ntgen train` summary; the network's name comes with it.
    fn read(path: &Path) -> Result<(String, RunTotals)> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        let v: serde_json::Value =
            serde_json::from_str(&text).with_context(|| format!("{}: not JSON", path.display()))?;
        let field = |k: &str| {
            v[k].as_u64().with_context(|| {
                format!("{}: no `{k}`: not an ntgen train summary", path.display())
            })
        };
        let phases = v["totals"]
            .as_array()
            .with_context(|| format!("{}: no `totals`", path.display()))?;
        let sum = |k: &str| -> Result<u64> {
            phases
                .iter()
                .map(|p| {
                    p[k].as_u64()
                        .with_context(|| format!("{}: a phase has no `{k}`", path.display()))
                })
                .sum()
        };
        let totals = RunTotals {
            tiles: field("tiles")? as usize,
            lanes: field("lanes")? as usize,
            cycles: sum("cycles")?,
            useful_macs: sum("useful_macs")?,
            mac_busy_cycles: sum("mac_busy_cycles")?,
            dram_bytes: sum("dram_bytes_read")? + sum("dram_bytes_written")?,
            noc_flits: sum("noc_flits")?,
        };
        Ok((v["network"].as_str().unwrap_or("?").to_string(), totals))
    }

    /// The run's `traffic` per tile and cycle.
    fn rate(&self, traffic: Traffic) -> f64 {
        let n = match traffic {
            Traffic::DramBytes => self.dram_bytes,
            Traffic::NocFlits => self.noc_flits,
        };
        n as f64 / (self.tiles.max(1) as f64 * self.cycles.max(1) as f64)
    }
}

/// What opens a block's clock gates, as the networks are charged for it: the bytes a tile moves
/// to and from its vault (the data-flow engine, the vault controller, the PE feeder), the flits
/// it sends (the network interface, the routers).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Traffic {
    DramBytes,
    NocFlits,
}

impl Traffic {
    fn name(self) -> &'static str {
        match self {
            Traffic::DramBytes => "DRAM bytes",
            Traffic::NocFlits => "NoC flits sent",
        }
    }

    fn of(block: &str) -> Option<Traffic> {
        match block {
            "feeder" | "engine" | "vault" => Some(Traffic::DramBytes),
            "ni" | "router" => Some(Traffic::NocFlits),
            _ => None,
        }
    }
}

/// Of the gated flip-flops' clock cycles in an activity simulation: those behind gates that are
/// always open (synthesis derived their enables from several signals), and those behind gates
/// open as often as the signal their enable is named after was high.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
struct GateShare {
    always_open: f64,
    by_enable: f64,
}

impl GateShare {
    fn open(&self) -> f64 {
        self.always_open + self.by_enable
    }
}

/// A block other than the PE whose clock gates open with its traffic: a network is charged the
/// gated flip-flops' clock in proportion to its traffic per tile and cycle against the activity
/// simulation's (gates with derived enables always open).
#[derive(Clone, Copy, Debug, Serialize)]
struct TrafficGates {
    traffic: Traffic,
    /// The gated flip-flops' clock power (mW), every gate open.
    clock_mw: f64,
    share: GateShare,
    /// The activity simulation's traffic per tile and cycle.
    sim_rate: f64,
}

impl TrafficGates {
    /// The share of the gated clock a run with `rate` traffic per tile and cycle opens.
    fn open_at(&self, rate: f64) -> f64 {
        let scale = if self.sim_rate > 0.0 {
            rate / self.sim_rate
        } else {
            1.0
        };
        let a = self.share.always_open;
        a + (self.share.by_enable * scale).clamp(0.0, 1.0 - a)
    }
}

/// Reads a training summary and charges its cycles, PE beats and DRAM bytes: dynamic logic
/// energy per cycle from the module's power at the target clock (the PEs' as busy as the run's
/// utilization, see [`Dynamic`]), the memories' accesses by what drives them ([`MemoryRates`]),
/// leakage for the run's duration at the module's clock (the target, or fmax when lower), DRAM
/// energy per bit.
fn network_figures(
    path: &Path,
    config: &Config,
    tiles: usize,
    module: &ModulePower,
    clock_mhz: f64,
) -> Result<NetworkFigures> {
    let (name, run) = RunTotals::read(path)?;
    if run.tiles != tiles || run.lanes != config.pe.lanes {
        bail!(
            "{}: trained on {} tiles x {} lanes, but this configuration has {tiles} x {}",
            path.display(),
            run.tiles,
            run.lanes,
            config.pe.lanes
        );
    }
    let cycles = run.cycles;
    let seconds = cycles as f64 / (clock_mhz * 1e6);
    let ops = OPS_PER_MAC * run.useful_macs as f64;
    let utilization = run.useful_macs as f64 / (tiles * run.lanes) as f64 / cycles.max(1) as f64;
    let rates = &module.memory_rates;
    let sram_j = access_energy_uj(
        rates.feeder_bits_per_busy_cycle * run.mac_busy_cycles as f64
            + rates.bits_per_dram_byte * run.dram_bytes as f64,
    ) * 1e-6;
    let logic_j = module.dynamic.at(utilization, &run) * 1e-3 / (config.clock.target_mhz * 1e6)
        * cycles as f64
        + module.leakage_mw * 1e-3 * seconds
        + sram_j;
    let dram_j = run.dram_bytes as f64 * 8.0 * config.dram.energy_pj_per_bit * 1e-12;
    Ok(NetworkFigures {
        name,
        gops: ops / seconds.max(1e-30) * 1e-9,
        logic_gops_per_w: ops / logic_j.max(1e-30) * 1e-9,
        system_gops_per_w: ops / (logic_j + dram_j).max(1e-30) * 1e-9,
        dram_bound_gops_per_w: ops / dram_j.max(1e-30) * 1e-9,
        dram_bytes_per_mac: run.dram_bytes as f64 / run.useful_macs.max(1) as f64,
        cycles,
        ops,
        dram_bytes: run.dram_bytes,
        logic_energy_uj: logic_j * 1e6,
        sram_energy_uj: sram_j * 1e6,
        dram_energy_uj: dram_j * 1e6,
        utilization,
        source: path.display().to_string(),
    })
}

/// What the network figures charge besides DRAM: the module's dynamic logic power, its
/// leakage, and its memories' accesses.
struct ModulePower {
    dynamic: Dynamic,
    leakage_mw: f64,
    memory_rates: MemoryRates,
}

/// The module's dynamic power (mW, at the target clock) as a function of the PEs' utilization.
/// A block measured at its own mean activity (from a training step) counts as measured, but
/// for its memories' accesses, which [`MemoryRates`] charge; a block with an idle figure (the
/// PE, measured busy) is charged its idle power, plus its busy power's excess in proportion to
/// the utilization.
struct Dynamic {
    /// Blocks at their mean activity, and the idle part of the others.
    base_mw: f64,
    /// Busy less idle, for the blocks with an idle figure.
    busy_excess_mw: f64,
    /// The blocks whose gates open with their traffic, and their instances.
    traffic_gates: Vec<(f64, TrafficGates)>,
}

impl Dynamic {
    fn of(reports: &[BlockReport]) -> Dynamic {
        let mut d = Dynamic {
            base_mw: 0.0,
            busy_excess_mw: 0.0,
            traffic_gates: vec![],
        };
        for r in reports {
            let n = r.instances as f64;
            match (r.idle_power_mw, r.traffic_gates) {
                (Some(idle), _) => {
                    d.base_mw += n * (idle - r.leakage_mw);
                    d.busy_excess_mw += n * (r.busy_power_mw.unwrap_or(r.power_mw) - idle);
                }
                (None, Some(g)) => {
                    // Every gate closed but those always open; the run opens the others.
                    let closed = r.power_mw - (1.0 - g.share.always_open) * g.clock_mw;
                    d.base_mw += n * (closed - r.leakage_mw - r.sram_access_mw);
                    d.traffic_gates.push((n, g));
                }
                (None, None) => {
                    let busy = r.busy_power_mw.unwrap_or(r.power_mw);
                    d.base_mw += n * (busy - r.leakage_mw - r.sram_access_mw);
                }
            }
        }
        d
    }

    fn at(&self, utilization: f64, run: &RunTotals) -> f64 {
        let gates: f64 = self
            .traffic_gates
            .iter()
            .map(|(n, g)| {
                let opened = g.open_at(run.rate(g.traffic)) - g.share.always_open;
                n * g.clock_mw * opened
            })
            .sum();
        self.base_mw + utilization.clamp(0.0, 1.0) * self.busy_excess_mw + gates
    }
}

/// The composition checked against the whole module synthesized as one flat design. Power is
/// compared by its leakage: the flat run has one activity for every net, the blocks their own.
#[derive(Serialize)]
struct FlatCheck {
    area_um2: f64,
    leakage_mw: f64,
    composed_leakage_mw: f64,
    fmax_mhz: f64,
    /// The composed figure's error relative to the flat one.
    area_error: f64,
    leakage_error: f64,
    fmax_error: f64,
    cells: u64,
}

#[derive(Serialize)]
struct Report {
    library: String,
    target_mhz: f64,
    /// The slowest block's.
    fmax_mhz: f64,
    /// The module: every tile and the host interface.
    area_um2: f64,
    /// Every clock gate open.
    power_mw: f64,
    /// Each block busy at its activity simulation's rates, its gates open as often as there.
    busy_power_mw: f64,
    peak_gops: f64,
    tiles: usize,
    tile: Totals,
    blocks: Vec<BlockReport>,
    networks: Vec<NetworkFigures>,
    /// How the networks' memory accesses are charged.
    memory_rates: MemoryRates,
    #[serde(skip_serializing_if = "Option::is_none")]
    flat: Option<FlatCheck>,
    scope: String,
}

/// One synthesis run: a block (for the router, one class of them) and its count in the module.
struct Job {
    /// The `--blocks` name.
    block: &'static str,
    /// Its folder under `work/`.
    key: String,
    name: String,
    file: DesignFile,
    instances: usize,
}

/// The blocks to measure.
fn jobs(config: &Config, wanted: &[String]) -> Result<Vec<Job>> {
    for w in wanted {
        if !BLOCKS.contains(&w.as_str()) {
            bail!(
                "--blocks: unknown block `{w}` (known: {})",
                BLOCKS.join(", ")
            );
        }
    }
    let tiles = config.array.rows * config.array.cols;
    let want = |b: &str| wanted.is_empty() || wanted.iter().any(|w| w == b);
    let [feeder, ni] = glue_files(config)?;
    let [vault, engine] = vault_files(config);
    let mut out = vec![];
    let mut push = |block: &'static str, file: DesignFile, instances: usize| {
        out.push(Job {
            block,
            key: block.into(),
            name: display_name(block).into(),
            file,
            instances,
        })
    };
    for (block, file) in [
        ("pe", pe_file(config)),
        ("feeder", feeder),
        ("ni", ni),
        ("vault", vault),
        ("engine", engine),
    ] {
        if want(block) {
            push(block, file, tiles);
        }
    }
    if want("host") {
        push("host", host_file(config), 1);
    }
    if want("router") {
        for (neighbours, count, file) in router_files(config)? {
            out.push(Job {
                block: "router",
                key: file.top.clone(),
                name: format!(
                    "router ({neighbours} neighbour{})",
                    if neighbours == 1 { "" } else { "s" }
                ),
                file,
                instances: count,
            });
        }
    }
    Ok(out)
}

fn display_name(block: &str) -> &'static str {
    match block {
        "pe" => "processing engine",
        "feeder" => "PE feeder",
        "ni" => "network interface",
        "vault" => "vault controller",
        "engine" => "data-flow engine",
        "host" => "host interface",
        _ => "router",
    }
}

/// A block's switching activity and its memories' accesses, and where they come from.
#[derive(Clone, Copy)]
struct BlockActivity {
    logic: Activity,
    /// Bits its memories read and write per cycle, per instance of the block.
    memory_bits_per_cycle: f64,
    source: &'static str,
}

/// Synthesizes and analyzes one design in its own folder `work/key`.
fn measure(
    work: &Path,
    (key, name): (&str, &str),
    file: &DesignFile,
    lib: &Library,
    config: &Config,
    activity: BlockActivity,
    (lane, gating): (Option<String>, Gating),
) -> Result<(BlockReport, Synthesis, Timing)> {
    let dir = work.join(key);
    // The memories are costed by the SRAM model: synthesis keeps their stubs apart, and the PE's
    // lane, which is mapped once for all lanes.
    let memories = memories_in(&file.text);
    let kept: Vec<String> = memories.iter().map(|m| m.0.clone()).chain(lane).collect();
    std::fs::create_dir_all(&dir)?;
    std::fs::write(dir.join(&file.file), &file.text)?;
    eprintln!("  {name}: Yosys");
    let syn = flow::synthesize(
        &dir,
        &file.file,
        &file.top,
        lib,
        config.clock.target_mhz,
        &kept,
        gating,
    )
    .with_context(|| format!("synthesis of {}", file.top))?;
    let gated = syn.gated_under(&file.top);
    eprintln!(
        "  {name}: OpenSTA ({} fanout buffers, {} clock gates over {} flip-flops added)",
        syn.buffers, gated.gates, gated.flops
    );
    let timing = flow::analyze(
        &dir,
        &syn,
        &file.top,
        lib,
        config.clock.target_mhz,
        activity.logic,
        "sta",
    )
    .with_context(|| format!("OpenSTA on {}", file.top))?;
    // The memories are costed by the SRAM model; their stubs' few gates stay in the logic.
    let (mut sram_area, mut sram_leakage) = (0.0, 0.0);
    for (module, words, bits) in memories {
        let m = Memory {
            words,
            bits,
            instances: syn.instances_of(&file.top, &module),
        };
        sram_area += m.area_um2();
        sram_leakage += m.leakage_mw();
    }
    let sram_access = access_power_mw(activity.memory_bits_per_cycle, config.clock.target_mhz);
    let sram_power = sram_leakage + sram_access;
    let logic_area = syn.area_of(&file.top);
    let report = BlockReport {
        name: name.into(),
        top: file.top.clone(),
        instances: 0,
        area_um2: logic_area + sram_area,
        power_mw: timing.total_mw + sram_power,
        logic_power_mw: timing.total_mw,
        internal_mw: timing.internal_mw,
        switching_mw: timing.switching_mw,
        leakage_mw: timing.leakage_mw,
        sram_area_um2: sram_area,
        sram_power_mw: sram_power,
        sram_access_mw: sram_access,
        idle_power_mw: None,
        busy_power_mw: None,
        gates_open_share: None,
        traffic_gates: None,
        fmax_mhz: timing.fmax_mhz,
        worst_slack_ps: timing.worst_slack_ps,
        cells: syn.cells,
        fanout_buffers: syn.buffers,
        clock_gates: gated.gates,
        gated_flip_flops: gated.flops,
        register_activity: activity.logic.registers,
        activity_source: activity.source.into(),
        parts: vec![],
        critical_path: timing.critical_path.clone(),
    };
    Ok((report, syn, timing))
}

/// Of the gated flip-flops' clock cycles in the activity simulation `toggles` of the design
/// under `top`, the share their gates passed: each gate open as often as a one-bit register,
/// port or local signal its enable is named after was high, a gate whose enable synthesis
/// derived from several signals open always.
fn gates_open_share(syn: &Synthesis, top: &str, toggles: &Toggles, sim: &SimScope) -> GateShare {
    let (mut always, mut by_enable, mut all) = (0.0, 0.0, 0.0);
    for (module, gated) in &syn.gated {
        let n = syn.instances_of(top, module) as f64;
        let scope = [sim.scope.as_str(), scope_of(top, module)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        for e in &gated.enables {
            let duty = e
                .names
                .iter()
                .filter_map(|name| match sim.wrapper {
                    Some(w) => name.strip_prefix(w)?.strip_prefix('.'),
                    None => Some(name.as_str()),
                })
                .flat_map(sim_paths)
                .find_map(|path| {
                    toggles.duty_of(&match scope.as_str() {
                        "" => path,
                        s => format!("{s}/{path}"),
                    })
                });
            let flops = n * e.flops as f64;
            match duty {
                Some(d) => by_enable += flops * d,
                None => always += flops,
            }
            all += flops;
        }
    }
    if all > 0.0 {
        GateShare {
            always_open: always / all,
            by_enable: by_enable / all,
        }
    } else {
        GateShare {
            always_open: 1.0,
            by_enable: 0.0,
        }
    }
}

/// The simulation paths a netlist's net name may stand for. A flattened block names a
/// submodule's net `scope.net`; the simulation drops array indices from scopes (`banks_7.act`:
/// `banks/act`) and names an array's element `name$N` (`wq_load_3`: `wq_load$3`).
fn sim_paths(name: &str) -> Vec<String> {
    let parts: Vec<&str> = name.split('.').collect();
    let (last, scopes) = parts.split_last().expect("split yields a part");
    let unindexed = |p: &str| match p.rsplit_once('_') {
        Some((stem, i))
            if !stem.is_empty() && !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some((stem.to_string(), i.to_string()))
        }
        _ => None,
    };
    let scope: Vec<String> = scopes
        .iter()
        .map(|p| unindexed(p).map_or(p.to_string(), |(stem, _)| stem))
        .collect();
    let prefix = scope.iter().map(|p| format!("{p}/")).collect::<String>();
    let mut paths = vec![format!("{prefix}{last}")];
    if let Some((stem, i)) = unindexed(last) {
        paths.push(format!("{prefix}{stem}${i}"));
    }
    if scopes.iter().any(|p| unindexed(p).is_some()) {
        paths.push(parts.join("/"));
    }
    paths
}

/// Where a `--blocks` name's instances sit in the module's simulation: their scope, and the
/// instance a synthesized design wraps them in (a router's edge ports are tied off in one).
fn module_scope(block: &str) -> Option<SimScope> {
    let (scope, wrapper) = match block {
        "feeder" | "ni" | "vault" | "engine" => (format!("tiles/{block}"), None),
        "router" => ("mesh/routers".into(), Some(emit::ROUTER_INSTANCE)),
        "host" => ("host".into(), None),
        _ => return None,
    };
    Some(SimScope { scope, wrapper })
}

/// A synthesized design's place in an activity simulation.
#[derive(Default)]
struct SimScope {
    /// Its scope path (`tiles/engine`); empty where the design is the simulation's top.
    scope: String,
    /// The instance of the simulated design in the synthesized one, when that wraps it.
    wrapper: Option<&'static str>,
}

/// The simulation's scope path of a synthesized module of the design under `top`: none for the
/// top, else the module's name past the top's, less an array index (`nt_pe_lanes_0`: `lanes`).
fn scope_of<'a>(top: &str, module: &'a str) -> &'a str {
    let Some(rest) = module.strip_prefix(top).and_then(|r| r.strip_prefix('_')) else {
        return "";
    };
    match rest.rsplit_once('_') {
        Some((name, index)) if index.chars().all(|c| c.is_ascii_digit()) => name,
        _ => rest,
    }
}

/// The PE's breakdown: its lanes, its buffer, the rest.
fn pe_parts(config: &Config, pe: &BlockReport, syn: &Synthesis, timing: &Timing) -> Vec<Part> {
    let lanes_area = syn.area_of(&format!("{}_lanes_0", pe.top)) * config.pe.lanes as f64;
    let lanes_power: f64 = timing
        .blocks
        .iter()
        .filter(|(k, _)| k.starts_with("lanes_"))
        .map(|(_, v)| v)
        .sum();
    vec![
        Part {
            name: format!("MAC lanes (x{})", config.pe.lanes),
            area_um2: lanes_area,
            power_mw: lanes_power,
        },
        Part {
            name: format!("operand buffer SRAM {}x16", config.pe.operand_buffer_depth),
            area_um2: pe.sram_area_um2,
            power_mw: pe.sram_power_mw,
        },
        Part {
            name: "control, counters".into(),
            area_um2: pe.area_um2 - lanes_area - pe.sram_area_um2,
            power_mw: pe.power_mw - lanes_power - pe.sram_power_mw,
        },
    ]
}

/// The module's activity simulation: its toggles and memory accesses, and the run's totals.
#[derive(Default)]
struct ModuleActivity {
    toggles: Toggles,
    run: RunTotals,
}

impl ModuleActivity {
    /// The activity of a `--blocks` name, when the simulation has that block.
    fn block(&self, block: &str) -> Option<BlockActivity> {
        let t = &self.toggles;
        let scope = module_scope(block)?.scope;
        let (b, instances) = match block {
            // The routers hold no memory, so their count does not matter.
            "router" => (t.blocks.get(&scope)?.clone(), 1),
            // The host interface's registers sit directly in it: one entry per register.
            "host" => {
                let prefix = format!("{scope}/");
                let regs: Vec<_> = t
                    .blocks
                    .iter()
                    .filter(|(k, _)| k.starts_with(&prefix))
                    .map(|(_, b)| b)
                    .collect();
                if regs.is_empty() {
                    return None;
                }
                let mut sum = BlockToggles::default();
                for r in regs {
                    sum.register_bits += r.register_bits;
                    sum.register_toggles += r.register_toggles;
                    sum.input_bits += r.input_bits;
                    sum.input_toggles += r.input_toggles;
                    sum.memory_bits_accessed += r.memory_bits_accessed;
                }
                (sum, 1)
            }
            _ => (t.blocks.get(&scope)?.clone(), self.run.tiles),
        };
        Some(BlockActivity {
            logic: Activity {
                registers: b.register_rate(t.cycles),
                inputs: b.input_rate(t.cycles),
                gates_closed: false,
            },
            memory_bits_per_cycle: b.memory_rate(t.cycles) / instances.max(1) as f64,
            source: MODULE_ACTIVITY_SOURCE,
        })
    }

    /// The feeder's memory accesses per PE beat; the other blocks' per DRAM byte.
    fn memory_rates(&self) -> MemoryRates {
        let (mut feeder, mut others) = (0, 0);
        for (key, b) in &self.toggles.blocks {
            if key == "tiles/feeder" {
                feeder += b.memory_bits_accessed;
            } else {
                others += b.memory_bits_accessed;
            }
        }
        MemoryRates {
            feeder_bits_per_busy_cycle: feeder as f64 / self.run.mac_busy_cycles.max(1) as f64,
            bits_per_dram_byte: others as f64 / self.run.dram_bytes.max(1) as f64,
        }
    }
}

/// Trains [`ACTIVITY_NET`] one step on `config`'s module (at most 2x2 tiles) in rust-hdl,
/// counting every block's register and port toggles and memory accesses; the run's files go to
/// `dir`.
fn module_activity(config: &Config, dir: &Path) -> Result<ModuleActivity> {
    let mut c = config.clone();
    c.array.rows = c.array.rows.min(ACTIVITY_ARRAY_SIDE);
    c.array.cols = c.array.cols.min(ACTIVITY_ARRAY_SIDE);
    std::fs::create_dir_all(dir)?;
    let net = dir.join("net.toml");
    std::fs::write(&net, ACTIVITY_NET)?;
    let args = TrainArgs {
        config: ConfigArgs {
            config: dir.join("(the ppa configuration, at most 2x2 tiles)"),
            overrides: vec![],
        },
        net: NetArgs {
            net,
            batch: ACTIVITY_BATCH,
            eta: ACTIVITY_ETA,
        },
        steps: 1,
        out: dir.join("train"),
        data: None,
        seed: ACTIVITY_SEED,
        samples: None,
        progress: false,
        corrupt: None,
        vcd: None,
        sim: SimChoice::RustHdl,
        count_toggles: true,
    };
    let toggles = train::train(&c, &args)?.context("the simulation counted no toggles")?;
    let (_, run) = RunTotals::read(&args.out.join("summary.json"))?;
    Ok(ModuleActivity { toggles, run })
}

pub fn ppa_command(args: &PpaArgs) -> Result<()> {
    let config = args.config.load()?;
    let blocks = jobs(&config, &args.blocks)?;
    if args.flat && !args.blocks.is_empty() {
        bail!(
            "--flat compares the whole module with the composition of every block: drop --blocks"
        );
    }
    let gating = if args.no_clock_gating {
        Gating::None
    } else {
        Gating::Gated
    };
    let mut out = Staged::new(&args.out)?;
    let work = out.path("work");
    let lib = flow::resolve_library(
        args.liberty.as_deref(),
        config.flow.liberty.as_deref(),
        &work,
    )?;
    eprintln!("library: {}", lib.origin);
    out.adopt("work/cells.lib");

    eprintln!("simulating a training step for switching activity");
    let mut toggles = Toggles::default();
    let shape = StepShape {
        inputs: StepShape::default()
            .inputs
            .min(config.pe.operand_buffer_depth),
        ..Default::default()
    };
    pe_step::run_counting(&config, shape, ACTIVITY_SEED, None, Some(&mut toggles))
        .context("activity simulation")?;
    let pe_activity = BlockActivity {
        logic: Activity {
            registers: toggles.register_rate(),
            inputs: toggles.input_rate(),
            gates_closed: false,
        },
        memory_bits_per_cycle: toggles.memory_rate(),
        source: PE_ACTIVITY_SOURCE,
    };
    let module = if blocks.iter().any(|j| j.block != "pe") {
        eprintln!("simulating a training step of a small module for the other blocks' activity");
        module_activity(&config, &work.join("activity"))
            .context("activity simulation of the module")?
    } else {
        ModuleActivity::default()
    };

    let tiles = config.array.rows * config.array.cols;
    let mut reports = vec![];
    for job in &blocks {
        let block_activity = match (job.block, module.block(job.block)) {
            ("pe", _) | (_, None) => pe_activity,
            (_, Some(a)) => a,
        };
        // Blocks are flattened (but for their memories) as a full flow would, so that logic is
        // optimized across their submodules and the router's tied-off edge ports take away
        // what they feed. The PE keeps its lanes apart: they are identical, mapped once, and
        // its breakdown reports them.
        let is_pe = job.block == "pe";
        let lane = is_pe.then(|| format!("{}_lanes_0", job.file.top));
        // The PE's activity is its own simulation's (it has no module scope); the other
        // blocks' the module's.
        let module_sim = module_scope(job.block).filter(|_| module.run.tiles > 0);
        let in_module = module_sim.is_some();
        let (sim, sim_scope) = match module_sim {
            Some(scope) => (&module.toggles, scope),
            None => (&toggles, SimScope::default()),
        };
        let (mut r, syn, timing) = measure(
            &work,
            (&job.key, &job.name),
            &job.file,
            &lib,
            &config,
            block_activity,
            (lane, gating),
        )?;
        r.instances = job.instances;
        let dir = work.join(&job.key);
        let top = &job.file.top;
        // A further OpenSTA run of the block's netlist, its script and log kept.
        let mut analyze = |activity: Activity, script: &str, what: &str| -> Result<Timing> {
            let t = flow::analyze(
                &dir,
                &syn,
                top,
                &lib,
                config.clock.target_mhz,
                activity,
                script,
            )
            .with_context(|| format!("OpenSTA on {top} {what}"))?;
            for ext in ["tcl", "log"] {
                out.adopt(&format!("work/{}/{script}.{ext}", job.key));
            }
            Ok(t)
        };
        if is_pe {
            r.parts = pe_parts(&config, &r, &syn, &timing);
            let idle = Activity {
                registers: 0.0,
                inputs: 0.0,
                gates_closed: true,
            };
            let t = analyze(idle, "sta_idle", "at rest")?;
            // At rest its memories leak but are not accessed.
            r.idle_power_mw = Some(t.total_mw + r.sram_power_mw - r.sram_access_mw);
        }
        if gating == Gating::Gated && r.clock_gates > 0 {
            // Busy with every gate closed: what the gates save when closed is the difference
            // of the two analyses, the same activity on every net but the gated clocks: the
            // gated flip-flops' clock pins, the gates' outputs and the buffers below them. It
            // is charged as often as the gates pass.
            let closed = Activity {
                gates_closed: true,
                ..block_activity.logic
            };
            let c = analyze(closed, "sta_gated", "busy with its gates closed")?;
            let share = gates_open_share(&syn, top, sim, &sim_scope);
            r.gates_open_share = Some(share.open());
            let clock = (timing.total_mw - c.total_mw).max(0.0);
            r.busy_power_mw = Some(r.power_mw - (1.0 - share.open()) * clock);
            r.traffic_gates = match Traffic::of(job.block) {
                Some(traffic) if in_module => Some(TrafficGates {
                    traffic,
                    clock_mw: clock,
                    share,
                    sim_rate: module.run.rate(traffic),
                }),
                _ => None,
            };
        }
        for f in [
            "synth.ys",
            "synth_stat.txt",
            "sta.tcl",
            "sta.log",
            "netlist.v",
            "constraint.sdc",
            "synth.log",
            "map.ys",
            "map.log",
            "finish.ys",
            "finish.log",
            &job.file.file,
        ] {
            out.adopt(&format!("work/{}/{f}", job.key));
        }
        reports.push(r);
    }
    let total = |per_tile: bool, f: fn(&BlockReport) -> f64| -> f64 {
        reports
            .iter()
            .filter(|r| (r.top != HOST_TOP) == per_tile)
            .map(|r| f(r) * r.instances as f64)
            .sum()
    };
    // The mean tile: its blocks, and its share of the mesh's routers.
    let tile = Totals {
        area_um2: total(true, |r| r.area_um2) / tiles as f64,
        power_mw: total(true, |r| r.power_mw) / tiles as f64,
    };
    let module_area = total(true, |r| r.area_um2) + total(false, |r| r.area_um2);
    let module_power = total(true, |r| r.power_mw) + total(false, |r| r.power_mw);
    let busy = |r: &BlockReport| r.busy_power_mw.unwrap_or(r.power_mw);
    let module_busy_power = total(true, busy) + total(false, busy);
    let fmax = reports
        .iter()
        .map(|r| r.fmax_mhz)
        .fold(f64::INFINITY, f64::min);
    let clock_mhz = config.clock.target_mhz.min(fmax);
    let has_pe = blocks.iter().any(|j| j.block == "pe");
    let leakage_mw: f64 = reports
        .iter()
        .map(|r| r.leakage_mw * r.instances as f64)
        .sum();
    let charges = ModulePower {
        dynamic: Dynamic::of(&reports),
        leakage_mw,
        memory_rates: module.memory_rates(),
    };
    let networks = args
        .network_summaries
        .iter()
        .map(|p| network_figures(p, &config, tiles, &charges, clock_mhz))
        .collect::<Result<Vec<_>>>()?;
    let flat = if args.flat {
        eprintln!("synthesizing the whole module flat, to check the composition");
        let file = module_file(&config)?;
        let activity = BlockActivity {
            logic: Activity {
                registers: module.toggles.register_rate(),
                inputs: module.toggles.input_rate(),
                gates_closed: false,
            },
            memory_bits_per_cycle: module.toggles.memory_rate(),
            source: MODULE_ACTIVITY_SOURCE,
        };
        let (r, syn, _) = measure(
            &work,
            (FLAT, "whole module, flat"),
            &file,
            &lib,
            &config,
            activity,
            (None, Gating::None),
        )?;
        for f in ["synth_stat.txt", "sta.log"] {
            out.adopt(&format!("work/{FLAT}/{f}"));
        }
        let error = |composed: f64, flat: f64| composed / flat - 1.0;
        Some(FlatCheck {
            area_error: error(module_area, r.area_um2),
            leakage_error: error(leakage_mw, r.leakage_mw),
            fmax_error: error(fmax, r.fmax_mhz),
            area_um2: r.area_um2,
            leakage_mw: r.leakage_mw,
            composed_leakage_mw: leakage_mw,
            fmax_mhz: r.fmax_mhz,
            cells: syn.cells,
        })
    } else {
        None
    };
    let report = Report {
        library: lib.origin.clone(),
        target_mhz: config.clock.target_mhz,
        fmax_mhz: fmax,
        area_um2: module_area,
        power_mw: module_power,
        busy_power_mw: module_busy_power,
        peak_gops: if has_pe {
            OPS_PER_MAC * (config.pe.lanes * tiles) as f64 * clock_mhz * 1e-3
        } else {
            0.0
        },
        tiles,
        tile,
        blocks: reports,
        networks,
        memory_rates: charges.memory_rates,
        flat,
        scope: "the tiles (each with one router, the mesh's) and the host interface".into(),
    };
    let json = serde_json::to_string_pretty(&report)?;
    let md = markdown(&report);
    out.write("ppa.json", &json)?;
    out.write("ppa.md", &md)?;
    out.write("ppa.svg", svg(&report))?;
    if let Some(pe) = blocks.iter().find(|j| j.block == "pe").map(|j| &j.file) {
        write_openroad_design(
            &mut out,
            &pe.file,
            &pe.top,
            &pe.text,
            config.clock.target_mhz,
        )?;
    }
    out.commit()?;
    if args.json {
        println!("{json}");
    } else {
        println!("{md}");
        println!("written to {}", args.out.display());
    }
    Ok(())
}

fn markdown(r: &Report) -> String {
    let mut s = format!(
        "# PPA: {} tiles at {:.0} MHz\n\nlibrary: {}\n\n| figure | value |\n|---|---|\n\
         | area | {:.0} um^2 ({:.0} per tile) |\n| fmax | {:.0} MHz (slowest block) |\n\
         | power at {:.0} MHz, every clock gate open | {:.1} mW ({:.2} per tile) |\n\
         | power at {:.0} MHz, busy, gates open as in the activity simulations | {:.1} mW |\n\
         | peak | {:.1} GOPS |\n\n\
         | block | area (um^2) | power (mW) | fmax (MHz) | cells | activity |\n|---|---|---|---|---|---|\n",
        r.tiles, r.target_mhz, r.library, r.area_um2, r.tile.area_um2, r.fmax_mhz, r.target_mhz, r.power_mw,
        r.tile.power_mw, r.target_mhz, r.busy_power_mw, r.peak_gops
    );
    for b in &r.blocks {
        s.push_str(&format!(
            "| {} | {:.1} | {:.3} | {:.0} | {} | {:.3} ({}) |\n",
            b.name,
            b.area_um2,
            b.power_mw,
            b.fmax_mhz,
            b.cells,
            b.register_activity,
            b.activity_source
        ));
        for p in &b.parts {
            s.push_str(&format!(
                "| &nbsp;&nbsp;{} | {:.1} | {:.3} | | | |\n",
                p.name, p.area_um2, p.power_mw
            ));
        }
    }
    for b in r.blocks.iter().filter(|b| b.clock_gates > 0) {
        s.push_str(&format!(
            "\nClock gating, {}: {} gates over {} flip-flops; busy {:.3} mW with every gate open",
            b.name, b.clock_gates, b.gated_flip_flops, b.power_mw,
        ));
        if let (Some(busy), Some(share)) = (b.busy_power_mw, b.gates_open_share) {
            s.push_str(&format!(
                ", {busy:.3} mW with each open as often as its enable was high in the activity \
                 simulation ({:.1}% of the gated flip-flops' clock cycles)",
                100.0 * share
            ));
        }
        match (b.idle_power_mw, b.traffic_gates) {
            (Some(idle), _) => s.push_str(&format!(
                "; at rest (gates closed) {idle:.3} mW. The networks are charged the rest \
                 figure and the busy one's excess in proportion to their utilization.\n"
            )),
            (None, Some(g)) => s.push_str(&format!(
                ". The networks are charged its gated clock ({:.3} mW with every gate open; those \
                 with derived enables, {:.1}% of the gated flip-flops, always open) in \
                 proportion to their {} per tile and cycle ({:.4} in the activity simulation).\n",
                g.clock_mw,
                100.0 * g.share.always_open,
                g.traffic.name(),
                g.sim_rate
            )),
            _ => s.push_str(". The networks are charged the figure with the gates as simulated.\n"),
        }
    }
    if !r.networks.is_empty() {
        s.push_str(
            "\n| network | GOPS | logic GOPS/W | system GOPS/W | DRAM-bound GOPS/W | utilization | cycles | DRAM bytes (per MAC) | logic uJ (SRAM accesses) | DRAM uJ |\n|---|---|---|---|---|---|---|---|---|---|\n",
        );
        for n in &r.networks {
            s.push_str(&format!(
                "| {} | {:.2} | {:.1} | {:.1} | {:.1} | {:.4} | {} | {} ({:.2}) | {:.2} ({:.2}) | {:.2} |\n",
                n.name,
                n.gops,
                n.logic_gops_per_w,
                n.system_gops_per_w,
                n.dram_bound_gops_per_w,
                n.utilization,
                n.cycles,
                n.dram_bytes,
                n.dram_bytes_per_mac,
                n.logic_energy_uj,
                n.sram_energy_uj,
                n.dram_energy_uj
            ));
        }
        s.push_str(&format!(
            "\nMemory accesses charged per network (measured over the module's activity step): \
             the PE feeder's {:.1} bits per PE beat, the other blocks' {:.1} bits per DRAM byte.\n",
            r.memory_rates.feeder_bits_per_busy_cycle, r.memory_rates.bits_per_dram_byte
        ));
    }
    if let Some(f) = &r.flat {
        s.push_str(&format!(
            "\nComposition against the whole module synthesized flat ({} cells):\n\n\
             | figure | composed | flat | error |\n|---|---|---|---|\n\
             | area (um^2) | {:.0} | {:.0} | {:+.1}% |\n\
             | logic leakage (mW) | {:.3} | {:.3} | {:+.1}% |\n\
             | fmax (MHz) | {:.0} | {:.0} | {:+.1}% |\n",
            f.cells,
            r.area_um2,
            f.area_um2,
            100.0 * f.area_error,
            f.composed_leakage_mw,
            f.leakage_mw,
            100.0 * f.leakage_error,
            r.fmax_mhz,
            f.fmax_mhz,
            100.0 * f.fmax_error
        ));
    }
    if let Some(slowest) = r
        .blocks
        .iter()
        .min_by(|a, b| a.fmax_mhz.total_cmp(&b.fmax_mhz))
    {
        s.push_str(&format!(
            "\nCritical path ({}):\n\n```\n{}\n```\n",
            slowest.name,
            slowest.critical_path.trim_end()
        ));
    }
    s
}

/// Bar charts of the tile's area and power by block.
fn svg(r: &Report) -> String {
    let row = 26.0;
    let (label_w, bar_w) = (190.0, 380.0);
    let rows = 2 * r.blocks.len() + 4;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"13\">\n",
        label_w + bar_w + 120.0,
        rows as f64 * row
    );
    let mut y = row;
    for (title, unit, get, color) in [
        (
            "Tile area by block",
            "um^2",
            (|b: &BlockReport| b.area_um2) as fn(&BlockReport) -> f64,
            "#4477aa",
        ),
        (
            "Tile power by block",
            "mW",
            (|b: &BlockReport| b.power_mw) as fn(&BlockReport) -> f64,
            "#cc6677",
        ),
    ] {
        s.push_str(&format!(
            "<text x=\"10\" y=\"{y:.0}\" font-weight=\"bold\">{title} ({unit})</text>\n"
        ));
        y += 8.0;
        let max = r.blocks.iter().map(get).fold(1e-12, f64::max);
        for b in &r.blocks {
            let v = get(b);
            let w = bar_w * v / max;
            s.push_str(&format!(
                "<text x=\"10\" y=\"{:.0}\">{}</text>\n",
                y + 14.0,
                b.name
            ));
            s.push_str(&format!("<rect x=\"{label_w}\" y=\"{y:.0}\" width=\"{w:.1}\" height=\"16\" fill=\"{color}\"/>\n"));
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.0}\">{v:.2}</text>\n",
                label_w + w + 6.0,
                y + 14.0
            ));
            y += row;
        }
        y += row;
    }
    s.push_str("</svg>\n");
    s
}

/// An OpenROAD-flow-scripts design directory: `config.mk`, `constraint.sdc` and the Verilog.
/// ORFS has no NanGate 15nm platform; the default platform is nangate45 (whose library times are
/// in ns, as the SDC here is).
fn write_openroad_design(
    out: &mut Staged,
    file: &str,
    top: &str,
    verilog: &str,
    target_mhz: f64,
) -> Result<()> {
    let period_ns = 1.0e3 / target_mhz;
    out.write(&format!("openroad/{file}"), verilog)?;
    out.write(
        "openroad/constraint.sdc",
        format!(
            "# Clock for {top} at {target_mhz} MHz, in ns as ORFS's nangate45 platform uses.\n\
             create_clock -name core_clock -period {period_ns:.4} [get_ports clock]\n\
             set_input_delay 0 -clock core_clock [delete_from_list [all_inputs] [get_ports clock]]\n\
             set_output_delay 0 -clock core_clock [all_outputs]\n"
        ),
    )?;
    out.write(
        "openroad/config.mk",
        format!(
            "# OpenROAD-flow-scripts design: copy this folder to flow/designs/<platform>/{top}/ and run\n\
             #   make DESIGN_CONFIG=./designs/<platform>/{top}/config.mk\n\
             # Memories are stubbed (NT_MEMORY_STUBS): place SRAM macros for them to go further.\n\
             export DESIGN_NAME = {top}\n\
             export PLATFORM ?= nangate45\n\
             export VERILOG_FILES = $(DESIGN_HOME)/src/{top}/{file}\n\
             export VERILOG_DEFINES = -DNT_MEMORY_STUBS\n\
             export SDC_FILE = $(DESIGN_HOME)/$(PLATFORM)/{top}/constraint.sdc\n\
             export CORE_UTILIZATION = 40\n\
             export PLACE_DENSITY = 0.60\n"
        ),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock_gating::{GateEnable, Gated};
    use std::collections::BTreeMap;

    #[test]
    fn a_modules_scope_is_its_name_past_the_tops() {
        assert_eq!(scope_of("nt_pe", "nt_pe"), "");
        assert_eq!(scope_of("nt_pe", "nt_pe_lanes_0"), "lanes");
        assert_eq!(scope_of("nt_pe", "nt_pe_reuse_buffer"), "reuse_buffer");
        assert_eq!(scope_of("nt_pe", "other"), "");
    }

    /// Two lanes, each with a gate on a simulated flag high a quarter of the time (10 flip-
    /// flops) and a gate on a derived enable (30); the top's own gate on a port always high.
    #[test]
    fn gates_are_open_as_often_as_the_flags_they_are_named_after() {
        let enable = |names: &[&str], flops| GateEnable {
            names: names.iter().map(|n| n.to_string()).collect(),
            flops,
        };
        let gated = |enables: Vec<GateEnable>| Gated {
            gates: enables.len(),
            flops: enables.iter().map(|e| e.flops).sum(),
            enables,
        };
        let syn = Synthesis {
            modules: BTreeMap::from([
                ("t".into(), (0.0, BTreeMap::from([("t_lanes_0".into(), 2)]))),
                ("t_lanes_0".into(), (0.0, BTreeMap::new())),
            ]),
            cells: 0,
            buffers: 0,
            gated: BTreeMap::from([
                (
                    "t_lanes_0".into(),
                    gated(vec![enable(&["k2_emit.q"], 10), enable(&[], 30)]),
                ),
                ("t".into(), gated(vec![enable(&["go"], 20)])),
            ]),
            netlist: Default::default(),
        };
        let mut toggles = Toggles::default();
        toggles.duty.insert("lanes/k2_emit/q".into(), (2, 8));
        toggles.duty.insert("go".into(), (5, 5));
        let share = gates_open_share(&syn, "t", &toggles, &SimScope::default());
        // (2 x 10 x 0.25 + 2 x 30 x 1 + 20 x 1) / (2 x 40 + 20), the derived enables' 60 always
        assert!((share.open() - 85.0 / 100.0).abs() < 1e-12, "{share:?}");
        assert!(
            (share.always_open - 60.0 / 100.0).abs() < 1e-12,
            "{share:?}"
        );
        toggles.duty.insert("go".into(), (0, 5));
        let share = gates_open_share(&syn, "t", &toggles, &SimScope::default());
        assert!((share.open() - 65.0 / 100.0).abs() < 1e-12, "{share:?}");
    }

    /// A flattened block's net names: scopes lose their array index as the simulation's do, an
    /// array element's index becomes the simulation's `$N`.
    #[test]
    fn net_names_map_to_simulation_paths() {
        assert_eq!(sim_paths("k2_emit.q"), ["k2_emit/q"]);
        assert!(sim_paths("banks_7.act").contains(&"banks/act".to_string()));
        assert!(sim_paths("wq_join_3").contains(&"wq_join$3".to_string()));
        assert!(sim_paths("streams_2.step_0").contains(&"streams/step$0".to_string()));
        assert_eq!(sim_paths("go"), ["go"]);
    }

    /// A router's design wraps it in an instance; its gates' enables are found under the mesh's
    /// routers, each slot's write by its index.
    #[test]
    fn a_wrapped_blocks_enables_are_found_in_the_module_simulation() {
        let syn = Synthesis {
            modules: BTreeMap::from([("nt_router_n2".into(), (0.0, BTreeMap::new()))]),
            cells: 0,
            buffers: 0,
            gated: BTreeMap::from([(
                "nt_router_n2".into(),
                Gated {
                    gates: 2,
                    flops: 130,
                    enables: vec![
                        GateEnable {
                            names: vec!["router.fifos_1.slot_write_2".into()],
                            flops: 65,
                        },
                        GateEnable {
                            names: vec!["fifos_1.slot_write_3".into()],
                            flops: 65,
                        },
                    ],
                },
            )]),
            netlist: Default::default(),
        };
        let mut toggles = Toggles::default();
        toggles
            .duty
            .insert("mesh/routers/fifos/slot_write$2".into(), (1, 10));
        toggles
            .duty
            .insert("mesh/routers/fifos/slot_write$3".into(), (1, 10));
        let sim = module_scope("router").unwrap();
        let share = gates_open_share(&syn, "nt_router_n2", &toggles, &sim);
        // The second name lies outside the wrapped instance: no signal of the simulation.
        assert!((share.by_enable - 0.05).abs() < 1e-12, "{share:?}");
        assert!((share.always_open - 0.5).abs() < 1e-12, "{share:?}");
    }

    /// A block's gated clock opens with its traffic against the activity simulation's, never
    /// less than its gates with derived enables nor more than every gate.
    #[test]
    fn traffic_gates_open_with_the_traffic() {
        let g = TrafficGates {
            traffic: Traffic::DramBytes,
            clock_mw: 10.0,
            share: GateShare {
                always_open: 0.2,
                by_enable: 0.1,
            },
            sim_rate: 0.5,
        };
        assert!((g.open_at(0.5) - 0.3).abs() < 1e-12);
        assert!((g.open_at(1.0) - 0.4).abs() < 1e-12);
        assert!((g.open_at(0.0) - 0.2).abs() < 1e-12);
        assert!((g.open_at(100.0) - 1.0).abs() < 1e-12);
        let run = |dram_bytes, noc_flits| RunTotals {
            tiles: 2,
            cycles: 100,
            dram_bytes,
            noc_flits,
            ..Default::default()
        };
        let d = Dynamic {
            base_mw: 5.0,
            busy_excess_mw: 0.0,
            traffic_gates: vec![(2.0, g)],
        };
        // 100 bytes a tile and cycle: 2 x 10 mW x (0.4 - 0.2) over the base; flits do not count.
        assert!((d.at(0.0, &run(200, 0)) - 9.0).abs() < 1e-12);
        assert!((d.at(0.0, &run(200, 5000)) - 9.0).abs() < 1e-12);
        assert!((d.at(0.0, &run(0, 0)) - 5.0).abs() < 1e-12);
    }
}
