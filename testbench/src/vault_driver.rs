//! Drives the vault controller with the DRAM model in the loop: a request stream goes in, every
//! DRAM command and write beat goes through the timing checker, every read response is checked
//! against a scoreboard (each read returns the data of the last write to its address), and every
//! cycle's ports are recorded so the same cycles can be replayed into the emitted Verilog.

use crate::cosim::{run_icarus, Port};
use crate::dram::{Beat, Command, Dram, Stats};
use crate::sim::{Clocked, ClockedBlock};
use anyhow::{bail, ensure, Context, Result};
use nt_hdl::bank_machine::ROW_BITS;
use nt_hdl::vault_controller::{
    VaultController, BANK_BITS, COL_BITS, COUNTER_BITS, MASK_BITS, TAG_BITS,
};
use nt_hdl::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, VecDeque};
use std::path::Path;

/// The vault controller's top-level Verilog module name.
pub const VAULT_TOP: &str = "nt_vault_controller";

impl ClockedBlock for VaultController {
    fn clock_mut(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
}

use rust_hdl::prelude::*;

/// One request: a whole burst at a burst-aligned byte address; writes carry data and a byte mask.
#[derive(Clone, Debug)]
pub struct Op {
    pub write: bool,
    pub addr: u64,
    pub data: Vec<u8>,
    pub mask: Vec<bool>,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct RunStats {
    /// Cycles from the first request presented to the last read beat returned.
    pub cycles: u64,
    pub reads_checked: usize,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub row_hits: u64,
    pub row_misses: u64,
    pub refresh_stalls: u64,
    pub dram: Stats,
}

/// A run: its statistics and, when recorded, every cycle's inputs and outputs.
pub struct VaultRun {
    pub stats: RunStats,
    pub inputs: Vec<Vec<u64>>,
    pub outputs: Vec<Vec<u64>>,
}

pub fn input_ports(words: usize) -> Vec<Port> {
    let mut p = vec![
        Port::new("req_valid", 1),
        Port::new("req_write", 1),
        Port::new("req_addr", 32),
        Port::new("req_tag", TAG_BITS),
        Port::new("wd_valid", 1),
        Port::new("wd_mask", MASK_BITS),
        Port::new("counter_clear", 1),
    ];
    p.extend((0..words).map(|i| Port::new(format!("wd_data_{i}"), 32)));
    p.extend((0..words).map(|i| Port::new(format!("dram_rdata_{i}"), 32)));
    p
}

pub fn output_ports(words: usize) -> Vec<Port> {
    let mut p = vec![
        Port::new("req_ready", 1),
        Port::new("wd_ready", 1),
        Port::new("resp_valid", 1),
        Port::new("resp_last", 1),
        Port::new("resp_tag", TAG_BITS),
        Port::new("cmd", 3),
        Port::new("cmd_bank", BANK_BITS),
        Port::new("cmd_row", ROW_BITS),
        Port::new("cmd_col", COL_BITS),
        Port::new("dram_wvalid", 1),
        Port::new("dram_wmask", MASK_BITS),
        Port::new("bytes_read", COUNTER_BITS),
        Port::new("bytes_written", COUNTER_BITS),
        Port::new("row_hits", COUNTER_BITS),
        Port::new("row_misses", COUNTER_BITS),
        Port::new("refresh_stalls", COUNTER_BITS),
        Port::new("idle", 1),
    ];
    p.extend((0..words).map(|i| Port::new(format!("resp_data_{i}"), 32)));
    p.extend((0..words).map(|i| Port::new(format!("dram_wdata_{i}"), 32)));
    p
}

fn sample(v: &VaultController) -> Vec<u64> {
    let mut r = vec![
        v.req_ready.val() as u64,
        v.wd_ready.val() as u64,
        v.resp_valid.val() as u64,
        v.resp_last.val() as u64,
        v.resp_tag.val().to_u64(),
        v.cmd.val().to_u64(),
        v.cmd_bank.val().to_u64(),
        v.cmd_row.val().to_u64(),
        v.cmd_col.val().to_u64(),
        v.dram_wvalid.val() as u64,
        v.dram_wmask.val().to_u64(),
        v.bytes_read.val().to_u64(),
        v.bytes_written.val().to_u64(),
        v.row_hits.val().to_u64(),
        v.row_misses.val().to_u64(),
        v.refresh_stalls.val().to_u64(),
        v.idle.val() as u64,
    ];
    r.extend(v.resp_data.iter().map(|s| s.val().to_u64()));
    r.extend(v.dram_wdata.iter().map(|s| s.val().to_u64()));
    r
}

// Positions in an output row.
const O_REQ_READY: usize = 0;
const O_WD_READY: usize = 1;
const O_RESP_VALID: usize = 2;
const O_RESP_LAST: usize = 3;
const O_RESP_TAG: usize = 4;
const O_CMD: usize = 5;
const O_WVALID: usize = 9;
const O_WMASK: usize = 10;
const O_COUNTERS: usize = 11;
const O_IDLE: usize = 16;
const O_WORDS: usize = 17;

fn apply(v: &mut VaultController, row: &[u64]) {
    v.req_valid.next = row[0] != 0;
    v.req_write.next = row[1] != 0;
    v.req_addr.next = row[2].into();
    v.req_tag.next = row[3].into();
    v.wd_valid.next = row[4] != 0;
    v.wd_mask.next = row[5].into();
    v.counter_clear.next = row[6] != 0;
    let words = v.wd_data.len();
    for w in 0..words {
        v.wd_data[w].next = row[7 + w].into();
        v.dram_rdata[w].next = row[7 + words + w].into();
    }
}

/// Random reads and writes over `span_bytes` from `base` (bursts, byte-masked writes), with
/// addresses drawn from a small set now and then so reads often hit recent writes.
pub fn random_ops(config: &Config, seed: u64, count: usize, base: u64, span_bytes: u64) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let bb = config.dram.burst_bytes() as u64;
    let hot: Vec<u64> = (0..8)
        .map(|_| base + rng.gen_range(0..span_bytes / bb) * bb)
        .collect();
    (0..count)
        .map(|_| {
            let addr = if rng.gen_bool(0.4) {
                hot[rng.gen_range(0..hot.len())]
            } else {
                base + rng.gen_range(0..span_bytes / bb) * bb
            };
            let write = rng.gen_bool(0.5);
            Op {
                write,
                addr,
                data: (0..bb).map(|_| rng.gen()).collect(),
                mask: (0..bb).map(|_| !write || rng.gen_bool(0.8)).collect(),
            }
        })
        .collect()
}

/// Sequential burst reads of `bytes` from `base`.
pub fn sequential_reads(config: &Config, base: u64, bytes: u64) -> Vec<Op> {
    let bb = config.dram.burst_bytes() as u64;
    (0..bytes / bb)
        .map(|i| Op {
            write: false,
            addr: base + i * bb,
            data: vec![],
            mask: vec![],
        })
        .collect()
}

/// Runs `ops` through the rust-hdl controller and the DRAM model. `gap` inserts that probability
/// of an idle cycle before each request; `record` keeps every cycle's ports.
pub fn run_rust(
    config: &Config,
    ops: &[Op],
    gap: f64,
    seed: u64,
    record: bool,
) -> Result<VaultRun> {
    let d = &config.dram;
    let words = d.bytes_per_cycle / 4;
    let bpc = d.bytes_per_cycle;
    let bl = d.timing().bl as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut sim = Clocked::new(VaultController::new(config))?;
    let mut dram = Dram::new(d);
    // The scoreboard: what the DRAM holds once every accepted request has been served in order.
    let mut mem: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut expected_reads: VecDeque<(u8, u64, Vec<u8>)> = VecDeque::new();
    let mut beats: VecDeque<(Vec<u32>, u64)> = VecDeque::new();
    let mut got: Vec<u8> = vec![];
    let mut next = 0usize;
    let mut stats = RunStats::default();
    let mut run = VaultRun {
        stats: RunStats::default(),
        inputs: vec![],
        outputs: vec![],
    };
    let mut out = sample(&sim.uut);
    let reads_total = ops.iter().filter(|o| !o.write).count();
    let mut start: Option<u64> = None;
    let limit = 2000 + ops.len() as u64 * 200;
    let mut idle_wanted = false;
    let (mut reads_accepted, mut writes_accepted) = (0usize, 0u64);
    let (mut beats_taken, mut dram_beats) = (0u64, 0u64);
    loop {
        let n = sim.cycles;
        ensure!(
            n < limit,
            "no progress: {} of {} requests, {} reads checked after {n} cycles",
            next,
            ops.len(),
            stats.reads_checked
        );
        // Idle exactly when every accepted read has returned and every write beat handed over
        // (and every accepted write's beats) has reached the DRAM.
        let pending = reads_accepted > stats.reads_checked
            || dram_beats < beats_taken
            || dram_beats < writes_accepted * bl as u64;
        ensure!(
            (out[O_IDLE] != 0) != pending,
            "cycle {n}: idle is {} with {} reads and {} write beats outstanding",
            out[O_IDLE],
            reads_accepted - stats.reads_checked,
            (writes_accepted * bl as u64).max(beats_taken) - dram_beats
        );
        // The DRAM sees this cycle's command and write beat.
        let cmd = Command::decode(
            out[O_CMD],
            out[O_CMD + 1] as usize,
            out[O_CMD + 2] as usize,
            out[O_CMD + 3] as usize,
        );
        let wbeat = (out[O_WVALID] != 0).then(|| Beat {
            words: out[O_WORDS + words..O_WORDS + 2 * words]
                .iter()
                .map(|&v| v as u32)
                .collect(),
            mask: out[O_WMASK] as u32,
        });
        dram_beats += wbeat.is_some() as u64;
        let rbeat = dram
            .step(cmd, wbeat.as_ref())
            .with_context(|| format!("DRAM timing checker after {} requests", next))?;
        // Read responses, in order.
        if out[O_RESP_VALID] != 0 {
            for w in 0..words {
                got.extend((out[O_WORDS + w] as u32).to_le_bytes());
            }
            if out[O_RESP_LAST] != 0 {
                let Some((tag, addr, want)) = expected_reads.pop_front() else {
                    bail!("cycle {n}: a read response nobody asked for");
                };
                ensure!(
                    out[O_RESP_TAG] as u8 == tag,
                    "cycle {n}: response tag {} for request tag {tag}",
                    out[O_RESP_TAG]
                );
                ensure!(
                    got == want,
                    "cycle {n}: read of {addr:#x} returned {got:02x?}, last write was {want:02x?}"
                );
                got.clear();
                stats.reads_checked += 1;
                if stats.reads_checked == reads_total {
                    stats.cycles = n - start.unwrap_or(0);
                }
            }
        }
        if next == ops.len()
            && stats.reads_checked == reads_total
            && beats.is_empty()
            && dram.stats.rd + dram.stats.wr == ops.len() as u64
        {
            // The last writes have reached the DRAM.
            if out[O_IDLE] != 0 {
                break;
            }
        }
        // This cycle's inputs.
        let mut row = vec![0u64; 7 + 2 * words];
        if next < ops.len() && !idle_wanted {
            let op = &ops[next];
            row[0] = 1;
            row[1] = op.write as u64;
            row[2] = op.addr;
            row[3] = (next % 256) as u64;
            if out[O_REQ_READY] != 0 {
                start.get_or_insert(n);
                let bb = op.data.len().max(bl * bpc);
                if op.write {
                    writes_accepted += 1;
                    let line = mem.entry(op.addr).or_insert_with(|| vec![0; bb]);
                    for (i, b) in op.data.iter().enumerate() {
                        if op.mask[i] {
                            line[i] = *b;
                        }
                    }
                    for k in 0..bl {
                        let wv: Vec<u32> = (0..words)
                            .map(|w| {
                                let o = k * bpc + 4 * w;
                                u32::from_le_bytes(op.data[o..o + 4].try_into().unwrap())
                            })
                            .collect();
                        let m = (0..bpc).fold(0u64, |m, i| m | (op.mask[k * bpc + i] as u64) << i);
                        beats.push_back((wv, m));
                    }
                } else {
                    let want = mem.get(&op.addr).cloned().unwrap_or_else(|| {
                        let a = op.addr;
                        dram.peek(a, bb)
                    });
                    expected_reads.push_back(((next % 256) as u8, op.addr, want));
                    reads_accepted += 1;
                }
                next += 1;
                idle_wanted = gap > 0.0 && rng.gen_bool(gap);
            }
        } else {
            idle_wanted = gap > 0.0 && rng.gen_bool(0.5);
        }
        if let Some((wv, m)) = beats.front() {
            row[4] = 1;
            row[5] = *m;
            for w in 0..words {
                row[7 + w] = wv[w] as u64;
            }
            if out[O_WD_READY] != 0 {
                beats.pop_front();
                beats_taken += 1;
            }
        }
        if let Some(b) = &rbeat {
            for w in 0..words {
                row[7 + words + w] = b.words[w] as u64;
            }
        }
        apply(&mut sim.uut, &row);
        sim.tick()?;
        out = sample(&sim.uut);
        if record {
            run.inputs.push(row);
            run.outputs.push(out.clone());
        }
    }
    stats.bytes_read = out[O_COUNTERS];
    stats.bytes_written = out[O_COUNTERS + 1];
    stats.row_hits = out[O_COUNTERS + 2];
    stats.row_misses = out[O_COUNTERS + 3];
    stats.refresh_stalls = out[O_COUNTERS + 4];
    stats.dram = dram.stats;
    run.stats = stats;
    Ok(run)
}

/// Replays recorded inputs into the emitted Verilog under Icarus; returns its outputs per cycle.
pub fn run_verilog(
    config: &Config,
    verilog: &str,
    inputs: &[Vec<u64>],
    workdir: &Path,
) -> Result<Vec<Vec<u64>>> {
    let words = config.dram.bytes_per_cycle / 4;
    // Stimulus rows follow `input_ports` order; recorded rows follow `apply` order.
    run_icarus(
        workdir,
        verilog,
        VAULT_TOP,
        "clock",
        &input_ports(words),
        &output_ports(words),
        inputs,
    )
}
