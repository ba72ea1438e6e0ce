//! A router input buffer: a first-word-fall-through FIFO of flits (`W` data bits plus the tail
//! mark) with a depth chosen at run time.
//!
//! The head flit is visible on `head_*` while `valid` is high and leaves on a rising edge with
//! `pop`. The outputs depend on registers only, so the router may decide `pop` from them in the
//! same cycle without a combinational loop. Credit flow control means a full buffer never sees a
//! push; if it does, the flit is dropped and `overflow` stays high from then on, which tests check.

use crate::config::MAX_NOC_INPUT_BUFFER_DEPTH;
use rust_hdl::prelude::*;

/// Width of the read and write pointers (enough for [`MAX_NOC_INPUT_BUFFER_DEPTH`] slots).
pub const PTR_BITS: usize = 4;
/// Width of the occupancy count (0..=depth).
pub const COUNT_BITS: usize = PTR_BITS + 1;

#[derive(LogicBlock)]
pub struct FlitFifo<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub push: Signal<In, Bit>,
    pub push_tail: Signal<In, Bit>,
    pub push_data: Signal<In, Bits<W>>,
    pub pop: Signal<In, Bit>,
    pub valid: Signal<Out, Bit>,
    pub head_tail: Signal<Out, Bit>,
    pub head_data: Signal<Out, Bits<W>>,
    pub overflow: Signal<Out, Bit>,
    /// Flits held (0..=depth).
    pub occupancy: Signal<Out, Bits<COUNT_BITS>>,

    slot_data: Vec<DFF<Bits<W>>>,
    slot_tail: Vec<DFF<Bit>>,
    wr_ptr: DFF<Bits<PTR_BITS>>,
    rd_ptr: DFF<Bits<PTR_BITS>>,
    count: DFF<Bits<COUNT_BITS>>,
    overflowed: DFF<Bit>,

    do_push: Signal<Local, Bit>,
    do_pop: Signal<Local, Bit>,
    /// Per slot: it takes the pushed flit. One named load condition per slot, so that a clock
    /// gate's enable is a signal the activity simulation sees (docs/flow.md).
    slot_write: Vec<Signal<Local, Bit>>,
    head_data_v: Signal<Local, Bits<W>>,
    head_tail_v: Signal<Local, Bit>,

    slot_index: Vec<Constant<Bits<PTR_BITS>>>,
    last_index: Constant<Bits<PTR_BITS>>,
    full_count: Constant<Bits<COUNT_BITS>>,
    _depth: usize,
}

impl<const W: usize> FlitFifo<W> {
    pub fn new(depth: usize) -> FlitFifo<W> {
        assert!((1..=MAX_NOC_INPUT_BUFFER_DEPTH).contains(&depth));
        FlitFifo {
            clock: Default::default(),
            push: Default::default(),
            push_tail: Default::default(),
            push_data: Default::default(),
            pop: Default::default(),
            valid: Default::default(),
            head_tail: Default::default(),
            head_data: Default::default(),
            overflow: Default::default(),
            occupancy: Default::default(),
            slot_data: (0..depth).map(|_| Default::default()).collect(),
            slot_tail: (0..depth).map(|_| Default::default()).collect(),
            wr_ptr: Default::default(),
            rd_ptr: Default::default(),
            count: Default::default(),
            overflowed: Default::default(),
            do_push: Default::default(),
            do_pop: Default::default(),
            slot_write: (0..depth).map(|_| Default::default()).collect(),
            head_data_v: Default::default(),
            head_tail_v: Default::default(),
            slot_index: (0..depth).map(|i| Constant::new(bits(i as u64))).collect(),
            last_index: Constant::new(bits(depth as u64 - 1)),
            full_count: Constant::new(bits(depth as u64)),
            _depth: depth,
        }
    }
}

impl<const W: usize> Logic for FlitFifo<W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, wr_ptr, rd_ptr, count, overflowed);
        self.do_push.next = self.push.val() & (self.count.q.val() != self.full_count.val());
        self.do_pop.next = self.pop.val() & self.count.q.val().any();
        self.head_data_v.next = 0.into();
        self.head_tail_v.next = false;
        for i in 0..self._depth {
            self.slot_data[i].clock.next = self.clock.val();
            self.slot_tail[i].clock.next = self.clock.val();
            self.slot_data[i].d.next = self.slot_data[i].q.val();
            self.slot_tail[i].d.next = self.slot_tail[i].q.val();
            self.slot_write[i].next =
                self.do_push.val() & (self.wr_ptr.q.val() == self.slot_index[i].val());
            if self.slot_write[i].val() {
                self.slot_data[i].d.next = self.push_data.val();
                self.slot_tail[i].d.next = self.push_tail.val();
            }
            if self.rd_ptr.q.val() == self.slot_index[i].val() {
                self.head_data_v.next = self.slot_data[i].q.val();
                self.head_tail_v.next = self.slot_tail[i].q.val();
            }
        }
        if self.do_push.val() {
            if self.wr_ptr.q.val() == self.last_index.val() {
                self.wr_ptr.d.next = 0.into();
            } else {
                self.wr_ptr.d.next = self.wr_ptr.q.val() + 1;
            }
        }
        if self.do_pop.val() {
            if self.rd_ptr.q.val() == self.last_index.val() {
                self.rd_ptr.d.next = 0.into();
            } else {
                self.rd_ptr.d.next = self.rd_ptr.q.val() + 1;
            }
        }
        if self.do_push.val() & !self.do_pop.val() {
            self.count.d.next = self.count.q.val() + 1;
        }
        if !self.do_push.val() & self.do_pop.val() {
            self.count.d.next = self.count.q.val() - 1;
        }
        if self.push.val() & !self.do_push.val() {
            self.overflowed.d.next = true;
        }
        self.valid.next = self.count.q.val().any();
        self.head_data.next = self.head_data_v.val();
        self.head_tail.next = self.head_tail_v.val();
        self.overflow.next = self.overflowed.q.val();
        self.occupancy.next = self.count.q.val();
    }
}
