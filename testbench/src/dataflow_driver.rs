//! Drives the data-flow engine: loads a program through the host port, starts it, and serves its
//! memory port with an in-order memory (the vault controller's protocol: burst requests, write
//! beats under byte masks, read beats with the request's tag) with random back-pressure and
//! latency. Records what the engine asked for, what it delivered, and every cycle's ports for
//! replay into the emitted Verilog.

use crate::cosim::{run_icarus, Port};
use crate::dram::{Beat, Command};
use crate::module_driver::DRAIN_LIMIT_CYCLES;
use crate::sim::{Clocked, ClockedBlock, MAX_SETTLE_PASSES};
use anyhow::{bail, ensure, Result};
use nt_hdl::dataflow_engine::{DataflowEngine, SPACE_BITS, UNLIMITED_SPACE};
use nt_hdl::vault_controller::{VaultController, MASK_BITS, TAG_BITS};
use nt_hdl::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rust_hdl::prelude::*;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// The data-flow engine's top-level Verilog module name.
pub const ENGINE_TOP: &str = "nt_dataflow_engine";

impl ClockedBlock for DataflowEngine {
    fn clock_mut(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
}

/// The initial contents of memory: a byte pattern of the address, so every read is checkable.
pub fn initial_byte(addr: u64) -> u8 {
    (addr.wrapping_mul(7) ^ (addr >> 8) ^ (addr >> 16)) as u8
}

/// How the memory side behaves.
#[derive(Clone, Debug)]
pub struct MemoryBehaviour {
    /// Probability that the request port is not ready in a cycle.
    pub stall: f64,
    /// Read latency range in cycles (from acceptance to the first beat).
    pub latency: (u64, u64),
    pub seed: u64,
}

impl Default for MemoryBehaviour {
    fn default() -> Self {
        MemoryBehaviour {
            stall: 0.2,
            latency: (3, 12),
            seed: 1,
        }
    }
}

/// What a run did.
#[derive(Clone, Debug, Default)]
pub struct DataflowRun {
    /// Element accesses in request order: (slot, element byte address, write).
    pub accesses: Vec<(u8, u64, bool)>,
    /// Elements delivered on the A and B ports, with their destination code and tile.
    pub a: Vec<(u32, u8, u8)>,
    pub b: Vec<(u32, u8, u8)>,
    /// Bytes written (address -> value), over the initial pattern.
    pub written: HashMap<u64, u8>,
    pub done: bool,
    pub error_code: u64,
    pub error_count: u64,
    pub elements: u64,
    pub cycles: u64,
    pub inputs: Vec<Vec<u64>>,
    pub outputs: Vec<Vec<u64>>,
}

pub fn input_ports(words: usize) -> Vec<Port> {
    let mut p = vec![
        Port::new("prog_we", 1),
        Port::new("prog_addr", 8),
        Port::new("prog_data", 32),
        Port::new("start", 1),
        Port::new("mem_req_ready", 1),
        Port::new("mem_wd_ready", 1),
        Port::new("mem_resp_valid", 1),
        Port::new("mem_resp_last", 1),
        Port::new("mem_resp_tag", TAG_BITS),
        Port::new("w_valid", 1),
        Port::new("w_data", 32),
    ];
    p.extend((0..words).map(|i| Port::new(format!("mem_resp_data_{i}"), 32)));
    p.extend([
        Port::new("a_space", SPACE_BITS),
        Port::new("b_space", SPACE_BITS),
        Port::new("ext_busy", 1),
    ]);
    p
}

pub fn output_ports(words: usize) -> Vec<Port> {
    let mut p = vec![
        Port::new("busy", 1),
        Port::new("done", 1),
        Port::new("error", 1),
        Port::new("error_code", 4),
        Port::new("error_count", 16),
        Port::new("elements", 32),
        Port::new("mem_req_valid", 1),
        Port::new("mem_req_write", 1),
        Port::new("mem_req_addr", 32),
        Port::new("mem_req_tag", TAG_BITS),
        Port::new("mem_wd_valid", 1),
        Port::new("mem_wd_mask", MASK_BITS),
        Port::new("a_valid", 1),
        Port::new("a_data", 32),
        Port::new("a_dest", 2),
        Port::new("a_tile", 8),
        Port::new("b_valid", 1),
        Port::new("b_data", 32),
        Port::new("b_dest", 2),
        Port::new("b_tile", 8),
        Port::new("w_ready", 1),
    ];
    p.extend((0..words).map(|i| Port::new(format!("mem_wd_data_{i}"), 32)));
    p
}

fn apply(e: &mut DataflowEngine, r: &[u64]) {
    e.prog_we.next = r[0] != 0;
    e.prog_addr.next = r[1].into();
    e.prog_data.next = r[2].into();
    e.start.next = r[3] != 0;
    e.mem_req_ready.next = r[4] != 0;
    e.mem_wd_ready.next = r[5] != 0;
    e.mem_resp_valid.next = r[6] != 0;
    e.mem_resp_last.next = r[7] != 0;
    e.mem_resp_tag.next = r[8].into();
    e.w_valid.next = r[9] != 0;
    e.w_data.next = r[10].into();
    let words = e.mem_resp_data.len();
    for (w, s) in e.mem_resp_data.iter_mut().enumerate() {
        s.next = r[11 + w].into();
    }
    e.a_space.next = r[11 + words].into();
    e.b_space.next = r[12 + words].into();
    e.ext_busy.next = r[13 + words] != 0;
}

fn sample(e: &DataflowEngine) -> Vec<u64> {
    let mut r = vec![
        e.busy.val() as u64,
        e.done.val() as u64,
        e.error.val() as u64,
        e.error_code.val().to_u64(),
        e.error_count.val().to_u64(),
        e.elements.val().to_u64(),
        e.mem_req_valid.val() as u64,
        e.mem_req_write.val() as u64,
        e.mem_req_addr.val().to_u64(),
        e.mem_req_tag.val().to_u64(),
        e.mem_wd_valid.val() as u64,
        e.mem_wd_mask.val().to_u64(),
        e.a_valid.val() as u64,
        e.a_data.val().to_u64(),
        e.a_dest.val().to_u64(),
        e.a_tile.val().to_u64(),
        e.b_valid.val() as u64,
        e.b_data.val().to_u64(),
        e.b_dest.val().to_u64(),
        e.b_tile.val().to_u64(),
        e.w_ready.val() as u64,
    ];
    r.extend(e.mem_wd_data.iter().map(|s| s.val().to_u64()));
    r
}

enum Pending {
    Read { tag: u64, addr: u64, at: u64 },
    Write { addr: u64 },
}

/// Runs `program` (encoded words) to completion, fault or `max_cycles`; `w_source` are the values
/// offered on the write-back port, in order. `runs` > 1 starts the program again after each end.
pub fn run_rust(
    config: &Config,
    program: &[u32],
    w_source: &[u32],
    mem: &MemoryBehaviour,
    max_cycles: u64,
    record: bool,
) -> Result<DataflowRun> {
    let d = &config.dram;
    let words = d.bytes_per_cycle / 4;
    let bpc = d.bytes_per_cycle as u64;
    let bl = d.timing().bl as u64;
    let burst = d.burst_bytes() as u64;
    ensure!(
        program.len() <= 256,
        "program of {} words exceeds program memory",
        program.len()
    );
    let mut rng = ChaCha8Rng::seed_from_u64(mem.seed);
    let mut sim = Clocked::new(DataflowEngine::new(config))?;
    let mut run = DataflowRun::default();
    let mut pending: VecDeque<Pending> = VecDeque::new();
    let mut rbeat = 0u64;
    let mut wbeat = 0u64;
    let mut w_next = 0usize;
    let read = |written: &HashMap<u64, u8>, a: u64| {
        written.get(&a).copied().unwrap_or_else(|| initial_byte(a))
    };
    let load_cycles = program.len() as u64 + 1;
    for n in 0..max_cycles {
        let mut row = vec![0u64; 14 + words];
        // No consumer back-pressure: the streams' consumers here take every element.
        row[11 + words] = UNLIMITED_SPACE;
        row[12 + words] = UNLIMITED_SPACE;
        if (n as usize) < program.len() {
            row[0] = 1;
            row[1] = n;
            row[2] = program[n as usize] as u64;
        }
        row[3] = (n + 1 == load_cycles) as u64;
        row[4] = (!rng.gen_bool(mem.stall)) as u64;
        row[5] = (!rng.gen_bool(mem.stall)) as u64;
        // The head read's next beat, once its latency has passed.
        if let Some(Pending::Read { tag, addr, at }) = pending.front() {
            if n >= *at {
                row[6] = 1;
                row[7] = (rbeat + 1 == bl) as u64;
                row[8] = *tag;
                for w in 0..words as u64 {
                    let a = addr + rbeat * bpc + 4 * w;
                    let v = u32::from_le_bytes([0, 1, 2, 3].map(|i| read(&run.written, a + i)));
                    row[11 + w as usize] = v as u64;
                }
            }
        }
        if w_next < w_source.len() {
            row[9] = 1;
            row[10] = w_source[w_next] as u64;
        }
        apply(&mut sim.uut, &row);
        if !simulate(&mut sim.uut, MAX_SETTLE_PASSES) {
            bail!("engine failed to settle at cycle {n}");
        }
        let pre = sample(&sim.uut);
        // What this cycle's edge accepts.
        if pre[6] != 0 && row[4] != 0 {
            let (addr, tag) = (pre[8], pre[9]);
            ensure!(
                addr % burst == 0,
                "cycle {n}: request address {addr:#x} not burst aligned"
            );
            let slot = (tag >> 6) as u8;
            run.accesses.push((slot, addr + (tag & 63), pre[7] != 0));
            if pre[7] != 0 {
                pending.push_back(Pending::Write { addr });
            } else {
                let at = n + 1 + rng.gen_range(mem.latency.0..=mem.latency.1);
                pending.push_back(Pending::Read { tag, addr, at });
            }
        }
        if pre[20] != 0 {
            w_next += 1;
        }
        if pre[10] != 0 && row[5] != 0 {
            // A write beat: it belongs to the oldest write request.
            let Some(Pending::Write { addr }) =
                pending.iter().find(|p| matches!(p, Pending::Write { .. }))
            else {
                bail!("cycle {n}: write beat with no write request");
            };
            let addr = *addr;
            for byte in 0..bpc {
                if pre[11] >> byte & 1 == 1 {
                    let word = (pre[21 + (byte / 4) as usize] >> (8 * (byte % 4))) as u8;
                    run.written.insert(addr + wbeat * bpc + byte, word);
                }
            }
            wbeat += 1;
            if wbeat == bl {
                wbeat = 0;
                let i = pending
                    .iter()
                    .position(|p| matches!(p, Pending::Write { .. }))
                    .unwrap();
                pending.remove(i);
            }
        }
        if row[6] != 0 {
            rbeat += 1;
            if rbeat == bl {
                rbeat = 0;
                pending.pop_front();
            }
        }
        sim.tick()?;
        let out = sample(&sim.uut);
        if out[12] != 0 {
            run.a.push((out[13] as u32, out[14] as u8, out[15] as u8));
        }
        if out[16] != 0 {
            run.b.push((out[17] as u32, out[18] as u8, out[19] as u8));
        }
        run.cycles = n + 1;
        run.done = out[1] != 0;
        run.error_code = out[3];
        run.error_count = out[4];
        run.elements = out[5];
        if record {
            run.inputs.push(row);
            run.outputs.push(out.clone());
        }
        if n > load_cycles + 2 && (out[1] != 0 || out[2] != 0) && pending.is_empty() {
            break;
        }
    }
    Ok(run)
}

/// Replays recorded inputs into the emitted Verilog under Icarus.
pub fn run_verilog(
    config: &Config,
    verilog: &str,
    inputs: &[Vec<u64>],
    workdir: &Path,
) -> Result<Vec<Vec<u64>>> {
    let words = config.dram.bytes_per_cycle / 4;
    run_icarus(
        workdir,
        verilog,
        ENGINE_TOP,
        "clock",
        &input_ports(words),
        &output_ports(words),
        inputs,
    )
}

/// What a run of the engine on the real memory path did.
#[derive(Clone, Debug, Default)]
pub struct TileRun {
    pub a: Vec<u32>,
    pub b: Vec<u32>,
    pub done: bool,
    pub error_code: u64,
    pub cycles: u64,
    pub dram: crate::dram::Stats,
}

/// Runs `program` on the engine connected to the rust-hdl vault controller, whose DRAM commands
/// go through the DRAM model and its timing checker. `init` is loaded into DRAM first.
/// The controller's command and write beat of this cycle, as the DRAM model takes them. Its
/// outputs depend on its registers only, so they are read before the clock edge.
fn dram_side(v: &VaultController) -> (Command, Option<Beat>) {
    let cmd = Command::decode(
        v.cmd.val().to_u64(),
        v.cmd_bank.val().to_u64() as usize,
        v.cmd_row.val().to_u64() as usize,
        v.cmd_col.val().to_u64() as usize,
    );
    let wbeat = v.dram_wvalid.val().then(|| Beat {
        words: v
            .dram_wdata
            .iter()
            .map(|s| s.val().to_u64() as u32)
            .collect(),
        mask: v.dram_wmask.val().to_u64() as u32,
    });
    (cmd, wbeat)
}

pub fn run_on_vault(
    config: &Config,
    program: &[u32],
    w_source: &[u32],
    init: &[(u64, Vec<u8>)],
    max_cycles: u64,
) -> Result<(TileRun, crate::dram::Dram)> {
    use crate::dram::Dram;
    let words = config.dram.bytes_per_cycle / 4;
    let mut eng = Clocked::new(DataflowEngine::new(config))?;
    let mut vc = Clocked::new(VaultController::new(config))?;
    let mut dram = Dram::new(&config.dram);
    for (addr, bytes) in init {
        dram.poke(*addr, bytes);
    }
    let mut run = TileRun::default();
    let mut w_next = 0usize;
    let load_cycles = program.len() as u64 + 1;
    for n in 0..max_cycles {
        // The controller's outputs depend on its registers only: the DRAM sees this cycle's command.
        let (cmd, wbeat) = dram_side(&vc.uut);
        let next_rbeat = dram
            .step(cmd, wbeat.as_ref())
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        // Engine inputs: host port, controller outputs, the write-back source.
        let e = &mut eng.uut;
        e.prog_we.next = (n as usize) < program.len();
        e.prog_addr.next = (n.min(255)).into();
        e.prog_data.next = (program.get(n as usize).copied().unwrap_or(0) as u64).into();
        e.start.next = n + 1 == load_cycles;
        e.mem_req_ready.next = vc.uut.req_ready.val();
        e.mem_wd_ready.next = vc.uut.wd_ready.val();
        e.mem_resp_valid.next = vc.uut.resp_valid.val();
        e.mem_resp_last.next = vc.uut.resp_last.val();
        e.mem_resp_tag.next = vc.uut.resp_tag.val();
        for w in 0..words {
            e.mem_resp_data[w].next = vc.uut.resp_data[w].val();
        }
        e.a_space.next = UNLIMITED_SPACE.into();
        e.b_space.next = UNLIMITED_SPACE.into();
        e.ext_busy.next = false;
        e.w_valid.next = w_next < w_source.len();
        e.w_data.next = (w_source.get(w_next).copied().unwrap_or(0) as u64).into();
        if !simulate(&mut eng.uut, MAX_SETTLE_PASSES) {
            bail!("engine failed to settle at cycle {n}");
        }
        if eng.uut.w_ready.val() {
            w_next += 1;
        }
        // Controller inputs: the engine's requests and write beats, the DRAM's read beat.
        let (e, v) = (&eng.uut, &mut vc.uut);
        v.req_valid.next = e.mem_req_valid.val();
        v.req_write.next = e.mem_req_write.val();
        v.req_addr.next = e.mem_req_addr.val();
        v.req_tag.next = e.mem_req_tag.val();
        v.wd_valid.next = e.mem_wd_valid.val();
        v.wd_mask.next = e.mem_wd_mask.val();
        for w in 0..words {
            v.wd_data[w].next = e.mem_wd_data[w].val();
            v.dram_rdata[w].next = (next_rbeat.as_ref().map_or(0, |b| b.words[w]) as u64).into();
        }
        v.counter_clear.next = false;
        eng.tick()?;
        vc.tick()?;
        if eng.uut.a_valid.val() {
            run.a.push(eng.uut.a_data.val().to_u64() as u32);
        }
        if eng.uut.b_valid.val() {
            run.b.push(eng.uut.b_data.val().to_u64() as u32);
        }
        run.cycles = n + 1;
        run.done = eng.uut.done.val();
        run.error_code = eng.uut.error_code.val().to_u64();
        if n > load_cycles + 2 && (run.done || eng.uut.error.val()) && !vc.uut.dram_wvalid.val() {
            // Let queued writes drain into the DRAM (a refresh may hold them for a while).
            for _ in 0..DRAIN_LIMIT_CYCLES {
                if vc.uut.idle.val() {
                    break;
                }
                let (cmd, wbeat) = dram_side(&vc.uut);
                dram.step(cmd, wbeat.as_ref())
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                vc.uut.req_valid.next = false;
                vc.uut.wd_valid.next = false;
                vc.tick()?;
            }
            ensure!(
                vc.uut.idle.val(),
                "the vault controller still held requests {DRAIN_LIMIT_CYCLES} cycles after the run"
            );
            break;
        }
    }
    run.dram = dram.stats;
    Ok((run, dram))
}
