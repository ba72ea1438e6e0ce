//! A tile: one vault's logic. The data-flow engine runs its program against the vault controller;
//! its read streams feed the PE through the feeder (or leave for another tile through the network
//! interface), and its write-back stream takes the PE's results (or elements arriving from another
//! tile) back to DRAM. The router is not part of the tile: the module's mesh holds it and connects
//! to the `noc_*` ports.
//!
//! Every tile is the same module; its coordinates arrive on `tile_x`/`tile_y` and its LFSR seed on
//! `seed`, so that one synthesized tile stands for all of them.

use crate::bank_machine::ROW_BITS;
use crate::config::Config;
use crate::dataflow_engine::{dest, DataflowEngine, SPACE_BITS};
use crate::flit::COORD_BITS;
use crate::memory::BEAT_ADDR_BITS;
use crate::noc_interface::NocInterface;
use crate::pe::Pe;
use crate::pe_feeder::PeFeeder;
use crate::vault_controller::{VaultController, BANK_BITS, COL_BITS, MASK_BITS};
use rust_hdl::prelude::*;

/// Width of a DRAM data beat port: `bytes_per_cycle` is at most 16.
pub const MAX_BEAT_BITS: usize = 128;
/// Width of the tile's counters.
pub const COUNTER_BITS: usize = 32;

#[derive(LogicBlock)]
pub struct Tile<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub tile_x: Signal<In, Bits<COORD_BITS>>,
    pub tile_y: Signal<In, Bits<COORD_BITS>>,
    // Host side.
    pub prog_we: Signal<In, Bit>,
    pub prog_addr: Signal<In, Bits<BEAT_ADDR_BITS>>,
    pub prog_data: Signal<In, Bits<32>>,
    pub start: Signal<In, Bit>,
    pub seed_load: Signal<In, Bit>,
    pub seed: Signal<In, Bits<32>>,
    pub counter_clear: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bit>,
    pub error_code: Signal<Out, Bits<4>>,
    /// The vault controller holds no request: the tile's writes are all in the DRAM.
    pub mem_idle: Signal<Out, Bit>,
    // Counters.
    pub elements: Signal<Out, Bits<COUNTER_BITS>>,
    pub bytes_read: Signal<Out, Bits<COUNTER_BITS>>,
    pub bytes_written: Signal<Out, Bits<COUNTER_BITS>>,
    pub row_hits: Signal<Out, Bits<COUNTER_BITS>>,
    pub row_misses: Signal<Out, Bits<COUNTER_BITS>>,
    pub mac_busy_cycles: Signal<Out, Bits<COUNTER_BITS>>,
    pub sat_events: Signal<Out, Bits<COUNTER_BITS>>,
    pub flits_sent: Signal<Out, Bits<COUNTER_BITS>>,
    // The vault's DRAM.
    pub cmd: Signal<Out, Bits<3>>,
    pub cmd_bank: Signal<Out, Bits<BANK_BITS>>,
    pub cmd_row: Signal<Out, Bits<ROW_BITS>>,
    pub cmd_col: Signal<Out, Bits<COL_BITS>>,
    pub dram_wvalid: Signal<Out, Bit>,
    /// A data beat, word `w` in bits `32w+31..32w` (words above `bytes_per_cycle / 4` unused).
    pub dram_wdata: Signal<Out, Bits<MAX_BEAT_BITS>>,
    pub dram_wmask: Signal<Out, Bits<MASK_BITS>>,
    pub dram_rdata: Signal<In, Bits<MAX_BEAT_BITS>>,
    // The router's tile port.
    pub noc_out_valid: Signal<Out, Bit>,
    pub noc_out_tail: Signal<Out, Bit>,
    pub noc_out_data: Signal<Out, Bits<W>>,
    pub noc_credit_in: Signal<In, Bit>,
    pub noc_in_valid: Signal<In, Bit>,
    pub noc_in_tail: Signal<In, Bit>,
    pub noc_in_data: Signal<In, Bits<W>>,
    pub noc_credit_out: Signal<Out, Bit>,

    engine: DataflowEngine,
    vault: VaultController,
    feeder: PeFeeder,
    pe: Pe,
    ni: NocInterface<W>,

    a_remote: Signal<Local, Bit>,
    a_space_l: Signal<Local, Bits<SPACE_BITS>>,
    rbeat_l: Signal<Local, Bits<MAX_BEAT_BITS>>,
    wword_l: Signal<Local, Bits<32>>,
    w_data_l: Signal<Local, Bits<32>>,
    wbeat_l: Signal<Local, Bits<MAX_BEAT_BITS>>,
    word_shift: Vec<Constant<Bits<8>>>,
    remote_dest: Constant<Bits<2>>,
    _words: usize,
    _lanes: usize,
}

impl<const W: usize> Tile<W> {
    pub fn new(config: &Config) -> Tile<W> {
        let words = config.dram.bytes_per_cycle / 4;
        Tile {
            clock: Default::default(),
            tile_x: Default::default(),
            tile_y: Default::default(),
            prog_we: Default::default(),
            prog_addr: Default::default(),
            prog_data: Default::default(),
            start: Default::default(),
            seed_load: Default::default(),
            seed: Default::default(),
            counter_clear: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            error: Default::default(),
            error_code: Default::default(),
            mem_idle: Default::default(),
            elements: Default::default(),
            bytes_read: Default::default(),
            bytes_written: Default::default(),
            row_hits: Default::default(),
            row_misses: Default::default(),
            mac_busy_cycles: Default::default(),
            sat_events: Default::default(),
            flits_sent: Default::default(),
            cmd: Default::default(),
            cmd_bank: Default::default(),
            cmd_row: Default::default(),
            cmd_col: Default::default(),
            dram_wvalid: Default::default(),
            dram_wdata: Default::default(),
            dram_wmask: Default::default(),
            dram_rdata: Default::default(),
            noc_out_valid: Default::default(),
            noc_out_tail: Default::default(),
            noc_out_data: Default::default(),
            noc_credit_in: Default::default(),
            noc_in_valid: Default::default(),
            noc_in_tail: Default::default(),
            noc_in_data: Default::default(),
            noc_credit_out: Default::default(),
            engine: DataflowEngine::new(config),
            vault: VaultController::new(config),
            feeder: PeFeeder::new(config),
            pe: Pe::new(config),
            ni: NocInterface::new(config),
            a_remote: Default::default(),
            a_space_l: Default::default(),
            rbeat_l: Default::default(),
            wword_l: Default::default(),
            w_data_l: Default::default(),
            wbeat_l: Default::default(),
            remote_dest: Constant::new(bits(dest::REMOTE_TILE)),
            word_shift: (0..words)
                .map(|w| Constant::new(bits(32 * w as u64)))
                .collect(),
            _words: words,
            _lanes: config.pe.lanes,
        }
    }
}

impl<const W: usize> Logic for Tile<W> {
    #[hdl_gen]
    fn update(&mut self) {
        self.engine.clock.next = self.clock.val();
        self.vault.clock.next = self.clock.val();
        self.feeder.clock.next = self.clock.val();
        self.pe.clock.next = self.clock.val();
        self.ni.clock.next = self.clock.val();

        // Host side.
        self.engine.prog_we.next = self.prog_we.val();
        self.engine.prog_addr.next = self.prog_addr.val();
        self.engine.prog_data.next = self.prog_data.val();
        self.engine.start.next = self.start.val();
        self.busy.next = self.engine.busy.val();
        self.done.next = self.engine.done.val();
        self.error.next = self.engine.error.val();
        self.error_code.next = self.engine.error_code.val();
        self.mem_idle.next = self.vault.idle.val();

        // Engine and vault controller.
        self.vault.req_valid.next = self.engine.mem_req_valid.val();
        self.vault.req_write.next = self.engine.mem_req_write.val();
        self.vault.req_addr.next = self.engine.mem_req_addr.val();
        self.vault.req_tag.next = self.engine.mem_req_tag.val();
        self.engine.mem_req_ready.next = self.vault.req_ready.val();
        self.vault.wd_valid.next = self.engine.mem_wd_valid.val();
        self.vault.wd_mask.next = self.engine.mem_wd_mask.val();
        self.engine.mem_wd_ready.next = self.vault.wd_ready.val();
        self.engine.mem_resp_valid.next = self.vault.resp_valid.val();
        self.engine.mem_resp_last.next = self.vault.resp_last.val();
        self.engine.mem_resp_tag.next = self.vault.resp_tag.val();
        self.wbeat_l.next = 0.into();
        for w in 0..self._words {
            self.vault.wd_data[w].next = self.engine.mem_wd_data[w].val();
            self.engine.mem_resp_data[w].next = self.vault.resp_data[w].val();
            self.rbeat_l.next = self.dram_rdata.val() >> self.word_shift[w].val();
            self.vault.dram_rdata[w].next = self.rbeat_l.val().get_bits::<32>(0);
            self.wword_l.next = self.vault.dram_wdata[w].val();
            self.wbeat_l.next = self.wbeat_l.val()
                | (bit_cast::<MAX_BEAT_BITS, 32>(self.wword_l.val()) << self.word_shift[w].val());
        }
        self.dram_wdata.next = self.wbeat_l.val();
        self.cmd.next = self.vault.cmd.val();
        self.cmd_bank.next = self.vault.cmd_bank.val();
        self.cmd_row.next = self.vault.cmd_row.val();
        self.cmd_col.next = self.vault.cmd_col.val();
        self.dram_wvalid.next = self.vault.dram_wvalid.val();
        self.dram_wmask.next = self.vault.dram_wmask.val();

        // Stream a goes to the feeder or, with a remote destination, to the network.
        self.a_remote.next = self.engine.a_dest.val() == self.remote_dest.val();
        self.feeder.a_valid.next = self.engine.a_valid.val() & !self.a_remote.val();
        self.feeder.a_data.next = self.engine.a_data.val();
        self.ni.inj_valid.next = self.engine.a_valid.val() & self.a_remote.val();
        self.ni.inj_data.next = self.engine.a_data.val();
        self.ni.inj_tile.next = self.engine.a_tile.val();
        self.a_space_l.next = self.feeder.a_space.val();
        if self.a_remote.val() {
            self.a_space_l.next = self.ni.inj_space.val();
        }
        self.engine.a_space.next = self.a_space_l.val();
        self.feeder.b_valid.next = self.engine.b_valid.val();
        self.feeder.b_data.next = self.engine.b_data.val();
        self.engine.b_space.next = self.feeder.b_space.val();
        self.feeder.cfg_valid.next = self.engine.pe_cfg_valid.val();
        self.feeder.cfg_data.next = self.engine.pe_cfg_data.val();
        self.engine.ext_busy.next = self.feeder.busy.val() | self.ni.busy.val();

        // Write-back: elements from the network first, else the PE's results.
        self.engine.w_valid.next = self.ni.w_valid.val() | self.feeder.w_valid.val();
        // Chosen in a temporary and assigned once: a second assignment would glitch the engine's
        // input in event-driven simulators, and the engine's own glitching outputs (the write
        // mask) feed back into this block, so Icarus would ping-pong between the two forever.
        self.w_data_l.next = self.feeder.w_data.val();
        if self.ni.w_valid.val() {
            self.w_data_l.next = self.ni.w_data.val();
        }
        self.engine.w_data.next = self.w_data_l.val();
        self.ni.w_ready.next = self.engine.w_ready.val() & self.ni.w_valid.val();
        self.feeder.w_ready.next = self.engine.w_ready.val() & !self.ni.w_valid.val();

        // Feeder and PE.
        self.pe.in_valid.next = self.feeder.beat_valid.val();
        self.pe.in_first.next = self.feeder.beat_first.val();
        self.pe.in_last.next = self.feeder.beat_last.val();
        self.pe.mode.next = self.feeder.beat_mode.val();
        self.pe.act.next = self.feeder.beat_act.val();
        self.pe.eta.next = self.feeder.beat_eta.val();
        self.pe.bcast.next = self.feeder.beat_bcast.val();
        self.pe.bcast_from_buffer.next = self.feeder.beat_from_buffer.val();
        self.pe.buffer_read_address.next = self.feeder.beat_buffer_address.val();
        self.pe.buffer_write_enable.next = self.feeder.buffer_write_enable.val();
        self.pe.buffer_write_address.next = self.feeder.buffer_write_address.val();
        self.pe.buffer_write_data.next = self.feeder.buffer_write_data.val();
        self.pe.seed_load.next = self.seed_load.val();
        self.pe.seed.next = self.seed.val();
        self.pe.counter_clear.next = self.counter_clear.val();
        self.feeder.res_valid.next = self.pe.out_valid.val();
        for l in 0..self._lanes {
            self.pe.opa[l].next = self.feeder.beat_opa[l].val();
            self.pe.opb[l].next = self.feeder.beat_opb[l].val();
            self.feeder.res_wide[l].next = self.pe.out_wide[l].val();
            self.feeder.res_narrow[l].next = self.pe.out_narrow[l].val();
        }

        // Network.
        self.ni.tile_x.next = self.tile_x.val();
        self.ni.tile_y.next = self.tile_y.val();
        self.ni.counter_clear.next = self.counter_clear.val();
        self.noc_out_valid.next = self.ni.out_valid.val();
        self.noc_out_tail.next = self.ni.out_tail.val();
        self.noc_out_data.next = self.ni.out_data.val();
        self.ni.credit_in.next = self.noc_credit_in.val();
        self.ni.in_valid.next = self.noc_in_valid.val();
        self.ni.in_tail.next = self.noc_in_tail.val();
        self.ni.in_data.next = self.noc_in_data.val();
        self.noc_credit_out.next = self.ni.credit_out.val();

        // Counters.
        self.vault.counter_clear.next = self.counter_clear.val();
        self.elements.next = self.engine.elements.val();
        self.bytes_read.next = self.vault.bytes_read.val();
        self.bytes_written.next = self.vault.bytes_written.val();
        self.row_hits.next = self.vault.row_hits.val();
        self.row_misses.next = self.vault.row_misses.val();
        self.mac_busy_cycles.next = self.pe.busy_cycles.val();
        self.sat_events.next = self.pe.sat_events.val();
        self.flits_sent.next = self.ni.flits_sent.val();
    }
}
