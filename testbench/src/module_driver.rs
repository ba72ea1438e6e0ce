//! Drives the rust-hdl module: each vault's DRAM through the DRAM model (timing checked every
//! cycle), programs and control through the host interface, counters read back through it.

use crate::dram::{Beat, Command, Dram};
use crate::sim::{Clocked, ClockedBlock, Toggles};
use anyhow::{anyhow, bail, Result};
use nt_hdl::bank_machine::ROW_BITS;
use nt_hdl::config::Config;
use nt_hdl::host_interface::{
    tile_reg, CONTROL, CONTROL_COUNTER_CLEAR, CONTROL_SEED_LOAD, CONTROL_START, PROGRAM_WINDOW,
    SEED, TILE_REGS, TILE_REG_STRIDE,
};
use nt_hdl::module::Module;
use nt_hdl::tile::MAX_BEAT_BITS;
use nt_hdl::vault_controller::{cmd_code, BANK_BITS, COL_BITS};
use rust_hdl::prelude::*;

impl<const W: usize> ClockedBlock for Module<W> {
    fn clock_mut(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
}

/// Cycles a drain waits for the vault controllers to go idle before it gives up: far beyond a
/// full request queue behind a refresh.
pub const DRAIN_LIMIT_CYCLES: u64 = 100_000;

/// One tile's counters after a program.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TileCounters {
    pub elements: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub row_hits: u64,
    pub row_misses: u64,
    pub mac_busy_cycles: u64,
    pub sat_events: u64,
    pub flits_sent: u64,
}

impl TileCounters {
    pub fn add(&mut self, o: &TileCounters) {
        self.elements += o.elements;
        self.bytes_read += o.bytes_read;
        self.bytes_written += o.bytes_written;
        self.row_hits += o.row_hits;
        self.row_misses += o.row_misses;
        self.mac_busy_cycles += o.mac_busy_cycles;
        self.sat_events += o.sat_events;
        self.flits_sent += o.flits_sent;
    }
}

/// A program the hardware stopped with a fault.
#[derive(Debug)]
pub struct ProgramFault {
    pub tile: usize,
    pub code: u64,
    pub cycle: u64,
}

impl std::fmt::Display for ProgramFault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "tile {} raised program fault {} ({}) at cycle {}",
            self.tile,
            self.code,
            fault_name(self.code),
            self.cycle
        )
    }
}

impl std::error::Error for ProgramFault {}

/// The data-flow engine's fault codes (docs/dataflow.md).
pub fn fault_name(code: u64) -> &'static str {
    match code {
        1 => "unknown opcode",
        2 => "slot, direction and destination do not match",
        3 => "loops not 1 to 6",
        4 => "element size code 3",
        5 => "a count of 0 or too large",
        6 => "an element outside the vault",
        7 => "an element not aligned to its size",
        8 => "the program runs off the end of program memory",
        _ => "unknown fault",
    }
}

/// One command a vault controller put on its command port: the raw port values (the fields a
/// command does not use included), so that two simulations of the same design can be compared
/// bit for bit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CommandRecord {
    pub cycle: u64,
    pub code: u64,
    pub bank: u64,
    pub row: u64,
    pub col: u64,
}

impl CommandRecord {
    /// The port values as one word: `{code, bank, row, col}`, col in the low bits.
    pub fn packed(&self) -> u64 {
        self.code << (BANK_BITS + ROW_BITS + COL_BITS)
            | self.bank << (ROW_BITS + COL_BITS)
            | self.row << COL_BITS
            | self.col
    }
}

/// FNV-1a's 64-bit offset basis and prime, applied to 64-bit words rather than bytes.
pub const DIGEST_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
pub const DIGEST_PRIME: u64 = 0x0000_0100_0000_01b3;

/// A running digest of every non-NOP command of a vault with its cycle: equal digests (and
/// counts) mean the same command sequence cycle for cycle, without keeping the sequence.
/// The Verilog DRAM model of the co-simulation (`module_cosim`) computes the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommandDigest {
    pub hash: u64,
    pub count: u64,
}

impl Default for CommandDigest {
    fn default() -> Self {
        CommandDigest {
            hash: DIGEST_BASIS,
            count: 0,
        }
    }
}

impl CommandDigest {
    pub fn add(&mut self, c: &CommandRecord) {
        for word in [c.cycle, c.packed()] {
            self.hash = (self.hash ^ word).wrapping_mul(DIGEST_PRIME);
        }
        self.count += 1;
    }
}

pub struct ModuleSim<const W: usize> {
    pub sim: Clocked<Module<W>>,
    pub drams: Vec<Dram>,
    tiles: usize,
    words: usize,
    digests: Vec<CommandDigest>,
    /// Every vault's commands, when [`ModuleSim::record_commands`] asked for them.
    trace: Option<Vec<Vec<CommandRecord>>>,
}

fn beat_bits(words: &[u32]) -> Bits<MAX_BEAT_BITS> {
    let mut b: Bits<MAX_BEAT_BITS> = 0.into();
    for (i, &w) in words.iter().enumerate() {
        b.set_bits::<32>(32 * i, (w as u64).into());
    }
    b
}

impl<const W: usize> ModuleSim<W> {
    pub fn new(config: &Config) -> Result<ModuleSim<W>> {
        let tiles = config.array.rows * config.array.cols;
        let mut m = Module::<W>::new(config);
        m.host_we.next = false;
        Ok(ModuleSim {
            sim: Clocked::new(m)?,
            drams: (0..tiles).map(|_| Dram::new(&config.dram)).collect(),
            tiles,
            words: config.dram.bytes_per_cycle / 4,
            digests: vec![CommandDigest::default(); tiles],
            trace: None,
        })
    }

    /// Keeps every vault's commands from now on (see [`ModuleSim::commands`]).
    pub fn record_commands(&mut self) {
        self.trace.get_or_insert_with(|| vec![vec![]; self.tiles]);
    }

    /// The commands recorded since [`ModuleSim::record_commands`], per vault.
    pub fn commands(&self) -> Option<&[Vec<CommandRecord>]> {
        self.trace.as_deref()
    }

    /// The digest of every command vault `v` received since power-up.
    pub fn command_digest(&self, v: usize) -> CommandDigest {
        self.digests[v]
    }

    pub fn tiles(&self) -> usize {
        self.tiles
    }

    pub fn cycles(&self) -> u64 {
        self.sim.cycles
    }

    /// One clock cycle: every vault's DRAM takes its controller's command of this cycle (the
    /// controllers' outputs come from registers), then the clock ticks.
    fn step(&mut self) -> Result<()> {
        for t in 0..self.tiles {
            let m = &self.sim.uut;
            let rec = CommandRecord {
                cycle: self.sim.cycles,
                code: m.cmd[t].val().to_u64(),
                bank: m.cmd_bank[t].val().to_u64(),
                row: m.cmd_row[t].val().to_u64(),
                col: m.cmd_col[t].val().to_u64(),
            };
            if rec.code != cmd_code::NOP {
                self.digests[t].add(&rec);
                if let Some(trace) = self.trace.as_mut() {
                    trace[t].push(rec);
                }
            }
            let cmd = Command::decode(
                rec.code,
                rec.bank as usize,
                rec.row as usize,
                rec.col as usize,
            );
            let wbeat = m.dram_wvalid[t].val().then(|| {
                let bits = m.dram_wdata[t].val();
                Beat {
                    words: (0..self.words)
                        .map(|w| bits.get_bits::<32>(32 * w).to_u64() as u32)
                        .collect(),
                    mask: m.dram_wmask[t].val().to_u64() as u32,
                }
            });
            let rbeat = self.drams[t]
                .step(cmd, wbeat.as_ref())
                .map_err(|e| anyhow!("vault {t}: {e}"))?;
            let words = rbeat.map_or(vec![0; self.words], |b| b.words);
            self.sim.uut.dram_rdata[t].next = beat_bits(&words);
        }
        self.sim.tick()?;
        Ok(())
    }

    pub fn host_write(&mut self, addr: u64, data: u32) -> Result<()> {
        let m = &mut self.sim.uut;
        m.host_we.next = true;
        m.host_addr.next = addr.into();
        m.host_wdata.next = (data as u64).into();
        self.step()?;
        self.sim.uut.host_we.next = false;
        Ok(())
    }

    pub fn host_read(&mut self, addr: u64) -> Result<u32> {
        self.sim.uut.host_addr.next = addr.into();
        self.step()?;
        self.step()?;
        Ok(self.sim.uut.host_rdata.val().to_u64() as u32)
    }

    /// Clears the counters, starts every tile and runs until all are done. Returns the cycles
    /// from start to done. A fault stops the run with a [`ProgramFault`].
    pub fn run(&mut self, max_cycles: u64) -> Result<u64> {
        self.host_write(CONTROL, CONTROL_COUNTER_CLEAR as u32)?;
        self.host_write(CONTROL, CONTROL_START as u32)?;
        let start = self.sim.cycles;
        // The engines leave `done` at the edge after start.
        self.step()?;
        loop {
            if self.sim.uut.error.val() {
                let cycle = self.sim.cycles;
                for t in 0..self.tiles {
                    let s = self.host_read(TILE_REGS + t as u64 * TILE_REG_STRIDE)?;
                    if s >> 2 & 1 == 1 {
                        return Err(ProgramFault {
                            tile: t,
                            code: (s >> 4 & 0xF) as u64,
                            cycle,
                        }
                        .into());
                    }
                }
                bail!("the module reports an error but no tile does");
            }
            if self.sim.uut.done.val() {
                return Ok(self.sim.cycles - start);
            }
            if self.sim.cycles - start > max_cycles {
                let mut busy = vec![];
                for t in 0..self.tiles {
                    let s = self.host_read(TILE_REGS + t as u64 * TILE_REG_STRIDE)?;
                    if s & 2 == 0 {
                        busy.push(t);
                    }
                }
                bail!("programs did not finish within {max_cycles} cycles; tiles still running: {busy:?}");
            }
            if self.sim.uut.noc_overflow.val() {
                bail!("a router buffer overflowed (credit protocol violated)");
            }
            self.step()?;
        }
    }

    /// Runs until every vault's queued writes have reached its DRAM.
    /// A tile is done once its last write is queued in the vault controller, which may still
    /// hold it through a refresh: the module's `mem_idle` says when nothing is left.
    pub fn drain(&mut self) -> Result<()> {
        for _ in 0..DRAIN_LIMIT_CYCLES {
            if self.sim.uut.mem_idle.val() {
                return Ok(());
            }
            self.step()?;
        }
        bail!("the vault controllers still held requests {DRAIN_LIMIT_CYCLES} cycles after the programs finished")
    }
}

/// The host's view of a module simulation, whichever simulator runs it: the host port, runs,
/// and each vault's DRAM contents (read and written between runs, outside simulated time).
pub trait ModuleHost {
    /// Tiles (and vaults) of the module.
    fn tiles(&self) -> usize;
    /// Cycles since power-up.
    fn cycles(&mut self) -> Result<u64>;
    /// One cycle with the word on the host port.
    fn host_write(&mut self, addr: u64, data: u32) -> Result<()>;
    /// Two cycles: the address, then the registered read data.
    fn host_read(&mut self, addr: u64) -> Result<u32>;
    /// Clears the counters, starts every tile and runs until all are done. Returns the cycles
    /// from start to done. A fault stops the run with a [`ProgramFault`].
    fn run(&mut self, max_cycles: u64) -> Result<u64>;
    /// Runs until every vault's queued writes have reached its DRAM.
    fn drain(&mut self) -> Result<()>;
    /// `len` bytes of vault `vault`'s DRAM from byte `addr`.
    fn peek(&mut self, vault: usize, addr: u64, len: usize) -> Result<Vec<u8>>;
    /// Writes `bytes` into vault `vault`'s DRAM from byte `addr`.
    fn poke(&mut self, vault: usize, addr: u64, bytes: &[u8]) -> Result<()>;
    /// The simulator's name, for reports.
    fn name(&self) -> &'static str;
    /// Ends the simulation: flushes its recordings and reports faults it kept for the end.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }
    /// Starts counting register and port toggles (for the power analysis).
    fn count_toggles(&mut self) -> Result<()> {
        bail!("the {} simulation does not count toggles", self.name())
    }
    /// The toggles counted since [`ModuleHost::count_toggles`].
    fn toggles(&self) -> Option<Toggles> {
        None
    }

    /// Writes a tile's program memory through the host interface.
    fn load_program(&mut self, tile: usize, words: &[u32]) -> Result<()> {
        if words.len() as u64 > PROGRAM_WINDOW {
            bail!(
                "tile {tile}: program of {} words exceeds the program memory ({PROGRAM_WINDOW} words)",
                words.len()
            );
        }
        for (i, &w) in words.iter().enumerate() {
            self.host_write(tile as u64 * PROGRAM_WINDOW + i as u64, w)?;
        }
        Ok(())
    }

    /// Sets the LFSR seed and loads it into every lane of every tile.
    fn seed(&mut self, seed: u32) -> Result<()> {
        self.host_write(SEED, seed)?;
        self.host_write(CONTROL, CONTROL_SEED_LOAD as u32)
    }

    /// A tile's counters, read through the host interface.
    fn counters(&mut self, tile: usize) -> Result<TileCounters> {
        let base = TILE_REGS + tile as u64 * TILE_REG_STRIDE;
        let mut r = |k: usize| -> Result<u64> { Ok(self.host_read(base + k as u64)? as u64) };
        Ok(TileCounters {
            elements: r(tile_reg::ELEMENTS)?,
            bytes_read: r(tile_reg::BYTES_READ)?,
            bytes_written: r(tile_reg::BYTES_WRITTEN)?,
            row_hits: r(tile_reg::ROW_HITS)?,
            row_misses: r(tile_reg::ROW_MISSES)?,
            mac_busy_cycles: r(tile_reg::MAC_BUSY_CYCLES)?,
            sat_events: r(tile_reg::SAT_EVENTS)?,
            flits_sent: r(tile_reg::FLITS_SENT)?,
        })
    }
}

impl<const W: usize> ModuleHost for ModuleSim<W> {
    fn tiles(&self) -> usize {
        self.tiles
    }
    fn cycles(&mut self) -> Result<u64> {
        Ok(self.sim.cycles)
    }
    fn host_write(&mut self, addr: u64, data: u32) -> Result<()> {
        ModuleSim::host_write(self, addr, data)
    }
    fn host_read(&mut self, addr: u64) -> Result<u32> {
        ModuleSim::host_read(self, addr)
    }
    fn run(&mut self, max_cycles: u64) -> Result<u64> {
        ModuleSim::run(self, max_cycles)
    }
    fn drain(&mut self) -> Result<()> {
        ModuleSim::drain(self)
    }
    fn peek(&mut self, vault: usize, addr: u64, len: usize) -> Result<Vec<u8>> {
        Ok(self.drams[vault].peek(addr, len))
    }
    fn poke(&mut self, vault: usize, addr: u64, bytes: &[u8]) -> Result<()> {
        self.drams[vault].poke(addr, bytes);
        Ok(())
    }
    fn name(&self) -> &'static str {
        "rust-hdl"
    }
    fn finish(&mut self) -> Result<()> {
        self.sim.finish()
    }
    fn count_toggles(&mut self) -> Result<()> {
        self.sim.count_toggles();
        Ok(())
    }
    fn toggles(&self) -> Option<Toggles> {
        self.sim.toggles()
    }
}

/// Top module name of the whole module's Verilog.
pub const MODULE_TOP: &str = "nt_module";

/// The whole module's Verilog (top [`MODULE_TOP`]).
pub fn module_verilog(config: &Config, description: &str) -> Result<String> {
    Ok(match config.noc.flit_width {
        32 => nt_hdl::verilog::emit(&mut Module::<32>::new(config), MODULE_TOP, description),
        64 => nt_hdl::verilog::emit(&mut Module::<64>::new(config), MODULE_TOP, description),
        w => bail!("noc.flit_width = {w}: no module instantiation for this width"),
    })
}
