//! One stream of the data-flow engine: the address sequence of a descriptor, a base address plus
//! up to [`MAX_LOOPS`] nested loops of count and signed stride (innermost loop first).
//!
//! The element address is `base + sum_k i_k * stride_k` for every index vector, the innermost
//! index fastest. No multiplier is needed: each level keeps the address at which its current
//! iteration started, and a step adds the stride of the lowest level that still has iterations
//! left and restarts every level below it at the new address.
//!
//! Fields are loaded one 32-bit program word at a time (`ld_field`: 0 = header, 1 = base,
//! 2 + 2k = count of loop k, 3 + 2k = stride of loop k); `start` rewinds to the base and raises
//! `valid`; `advance` consumes the current element. Addresses wrap modulo 2^32, so a negative
//! stride below zero yields a huge address, which the engine's range check rejects.

use rust_hdl::prelude::*;

/// Loops of a descriptor.
pub const MAX_LOOPS: usize = 6;
/// Width of a loop count (counts are 1 ..= 2^20 - 1).
pub const COUNT_BITS: usize = 20;
/// Program-word field numbers.
pub const FIELD_HEADER: u64 = 0;
pub const FIELD_BASE: u64 = 1;
/// Header bit of a read stream whose elements are narrowed (see `narrow`).
pub const NARROW_BIT: usize = 16;

#[derive(LogicBlock)]
pub struct StreamGenerator {
    pub clock: Signal<In, Clock>,
    pub ld_en: Signal<In, Bit>,
    pub ld_field: Signal<In, Bits<4>>,
    pub ld_data: Signal<In, Bits<32>>,
    pub start: Signal<In, Bit>,
    pub advance: Signal<In, Bit>,
    /// An element is pending at `addr`.
    pub valid: Signal<Out, Bit>,
    pub addr: Signal<Out, Bits<32>>,
    /// log2 of the element size in bytes.
    pub size_code: Signal<Out, Bits<2>>,
    pub dest: Signal<Out, Bits<2>>,
    pub tile: Signal<Out, Bits<8>>,
    /// A read stream's 4-byte elements are master weights, handed out as their 16-bit MAC
    /// weights (header bit [`NARROW_BIT`]).
    pub narrow: Signal<Out, Bit>,

    busy: DFF<Bit>,
    narrow_r: DFF<Bit>,
    size_r: DFF<Bits<2>>,
    nloops: DFF<Bits<3>>,
    dest_r: DFF<Bits<2>>,
    tile_r: DFF<Bits<8>>,
    base: DFF<Bits<32>>,
    count: Vec<DFF<Bits<COUNT_BITS>>>,
    stride: Vec<DFF<Bits<32>>>,
    idx: Vec<DFF<Bits<COUNT_BITS>>>,
    lvl: Vec<DFF<Bits<32>>>,
    // Named load conditions, one per register group, so that a clock gate's enable is a signal
    // the activity simulation sees (docs/flow.md).
    load_header: Signal<Local, Bit>,
    load_base: Signal<Local, Bit>,
    load_count: Vec<Signal<Local, Bit>>,
    load_stride: Vec<Signal<Local, Bit>>,
    /// An element leaves and a loop takes the step.
    stepping: Signal<Local, Bit>,
    /// Per loop: its index and address move (or start).
    step: Vec<Signal<Local, Bit>>,
    lv_found: Signal<Local, Bit>,
    lv: Signal<Local, Bits<3>>,
    next_addr: Signal<Local, Bits<32>>,
    level_id: Vec<Constant<Bits<3>>>,
    count_field: Vec<Constant<Bits<4>>>,
    stride_field: Vec<Constant<Bits<4>>>,
    header_field: Constant<Bits<4>>,
    base_field: Constant<Bits<4>>,
}

impl Default for StreamGenerator {
    fn default() -> Self {
        StreamGenerator {
            clock: Default::default(),
            ld_en: Default::default(),
            ld_field: Default::default(),
            ld_data: Default::default(),
            start: Default::default(),
            advance: Default::default(),
            valid: Default::default(),
            addr: Default::default(),
            size_code: Default::default(),
            dest: Default::default(),
            tile: Default::default(),
            narrow: Default::default(),
            busy: Default::default(),
            narrow_r: Default::default(),
            size_r: Default::default(),
            nloops: Default::default(),
            dest_r: Default::default(),
            tile_r: Default::default(),
            base: Default::default(),
            count: (0..MAX_LOOPS).map(|_| Default::default()).collect(),
            stride: (0..MAX_LOOPS).map(|_| Default::default()).collect(),
            idx: (0..MAX_LOOPS).map(|_| Default::default()).collect(),
            lvl: (0..MAX_LOOPS).map(|_| Default::default()).collect(),
            load_header: Default::default(),
            load_base: Default::default(),
            load_count: (0..MAX_LOOPS).map(|_| Default::default()).collect(),
            load_stride: (0..MAX_LOOPS).map(|_| Default::default()).collect(),
            stepping: Default::default(),
            step: (0..MAX_LOOPS).map(|_| Default::default()).collect(),
            lv_found: Default::default(),
            lv: Default::default(),
            next_addr: Default::default(),
            level_id: (0..MAX_LOOPS)
                .map(|k| Constant::new((k as u64).into()))
                .collect(),
            count_field: (0..MAX_LOOPS)
                .map(|k| Constant::new((2 + 2 * k as u64).into()))
                .collect(),
            stride_field: (0..MAX_LOOPS)
                .map(|k| Constant::new((3 + 2 * k as u64).into()))
                .collect(),
            header_field: Constant::new(FIELD_HEADER.into()),
            base_field: Constant::new(FIELD_BASE.into()),
        }
    }
}

impl Logic for StreamGenerator {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, narrow_r, size_r, nloops, dest_r, tile_r, base);
        for k in 0..MAX_LOOPS {
            self.count[k].clock.next = self.clock.val();
            self.count[k].d.next = self.count[k].q.val();
            self.stride[k].clock.next = self.clock.val();
            self.stride[k].d.next = self.stride[k].q.val();
            self.idx[k].clock.next = self.clock.val();
            self.idx[k].d.next = self.idx[k].q.val();
            self.lvl[k].clock.next = self.clock.val();
            self.lvl[k].d.next = self.lvl[k].q.val();
        }

        // The lowest loop with iterations left takes the step.
        self.lv_found.next = false;
        self.lv.next = 0.into();
        for k in 0..MAX_LOOPS {
            if !self.lv_found.val()
                & (self.level_id[k].val() < self.nloops.q.val())
                & ((self.idx[k].q.val() + 1) < self.count[k].q.val())
            {
                self.lv_found.next = true;
                self.lv.next = self.level_id[k].val();
            }
        }
        self.next_addr.next = 0.into();
        for k in 0..MAX_LOOPS {
            if self.level_id[k].val() == self.lv.val() {
                self.next_addr.next = self.lvl[k].q.val() + self.stride[k].q.val();
            }
        }
        self.stepping.next = self.advance.val() & self.busy.q.val() & self.lv_found.val();
        if self.advance.val() & self.busy.q.val() & !self.lv_found.val() {
            self.busy.d.next = false;
        }
        if self.start.val() {
            self.busy.d.next = true;
        }
        // The loops below the one that steps start over; a start starts them all.
        for k in 0..MAX_LOOPS {
            // (< or ==, not <=: loop 0's `0 <= lv` is a constant comparison to the linter.)
            self.step[k].next = self.start.val()
                | (self.stepping.val()
                    & ((self.level_id[k].val() < self.lv.val())
                        | (self.level_id[k].val() == self.lv.val())));
            if self.step[k].val() {
                if self.start.val() {
                    self.idx[k].d.next = 0.into();
                    self.lvl[k].d.next = self.base.q.val();
                } else {
                    self.lvl[k].d.next = self.next_addr.val();
                    if self.level_id[k].val() == self.lv.val() {
                        self.idx[k].d.next = self.idx[k].q.val() + 1;
                    } else {
                        self.idx[k].d.next = 0.into();
                    }
                }
            }
        }
        self.load_header.next = self.ld_en.val() & (self.ld_field.val() == self.header_field.val());
        self.load_base.next = self.ld_en.val() & (self.ld_field.val() == self.base_field.val());
        if self.load_header.val() {
            self.size_r.d.next = self.ld_data.val().get_bits::<2>(21);
            self.nloops.d.next = self.ld_data.val().get_bits::<3>(18);
            self.dest_r.d.next = self.ld_data.val().get_bits::<2>(23);
            self.tile_r.d.next = self.ld_data.val().get_bits::<8>(8);
            // Bit NARROW_BIT (a literal: paths do not reach Verilog).
            self.narrow_r.d.next = self.ld_data.val().get_bit(16);
        }
        if self.load_base.val() {
            self.base.d.next = self.ld_data.val();
        }
        for k in 0..MAX_LOOPS {
            self.load_count[k].next =
                self.ld_en.val() & (self.ld_field.val() == self.count_field[k].val());
            self.load_stride[k].next =
                self.ld_en.val() & (self.ld_field.val() == self.stride_field[k].val());
            if self.load_count[k].val() {
                self.count[k].d.next = self.ld_data.val().get_bits::<COUNT_BITS>(0);
            }
            if self.load_stride[k].val() {
                self.stride[k].d.next = self.ld_data.val();
            }
        }
        self.valid.next = self.busy.q.val();
        self.addr.next = self.lvl[0].q.val();
        self.size_code.next = self.size_r.q.val();
        self.dest.next = self.dest_r.q.val();
        self.tile.next = self.tile_r.q.val();
        self.narrow.next = self.narrow_r.q.val();
    }
}
