//! The processing engine (PE): `lanes` MAC lanes sharing one broadcast operand, the control
//! pipeline, the broadcast-operand reuse buffer and the performance counters.
//!
//! A beat is presented on the `in_*` ports with `in_valid`; it enters the stage-0 registers at the
//! next rising edge. Its result (for forward, backward, gradient and max beats only the beat
//! carrying `in_last`, for update and select beats every beat) appears on `out_*` with `out_valid` exactly
//! [`PE_LATENCY`] rising edges after it was presented. The PE never stalls: one beat per cycle.
//!
//! Each lane registers the beat and carries its own control pipeline; the lanes' flags say when a
//! result is out and when the multipliers are busy.
//!
//! The broadcast operand comes from the `bcast` port, or (with `bcast_from_buffer`) from the reuse
//! buffer at `buffer_read_address`, written beforehand through the buffer's write port.

use crate::config::Config;
use crate::config::OPERAND_BUFFER_ADDR_BITS as ADDR_BITS;
use crate::lfsr::lane_salt;
use crate::mac_lane::MacLane;
use crate::memory::Memory;
use crate::ops::{ActFn, PeMode};
use rust_hdl::prelude::*;

/// Rising edges from a beat on the input ports to its result on the output ports.
pub const PE_LATENCY: usize = 6;
/// Width of the performance counters.
pub const COUNTER_BITS: usize = 32;

#[derive(LogicBlock)]
pub struct Pe {
    pub clock: Signal<In, Clock>,
    pub in_valid: Signal<In, Bit>,
    pub in_first: Signal<In, Bit>,
    pub in_last: Signal<In, Bit>,
    pub mode: Signal<In, PeMode>,
    pub act: Signal<In, ActFn>,
    /// Learning rate, unsigned with 16 fraction bits (update beats).
    pub eta: Signal<In, Bits<16>>,
    pub bcast: Signal<In, Bits<16>>,
    pub bcast_from_buffer: Signal<In, Bit>,
    pub buffer_read_address: Signal<In, Bits<ADDR_BITS>>,
    pub buffer_write_enable: Signal<In, Bit>,
    pub buffer_write_address: Signal<In, Bits<ADDR_BITS>>,
    pub buffer_write_data: Signal<In, Bits<16>>,
    pub opa: Vec<Signal<In, Bits<32>>>,
    pub opb: Vec<Signal<In, Bits<32>>>,
    pub seed_load: Signal<In, Bit>,
    pub seed: Signal<In, Bits<32>>,
    pub counter_clear: Signal<In, Bit>,
    pub out_valid: Signal<Out, Bit>,
    pub out_wide: Vec<Signal<Out, Bits<32>>>,
    pub out_narrow: Vec<Signal<Out, Bits<16>>>,
    /// Cycles in which a beat occupied the multiplier stage.
    pub busy_cycles: Signal<Out, Bits<COUNTER_BITS>>,
    /// Saturation events of every result produced (requantization, alignment, update).
    pub sat_events: Signal<Out, Bits<COUNTER_BITS>>,

    lanes: Vec<MacLane>,
    salts: Vec<Constant<Bits<32>>>,
    reuse_buffer: Memory<16, ADDR_BITS>,
    busy: DFF<Bits<COUNTER_BITS>>,
    sat_cycle: DFF<Bits<16>>,
    sat_total: DFF<Bits<COUNTER_BITS>>,
    sat_sum: Signal<Local, Bits<16>>,
    any_valid: Signal<Local, Bit>,
    any_busy: Signal<Local, Bit>,
    _lanes: usize,
}

impl Pe {
    pub fn new(config: &Config) -> Pe {
        let n = config.pe.lanes;
        let (f, g) = (config.format.frac_bits, config.format.grad_frac_bits);
        Pe {
            clock: Default::default(),
            in_valid: Default::default(),
            in_first: Default::default(),
            in_last: Default::default(),
            mode: Default::default(),
            act: Default::default(),
            eta: Default::default(),
            bcast: Default::default(),
            bcast_from_buffer: Default::default(),
            buffer_read_address: Default::default(),
            buffer_write_enable: Default::default(),
            buffer_write_address: Default::default(),
            buffer_write_data: Default::default(),
            opa: (0..n).map(|_| Default::default()).collect(),
            opb: (0..n).map(|_| Default::default()).collect(),
            seed_load: Default::default(),
            seed: Default::default(),
            counter_clear: Default::default(),
            out_valid: Default::default(),
            out_wide: (0..n).map(|_| Default::default()).collect(),
            out_narrow: (0..n).map(|_| Default::default()).collect(),
            busy_cycles: Default::default(),
            sat_events: Default::default(),
            lanes: (0..n).map(|_| MacLane::new(f, g)).collect(),
            salts: (0..n)
                .map(|i| Constant::new(bits(lane_salt(i) as u64)))
                .collect(),
            reuse_buffer: Memory::new(config.pe.operand_buffer_depth),
            busy: Default::default(),
            sat_cycle: Default::default(),
            sat_total: Default::default(),
            sat_sum: Default::default(),
            any_valid: Default::default(),
            any_busy: Default::default(),
            _lanes: n,
        }
    }

    pub fn lanes(&self) -> usize {
        self._lanes
    }
}

impl Logic for Pe {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, busy, sat_cycle, sat_total);
        self.reuse_buffer.clock.next = self.clock.val();
        self.reuse_buffer.write_enable.next = self.buffer_write_enable.val();
        self.reuse_buffer.write_address.next = self.buffer_write_address.val();
        self.reuse_buffer.write_data.next = self.buffer_write_data.val();
        self.reuse_buffer.read_address.next = self.buffer_read_address.val();

        // Every lane carries the same control: any lane's flags are all lanes' flags.
        self.any_valid.next = false;
        self.any_busy.next = false;

        self.sat_sum.next = 0.into();
        for i in 0..self._lanes {
            self.lanes[i].clock.next = self.clock.val();
            self.lanes[i].opa.next = self.opa[i].val();
            self.lanes[i].opb.next = self.opb[i].val();
            self.lanes[i].in_valid.next = self.in_valid.val();
            self.lanes[i].in_first.next = self.in_first.val();
            self.lanes[i].in_last.next = self.in_last.val();
            self.lanes[i].mode.next = self.mode.val();
            self.lanes[i].act.next = self.act.val();
            self.lanes[i].eta.next = self.eta.val();
            self.lanes[i].bcast.next = self.bcast.val();
            self.lanes[i].bcast_from_buffer.next = self.bcast_from_buffer.val();
            self.lanes[i].buffer_data.next = self.reuse_buffer.read_data.val();
            self.lanes[i].seed_load.next = self.seed_load.val();
            self.lanes[i].seed.next = self.seed.val();
            self.lanes[i].salt.next = self.salts[i].val();
            self.out_wide[i].next = self.lanes[i].out_wide.val();
            self.out_narrow[i].next = self.lanes[i].out_narrow.val();
            self.sat_sum.next = self.sat_sum.val() + self.lanes[i].sat_events.val();
            self.any_valid.next = self.any_valid.val() | self.lanes[i].out_valid.val();
            self.any_busy.next = self.any_busy.val() | self.lanes[i].mac_busy.val();
        }

        // Counters: saturations are summed over the lanes in one cycle and added the next.
        self.sat_cycle.d.next = self.sat_sum.val();
        if self.counter_clear.val() {
            self.busy.d.next = 0.into();
            self.sat_total.d.next = 0.into();
        } else {
            if self.any_busy.val() {
                self.busy.d.next = self.busy.q.val() + 1;
            }
            if self.sat_cycle.q.val().any() {
                self.sat_total.d.next =
                    self.sat_total.q.val() + bit_cast::<32, 16>(self.sat_cycle.q.val());
            }
        }
        self.out_valid.next = self.any_valid.val();
        self.busy_cycles.next = self.busy.q.val();
        self.sat_events.next = self.sat_total.q.val();
    }
}
