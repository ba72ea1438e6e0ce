//! The module's host interface: a word-addressed register bus through which the host loads the
//! tiles' programs, starts them, seeds the PEs' LFSRs, clears and reads the counters.
//!
//! | word address | access | register |
//! |---|---|---|
//! | `0x0000 + tile * 256 + word` | write | program memory word of a tile |
//! | `0x4000` [`CONTROL`] | write | bit 0 start every tile, bit 1 load the LFSR seeds, bit 2 clear the counters |
//! | `0x4001` [`SEED`] | read/write | LFSR seed (each tile mixes in its own salt) |
//! | `0x4002` [`STATUS`] | read | bit 0 every tile done, bit 1 some tile in error, bit 2 some tile busy |
//! | `0x5000 + tile * 16 + k` [`TILE_REGS`] | read | tile counter `k` ([`tile_reg`]) |
//!
//! Reads return on `host_rdata` one cycle after the address is presented.

use crate::memory::BEAT_ADDR_BITS;
use rust_hdl::prelude::*;

/// Width of a host bus word address.
pub const HOST_ADDR_BITS: usize = 16;
pub const CONTROL: u64 = 0x4000;
pub const SEED: u64 = 0x4001;
pub const STATUS: u64 = 0x4002;
pub const TILE_REGS: u64 = 0x5000;
/// Registers per tile in the [`TILE_REGS`] window.
pub const TILE_REG_STRIDE: u64 = 16;
/// Bits of the [`CONTROL`] register.
pub const CONTROL_START: u64 = 1;
pub const CONTROL_SEED_LOAD: u64 = 2;
pub const CONTROL_COUNTER_CLEAR: u64 = 4;
/// Program words per tile in the address map.
pub const PROGRAM_WINDOW: u64 = 1 << BEAT_ADDR_BITS;

/// Index `k` of each tile register.
pub mod tile_reg {
    /// {error_code[7:4], vault controller idle[3], error[2], done[1], busy[0]}
    pub const STATUS: usize = 0;
    pub const ELEMENTS: usize = 1;
    pub const BYTES_READ: usize = 2;
    pub const BYTES_WRITTEN: usize = 3;
    pub const ROW_HITS: usize = 4;
    pub const ROW_MISSES: usize = 5;
    pub const MAC_BUSY_CYCLES: usize = 6;
    pub const SAT_EVENTS: usize = 7;
    pub const FLITS_SENT: usize = 8;
    /// Registers in use.
    pub const COUNT: usize = 9;
}

#[derive(LogicBlock)]
pub struct HostInterface {
    pub clock: Signal<In, Clock>,
    pub host_we: Signal<In, Bit>,
    pub host_addr: Signal<In, Bits<HOST_ADDR_BITS>>,
    pub host_wdata: Signal<In, Bits<32>>,
    pub host_rdata: Signal<Out, Bits<32>>,
    // To the tiles.
    pub prog_we: Vec<Signal<Out, Bit>>,
    pub prog_addr: Signal<Out, Bits<BEAT_ADDR_BITS>>,
    pub prog_data: Signal<Out, Bits<32>>,
    pub start: Signal<Out, Bit>,
    pub seed_load: Signal<Out, Bit>,
    pub seed: Signal<Out, Bits<32>>,
    pub counter_clear: Signal<Out, Bit>,
    // From the tiles: `tile_regs[tile * tile_reg::COUNT + k]`.
    pub tile_regs: Vec<Signal<In, Bits<32>>>,
    pub all_done: Signal<Out, Bit>,
    pub any_error: Signal<Out, Bit>,

    seed_r: DFF<Bits<32>>,
    rdata: DFF<Bits<32>>,
    done_l: Signal<Local, Bit>,
    error_l: Signal<Local, Bit>,
    busy_l: Signal<Local, Bit>,
    rd_l: Signal<Local, Bits<32>>,
    tile_status: Signal<Local, Bits<32>>,

    tile_prog_base: Vec<Constant<Bits<HOST_ADDR_BITS>>>,
    reg_addr: Vec<Constant<Bits<HOST_ADDR_BITS>>>,
    control: Constant<Bits<HOST_ADDR_BITS>>,
    seed_addr: Constant<Bits<HOST_ADDR_BITS>>,
    status_addr: Constant<Bits<HOST_ADDR_BITS>>,
    _tiles: usize,
    _regs: usize,
}

fn konst<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.into())
}

impl HostInterface {
    pub fn new(tiles: usize) -> HostInterface {
        let regs = tiles * tile_reg::COUNT;
        HostInterface {
            clock: Default::default(),
            host_we: Default::default(),
            host_addr: Default::default(),
            host_wdata: Default::default(),
            host_rdata: Default::default(),
            prog_we: (0..tiles).map(|_| Default::default()).collect(),
            prog_addr: Default::default(),
            prog_data: Default::default(),
            start: Default::default(),
            seed_load: Default::default(),
            seed: Default::default(),
            counter_clear: Default::default(),
            tile_regs: (0..regs).map(|_| Default::default()).collect(),
            all_done: Default::default(),
            any_error: Default::default(),
            seed_r: Default::default(),
            rdata: Default::default(),
            done_l: Default::default(),
            error_l: Default::default(),
            busy_l: Default::default(),
            rd_l: Default::default(),
            tile_status: Default::default(),
            tile_prog_base: (0..tiles)
                .map(|t| konst(t as u64 * PROGRAM_WINDOW))
                .collect(),
            reg_addr: (0..regs)
                .map(|i| {
                    let (t, k) = (i / tile_reg::COUNT, i % tile_reg::COUNT);
                    konst(TILE_REGS + t as u64 * TILE_REG_STRIDE + k as u64)
                })
                .collect(),
            control: konst(CONTROL),
            seed_addr: konst(SEED),
            status_addr: konst(STATUS),
            _tiles: tiles,
            _regs: regs,
        }
    }
}

impl Logic for HostInterface {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, seed_r, rdata);
        self.prog_addr.next = self.host_addr.val().get_bits::<BEAT_ADDR_BITS>(0);
        self.prog_data.next = self.host_wdata.val();
        for t in 0..self._tiles {
            self.prog_we[t].next = self.host_we.val()
                & ((self.host_addr.val() & 0xFF00) == self.tile_prog_base[t].val());
        }
        self.start.next = false;
        self.seed_load.next = false;
        self.counter_clear.next = false;
        if self.host_we.val() & (self.host_addr.val() == self.control.val()) {
            self.start.next = self.host_wdata.val().get_bit(0);
            self.seed_load.next = self.host_wdata.val().get_bit(1);
            self.counter_clear.next = self.host_wdata.val().get_bit(2);
        }
        if self.host_we.val() & (self.host_addr.val() == self.seed_addr.val()) {
            self.seed_r.d.next = self.host_wdata.val();
        }
        self.seed.next = self.seed_r.q.val();

        // Status of every tile: register 0 of each tile's window.
        self.done_l.next = true;
        self.error_l.next = false;
        self.busy_l.next = false;
        for i in 0..self._regs {
            if (self.reg_addr[i].val() & 0xF) == 0 {
                self.tile_status.next = self.tile_regs[i].val();
                if !self.tile_status.val().get_bit(1) {
                    self.done_l.next = false;
                }
                if self.tile_status.val().get_bit(2) {
                    self.error_l.next = true;
                }
                if self.tile_status.val().get_bit(0) {
                    self.busy_l.next = true;
                }
            }
        }
        self.all_done.next = self.done_l.val();
        self.any_error.next = self.error_l.val();

        self.rd_l.next = 0.into();
        if self.host_addr.val() == self.seed_addr.val() {
            self.rd_l.next = self.seed_r.q.val();
        }
        if self.host_addr.val() == self.status_addr.val() {
            self.rd_l.next = bit_cast::<32, 1>(self.done_l.val().into())
                | (bit_cast::<32, 1>(self.error_l.val().into()) << 1)
                | (bit_cast::<32, 1>(self.busy_l.val().into()) << 2);
        }
        for i in 0..self._regs {
            if self.host_addr.val() == self.reg_addr[i].val() {
                self.rd_l.next = self.tile_regs[i].val();
            }
        }
        self.rdata.d.next = self.rd_l.val();
        self.host_rdata.next = self.rdata.q.val();
    }
}
