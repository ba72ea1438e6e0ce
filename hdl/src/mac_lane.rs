//! One MAC lane of the processing engine: its datapath through the six pipeline stages.
//!
//! Each lane registers the beat's control (valid, first, last, mode, activation, eta) and carries
//! it along its own pipeline (`kN_*` = the beat held in stage-N registers): a shared control
//! register would drive every lane's datapath and set the clock.
//!
//! | stage | registers            | work                                                        |
//! |-------|----------------------|-------------------------------------------------------------|
//! | r0    | opa, opb             | operands captured                                           |
//! | r1    | prod, upd_hi         | signed a*b, or eta*g[15:0] (update); eta*g[31:16] (update) or y*y (backward) |
//! | r2    | acc, step, max       | acc = (first ? bias : acc) + prod; SR step (eta*g + r) >> 16; running maximum and its first position |
//! | r3    | q, d, wide           | requantize; derivative; gradient align; w - step saturated   |
//! | r4    | narrow, bwd product  | activation; q*d                                             |
//! | r5    | out_narrow, out_wide | requantize q*d; results                                      |
//!
//! Per-lane operands: `opa[15:0]` is the MAC operand; in update mode `opa` is the master weight and
//! `opb` the gradient. `opb` is the bias with a forward beat's first term and carries the stored
//! output y (low 16 bits) with a backward beat's last term.
//!
//! Max pooling uses two more modes. `Max` keeps a running maximum of `opa[15:0]` (signed) over the
//! reduction and the term index of its first occurrence (a later equal term does not replace it):
//! `out_narrow` is the maximum, `out_wide` the index. `Select` routes: `opb[15:0]` if `opa[15:0]`
//! equals the broadcast operand, else 0, on every beat (r1), carried to the outputs unchanged.
//! Neither rounds nor saturates, and both bypass the activation.
//!
//! Child inputs and outputs are assigned once per evaluation (temporaries hold intermediate
//! values): a glitch on them would re-trigger combinational blocks in event-driven simulators.

use crate::activation::Activation;
use crate::derivative::Derivative;
use crate::lfsr::SrLfsr;
use crate::mul16::Mul16;
use crate::ops::{ActFn, PeMode};
use crate::requant::{Requant, OFFSET48};
use rust_hdl::prelude::*;

const MASK48: u64 = (1 << 48) - 1;
/// The sign bit of a 16-bit value: XOR with it turns a signed comparison into an unsigned one.
const SIGN16: u64 = 1 << 15;

#[derive(LogicBlock)]
pub struct MacLane {
    pub clock: Signal<In, Clock>,
    pub opa: Signal<In, Bits<32>>,
    pub opb: Signal<In, Bits<32>>,
    /// The beat's control and broadcast operand as presented to the PE; every lane keeps its own
    /// control pipeline, so that no control register drives all lanes' datapaths.
    pub in_valid: Signal<In, Bit>,
    pub in_first: Signal<In, Bit>,
    pub in_last: Signal<In, Bit>,
    pub mode: Signal<In, PeMode>,
    pub act: Signal<In, ActFn>,
    pub eta: Signal<In, Bits<16>>,
    pub bcast: Signal<In, Bits<16>>,
    pub bcast_from_buffer: Signal<In, Bit>,
    /// The reuse buffer's read data, valid while the beat is in r0.
    pub buffer_data: Signal<In, Bits<16>>,
    pub seed_load: Signal<In, Bit>,
    pub seed: Signal<In, Bits<32>>,
    pub salt: Signal<In, Bits<32>>,
    /// The beat in r5 produced a result: `out_wide`/`out_narrow` hold it.
    pub out_valid: Signal<Out, Bit>,
    /// A beat occupies the multiplier stage (r1).
    pub mac_busy: Signal<Out, Bit>,
    pub out_wide: Signal<Out, Bits<32>>,
    pub out_narrow: Signal<Out, Bits<16>>,
    /// Saturation events of the beats in r3, r4 and r5 (each beat is counted once, in one stage).
    pub sat_events: Signal<Out, Bits<16>>,

    // control pipeline (kN = the beat in stage N)
    k0_valid: DFF<Bit>,
    k0_first: DFF<Bit>,
    k0_last: DFF<Bit>,
    k0_mode: DFF<PeMode>,
    k0_act: DFF<ActFn>,
    k0_eta: DFF<Bits<16>>,
    k0_bsel: DFF<Bit>,
    k0_bcast: DFF<Bits<16>>,
    k1_valid: DFF<Bit>,
    k1_first: DFF<Bit>,
    k1_emit: DFF<Bit>,
    k1_mode: DFF<PeMode>,
    k1_act: DFF<ActFn>,
    k1_eta: DFF<Bits<16>>,
    k2_emit: DFF<Bit>,
    k2_mode: DFF<PeMode>,
    k2_act: DFF<ActFn>,
    k3_emit: DFF<Bit>,
    k3_mode: DFF<PeMode>,
    k3_act: DFF<ActFn>,
    k4_emit: DFF<Bit>,
    k4_mode: DFF<PeMode>,
    k5_emit: DFF<Bit>,
    bc_effective: Signal<Local, Bits<16>>,
    // r0
    opa_r0: DFF<Bits<32>>,
    opb_r0: DFF<Bits<32>>,
    // r1
    prod_r1: DFF<Bits<32>>,
    upd_hi_r1: DFF<Bits<32>>,
    rand_r1: DFF<Bits<16>>,
    opa_r1: DFF<Bits<32>>,
    opb_r1: DFF<Bits<32>>,
    // r2
    acc: DFF<Bits<48>>,
    step_r2: DFF<Bits<48>>,
    weight_r2: DFF<Bits<32>>,
    y_r2: DFF<Bits<16>>,
    yy_r2: DFF<Bits<32>>,
    max_r2: DFF<Bits<16>>,
    arg_r2: DFF<Bits<16>>,
    term_r2: DFF<Bits<16>>,
    // r3
    q_r3: DFF<Bits<16>>,
    d_r3: DFF<Bits<16>>,
    wide_r3: DFF<Bits<32>>,
    sat_r3: DFF<Bits<2>>,
    // r4
    narrow_r4: DFF<Bits<16>>,
    bwd_prod_r4: DFF<Bits<32>>,
    wide_r4: DFF<Bits<32>>,
    sat_r4: DFF<Bit>,
    // r5
    narrow_r5: DFF<Bits<16>>,
    wide_r5: DFF<Bits<32>>,
    sat_r5: DFF<Bit>,

    mac_mul: Mul16,
    bwd_mul: Mul16,
    lfsr: SrLfsr,
    requant: Requant,
    derivative: Derivative,
    activation: Activation,
    product_requant: Requant,

    // combinational temporaries
    abs_y: Signal<Local, Bits<16>>,
    mul_a: Signal<Local, Bits<16>>,
    mul_b: Signal<Local, Bits<16>>,
    mul_signed: Signal<Local, Bit>,
    bias48: Signal<Local, Bits<48>>,
    prod48: Signal<Local, Bits<48>>,
    step_sum: Signal<Local, Bits<64>>,
    step64: Signal<Local, Bits<64>>,
    diff48: Signal<Local, Bits<48>>,
    wide48: Signal<Local, Bits<48>>,
    bwd48: Signal<Local, Bits<48>>,
    master48: Signal<Local, Bits<48>>,
    sat3: Signal<Local, Bits<2>>,
    narrow5: Signal<Local, Bits<16>>,
    sat_sum: Signal<Local, Bits<16>>,
    term_next: Signal<Local, Bits<16>>,
    max_pass: Signal<Local, Bit>,
    // Loads of the registers only some modes read, each one named signal: it is the enable of
    // their clock gate, and the power analysis measures how often it is high (docs/flow.md).
    load_acc: Signal<Local, Bit>,
    load_max: Signal<Local, Bit>,
    load_master: Signal<Local, Bit>,
    load_update: Signal<Local, Bit>,
    load_output: Signal<Local, Bit>,
    load_square: Signal<Local, Bit>,

    // constants derived from F and G
    bias_half: Constant<Bits<48>>,
    bias_shift: Constant<Bits<8>>,
    bias_fill: Constant<Bits<48>>,
    grad_shift: Constant<Bits<8>>,
    grad_hi: Constant<Bits<48>>,
    grad_lo: Constant<Bits<48>>,
    w_hi: Constant<Bits<48>>,
    w_lo: Constant<Bits<48>>,
    /// The masters whose MAC weight saturates lie above `mac_hi` or below `mac_lo` (offset).
    mac_hi: Constant<Bits<48>>,
    mac_lo: Constant<Bits<48>>,
    offset48: Constant<Bits<48>>,
    sext16_48: Constant<Bits<48>>,
    sext32_48: Constant<Bits<48>>,
    sext16_32: Constant<Bits<32>>,
    step_fill: Constant<Bits<64>>,
    sign16: Constant<Bits<16>>,
}

impl MacLane {
    /// A lane for F = `frac_bits`, G = `grad_frac_bits`. Every lane is the same module; the PE
    /// gives each its LFSR salt through `salt`.
    pub fn new(frac_bits: u32, grad_frac_bits: u32) -> MacLane {
        let f = frac_bits as u64;
        let g = grad_frac_bits as u64;
        let bias_shift = g - 2 * f;
        let grad_limit = 1u64 << (31 - bias_shift);
        // A MAC weight is sat16((w + mac_half) >> (G - F)): it saturates from w = mac_limit -
        // mac_half up and below -mac_limit - mac_half.
        let mac_shift = g - f;
        let mac_limit = 1u64 << (mac_shift + 15);
        let mac_half = if mac_shift == 0 {
            0
        } else {
            1 << (mac_shift - 1)
        };
        MacLane {
            clock: Default::default(),
            opa: Default::default(),
            opb: Default::default(),
            in_valid: Default::default(),
            in_first: Default::default(),
            in_last: Default::default(),
            mode: Default::default(),
            act: Default::default(),
            eta: Default::default(),
            bcast: Default::default(),
            bcast_from_buffer: Default::default(),
            buffer_data: Default::default(),
            k0_valid: Default::default(),
            k0_first: Default::default(),
            k0_last: Default::default(),
            k0_mode: Default::default(),
            k0_act: Default::default(),
            k0_eta: Default::default(),
            k0_bsel: Default::default(),
            k0_bcast: Default::default(),
            k1_valid: Default::default(),
            k1_first: Default::default(),
            k1_emit: Default::default(),
            k1_mode: Default::default(),
            k1_act: Default::default(),
            k1_eta: Default::default(),
            k2_emit: Default::default(),
            k2_mode: Default::default(),
            k2_act: Default::default(),
            k3_emit: Default::default(),
            k3_mode: Default::default(),
            k3_act: Default::default(),
            k4_emit: Default::default(),
            k4_mode: Default::default(),
            k5_emit: Default::default(),
            bc_effective: Default::default(),
            seed_load: Default::default(),
            seed: Default::default(),
            salt: Default::default(),
            out_valid: Default::default(),
            mac_busy: Default::default(),
            out_wide: Default::default(),
            out_narrow: Default::default(),
            sat_events: Default::default(),
            opa_r0: Default::default(),
            opb_r0: Default::default(),
            prod_r1: Default::default(),
            upd_hi_r1: Default::default(),
            rand_r1: Default::default(),
            opa_r1: Default::default(),
            opb_r1: Default::default(),
            acc: Default::default(),
            step_r2: Default::default(),
            weight_r2: Default::default(),
            y_r2: Default::default(),
            yy_r2: Default::default(),
            max_r2: Default::default(),
            arg_r2: Default::default(),
            term_r2: Default::default(),
            q_r3: Default::default(),
            d_r3: Default::default(),
            wide_r3: Default::default(),
            sat_r3: Default::default(),
            narrow_r4: Default::default(),
            bwd_prod_r4: Default::default(),
            wide_r4: Default::default(),
            narrow_r5: Default::default(),
            wide_r5: Default::default(),
            sat_r5: Default::default(),
            sat_r4: Default::default(),
            mac_mul: Default::default(),
            bwd_mul: Default::default(),
            lfsr: SrLfsr::default(),
            requant: Requant::new(frac_bits),
            derivative: Derivative::new(frac_bits),
            activation: Activation::new(frac_bits),
            product_requant: Requant::new(frac_bits),
            abs_y: Default::default(),
            mul_a: Default::default(),
            mul_b: Default::default(),
            mul_signed: Default::default(),
            bias48: Default::default(),
            prod48: Default::default(),
            step_sum: Default::default(),
            step64: Default::default(),
            diff48: Default::default(),
            wide48: Default::default(),
            bwd48: Default::default(),
            master48: Default::default(),
            sat3: Default::default(),
            narrow5: Default::default(),
            sat_sum: Default::default(),
            term_next: Default::default(),
            max_pass: Default::default(),
            load_acc: Default::default(),
            load_max: Default::default(),
            load_master: Default::default(),
            load_update: Default::default(),
            load_output: Default::default(),
            load_square: Default::default(),
            bias_half: Constant::new(bits(if bias_shift == 0 {
                0
            } else {
                1 << (bias_shift - 1)
            })),
            bias_shift: Constant::new(bits(bias_shift)),
            bias_fill: Constant::new(bits(MASK48 & !(MASK48 >> bias_shift))),
            grad_shift: Constant::new(bits(bias_shift)),
            grad_hi: Constant::new(bits(OFFSET48 + grad_limit - 1)),
            grad_lo: Constant::new(bits(OFFSET48 - grad_limit)),
            w_hi: Constant::new(bits(OFFSET48 + (1 << 31) - 1)),
            w_lo: Constant::new(bits(OFFSET48 - (1 << 31))),
            mac_hi: Constant::new(bits(OFFSET48 + mac_limit - mac_half - 1)),
            mac_lo: Constant::new(bits(OFFSET48 - mac_limit - mac_half)),
            offset48: Constant::new(bits(OFFSET48)),
            sext16_48: Constant::new(bits(MASK48 & !0xFFFF)),
            sext32_48: Constant::new(bits(MASK48 & !0xFFFF_FFFF)),
            sext16_32: Constant::new(bits(0xFFFF_0000)),
            step_fill: Constant::new(bits(!(u64::MAX >> 16))),
            sign16: Constant::new(bits(SIGN16)),
        }
    }
}

impl Logic for MacLane {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            k0_valid,
            k0_first,
            k0_last,
            k0_mode,
            k0_act,
            k0_eta,
            k0_bsel,
            k0_bcast,
            k1_valid,
            k1_first,
            k1_emit,
            k1_mode,
            k1_act,
            k1_eta,
            k2_emit,
            k2_mode,
            k2_act,
            k3_emit,
            k3_mode,
            k3_act,
            k4_emit,
            k4_mode,
            k5_emit,
            opa_r0,
            opb_r0,
            prod_r1,
            upd_hi_r1,
            rand_r1,
            opa_r1,
            opb_r1,
            acc,
            step_r2,
            weight_r2,
            y_r2,
            yy_r2,
            max_r2,
            arg_r2,
            term_r2,
            q_r3,
            d_r3,
            wide_r3,
            sat_r3,
            narrow_r4,
            bwd_prod_r4,
            wide_r4,
            narrow_r5,
            wide_r5,
            sat_r4,
            sat_r5
        );
        self.lfsr.clock.next = self.clock.val();
        self.lfsr.seed.next = self.seed.val();
        self.lfsr.load.next = self.seed_load.val();
        self.lfsr.salt.next = self.salt.val();

        // Control pipeline.
        self.k0_valid.d.next = self.in_valid.val();
        self.k0_first.d.next = self.in_first.val();
        self.k0_last.d.next = self.in_last.val();
        self.k0_mode.d.next = self.mode.val();
        self.k0_act.d.next = self.act.val();
        self.k0_eta.d.next = self.eta.val();
        self.k0_bsel.d.next = self.bcast_from_buffer.val();
        self.k0_bcast.d.next = self.bcast.val();
        self.k1_valid.d.next = self.k0_valid.q.val();
        self.k1_first.d.next = self.k0_first.q.val();
        self.k1_emit.d.next = self.k0_valid.q.val()
            & (self.k0_last.q.val()
                | (self.k0_mode.q.val() == PeMode::Update)
                | (self.k0_mode.q.val() == PeMode::Select));
        self.k1_mode.d.next = self.k0_mode.q.val();
        self.k1_act.d.next = self.k0_act.q.val();
        self.k1_eta.d.next = self.k0_eta.q.val();
        self.k2_emit.d.next = self.k1_emit.q.val();
        self.k2_mode.d.next = self.k1_mode.q.val();
        self.k2_act.d.next = self.k1_act.q.val();
        self.k3_emit.d.next = self.k2_emit.q.val();
        self.k3_mode.d.next = self.k2_mode.q.val();
        self.k3_act.d.next = self.k2_act.q.val();
        self.k4_emit.d.next = self.k3_emit.q.val();
        self.k4_mode.d.next = self.k3_mode.q.val();
        self.k5_emit.d.next = self.k4_emit.q.val();
        self.out_valid.next = self.k5_emit.q.val();
        self.mac_busy.next = self.k1_valid.q.val();
        self.bc_effective.next = self.k0_bcast.q.val();
        if self.k0_bsel.q.val() {
            self.bc_effective.next = self.buffer_data.val();
        }

        // r0: capture operands.
        self.opa_r0.d.next = self.opa.val();
        self.opb_r0.d.next = self.opb.val();

        // r1: multiply. An update's beat reads no MAC product, so the MAC multiplier takes the
        // unsigned eta * g[15:0] then, and a second one eta * g[31:16]; in backward mode that
        // second one squares |y| for the derivative instead.
        self.mul_a.next = self.opa_r0.q.val().get_bits::<16>(0);
        self.mul_b.next = self.bc_effective.val();
        self.mul_signed.next = true;
        if self.k0_mode.q.val() == PeMode::Update {
            self.mul_a.next = self.k0_eta.q.val();
            self.mul_b.next = self.opb_r0.q.val().get_bits::<16>(0);
            self.mul_signed.next = false;
        }
        self.mac_mul.a.next = self.mul_a.val();
        self.mac_mul.b.next = self.mul_b.val();
        self.mac_mul.signed_operands.next = self.mul_signed.val();
        self.prod_r1.d.next = self.mac_mul.p.val();
        self.abs_y.next = self.opb_r0.q.val().get_bits::<16>(0);
        if self.abs_y.val().get_bit(15) {
            self.abs_y.next = 0 - self.abs_y.val();
        }
        if self.k0_mode.q.val() == PeMode::Backward {
            self.upd_hi_r1.d.next = self.abs_y.val() * self.abs_y.val();
        } else {
            self.upd_hi_r1.d.next = self.k0_eta.q.val() * self.opb_r0.q.val().get_bits::<16>(16);
        }
        self.lfsr.advance.next = self.k0_valid.q.val() & (self.k0_mode.q.val() == PeMode::Update);
        self.rand_r1.d.next = self.lfsr.r.val();
        self.opa_r1.d.next = self.opa_r0.q.val();
        self.opb_r1.d.next = self.opb_r0.q.val();
        // Select: the routed value replaces opb, which no later stage reads in this mode.
        if (self.k0_mode.q.val() == PeMode::Select)
            & (self.opa_r0.q.val().get_bits::<16>(0) != self.bc_effective.val())
        {
            self.opb_r1.d.next = 0.into();
        }

        // r2: accumulate. A forward reduction starts from the bias aligned to 2F bits (round half
        // up); the other reductions start from zero.
        self.prod48.next = bit_cast::<48, 32>(self.prod_r1.q.val());
        if self.prod_r1.q.val().get_bit(31) {
            self.prod48.next = self.prod48.val() | self.sext32_48.val();
        }
        self.bias48.next = bit_cast::<48, 32>(self.opb_r1.q.val());
        if self.opb_r1.q.val().get_bit(31) {
            self.bias48.next = self.bias48.val() | self.sext32_48.val();
        }
        self.bias48.next = self.bias48.val() + self.bias_half.val();
        if self.bias48.val().get_bit(47) {
            self.bias48.next = (self.bias48.val() >> self.bias_shift.val()) | self.bias_fill.val();
        } else {
            self.bias48.next = self.bias48.val() >> self.bias_shift.val();
        }
        if self.k1_mode.q.val() != PeMode::Forward {
            self.bias48.next = 0.into();
        }
        self.load_acc.next = self.k1_valid.q.val() & (self.k1_mode.q.val() != PeMode::Update);
        if self.load_acc.val() {
            if self.k1_first.q.val() {
                self.acc.d.next = self.bias48.val() + self.prod48.val();
            } else {
                self.acc.d.next = self.acc.q.val() + self.prod48.val();
            }
        }
        // SR step: (eta * g + r) >> 16, arithmetic, from the two unsigned halves of eta * g.
        self.step_sum.next = (bit_cast::<64, 32>(self.upd_hi_r1.q.val()) << 16)
            + bit_cast::<64, 32>(self.prod_r1.q.val())
            + bit_cast::<64, 16>(self.rand_r1.q.val());
        if self.opb_r1.q.val().get_bit(31) {
            self.step_sum.next =
                self.step_sum.val() - (bit_cast::<64, 16>(self.k1_eta.q.val()) << 32);
        }
        self.step64.next = self.step_sum.val() >> 16;
        if self.step_sum.val().get_bit(63) {
            self.step64.next = self.step64.val() | self.step_fill.val();
        }
        self.step_r2.d.next = bit_cast::<48, 64>(self.step64.val());
        self.weight_r2.d.next = self.opa_r1.q.val();
        self.y_r2.d.next = self.opb_r1.q.val().get_bits::<16>(0);
        self.yy_r2.d.next = self.upd_hi_r1.q.val();
        // Running maximum: only a strictly greater term moves it, so the first maximum stays.
        self.term_next.next = self.term_r2.q.val() + 1;
        self.max_pass.next = (self.opa_r1.q.val().get_bits::<16>(0) ^ self.sign16.val())
            > (self.max_r2.q.val() ^ self.sign16.val());
        self.load_max.next = self.k1_valid.q.val() & (self.k1_mode.q.val() == PeMode::Max);
        if self.load_max.val() {
            if self.k1_first.q.val() {
                self.max_r2.d.next = self.opa_r1.q.val().get_bits::<16>(0);
                self.arg_r2.d.next = 0.into();
                self.term_r2.d.next = 0.into();
            } else {
                self.term_r2.d.next = self.term_next.val();
                if self.max_pass.val() {
                    self.max_r2.d.next = self.opa_r1.q.val().get_bits::<16>(0);
                    self.arg_r2.d.next = self.term_next.val();
                }
            }
        }

        // r3: requantize, derivative, gradient alignment, weight update.
        self.requant.x.next = self.acc.q.val();
        self.q_r3.d.next = self.requant.q.val();
        if self.k2_mode.q.val() == PeMode::Max {
            self.q_r3.d.next = self.max_r2.q.val();
        }
        if self.k2_mode.q.val() == PeMode::Select {
            self.q_r3.d.next = self.y_r2.q.val();
        }
        self.derivative.y.next = self.y_r2.q.val();
        self.derivative.yy.next = self.yy_r2.q.val();
        self.derivative.act.next = self.k2_act.q.val();
        self.d_r3.d.next = self.derivative.d.val();
        self.sat_r3.d.next = 0.into();
        self.wide48.next = self.acc.q.val();
        self.diff48.next = bit_cast::<48, 32>(self.weight_r2.q.val());
        if self.weight_r2.q.val().get_bit(31) {
            self.diff48.next = self.diff48.val() | self.sext32_48.val();
        }
        self.diff48.next = self.diff48.val() - self.step_r2.q.val();
        self.sat3.next = 0.into();
        match self.k2_mode.q.val() {
            PeMode::Forward => {
                self.wide_r3.d.next = 0.into();
                if self.requant.saturated.val() {
                    self.sat3.next = 1.into();
                }
            }
            PeMode::Backward => {
                self.wide_r3.d.next = 0.into();
                if self.requant.saturated.val() {
                    self.sat3.next = self.sat3.val() + 1;
                }
                if self.derivative.saturated.val() {
                    self.sat3.next = self.sat3.val() + 1;
                }
            }
            PeMode::Gradient => {
                self.wide_r3.d.next =
                    bit_cast::<32, 48>(self.wide48.val() << self.grad_shift.val());
                if (self.wide48.val() ^ self.offset48.val()) > self.grad_hi.val() {
                    self.wide_r3.d.next = 0x7FFF_FFFF_u64.into();
                    self.sat3.next = 1.into();
                }
                if (self.wide48.val() ^ self.offset48.val()) < self.grad_lo.val() {
                    self.wide_r3.d.next = 0x8000_0000_u64.into();
                    self.sat3.next = 1.into();
                }
            }
            PeMode::Update => {
                self.wide_r3.d.next = bit_cast::<32, 48>(self.diff48.val());
                if (self.diff48.val() ^ self.offset48.val()) > self.w_hi.val() {
                    self.wide_r3.d.next = 0x7FFF_FFFF_u64.into();
                    self.sat3.next = 1.into();
                }
                if (self.diff48.val() ^ self.offset48.val()) < self.w_lo.val() {
                    self.wide_r3.d.next = 0x8000_0000_u64.into();
                    self.sat3.next = 1.into();
                }
            }
            PeMode::Max => {
                self.wide_r3.d.next = bit_cast::<32, 16>(self.arg_r2.q.val());
            }
            _ => {
                self.wide_r3.d.next = 0.into();
            }
        }
        // Only beats that produce a result count their saturations.
        if self.k2_emit.q.val() {
            self.sat_r3.d.next = self.sat3.val();
        }

        // r4: activation; backward product. An update's new master weight has no MAC weight
        // here: the streams that read the master derive it (docs/dataflow.md). Whether that MAC
        // weight saturates is counted here, once an update, not at every read.
        self.activation.z.next = self.q_r3.q.val();
        self.activation.act.next = self.k3_act.q.val();
        self.bwd_mul.a.next = self.q_r3.q.val();
        self.bwd_mul.b.next = self.d_r3.q.val();
        self.bwd_mul.signed_operands.next = true;
        self.bwd_prod_r4.d.next = self.bwd_mul.p.val();
        self.wide_r4.d.next = self.wide_r3.q.val();
        self.master48.next = bit_cast::<48, 32>(self.wide_r3.q.val());
        if self.wide_r3.q.val().get_bit(31) {
            self.master48.next = self.master48.val() | self.sext32_48.val();
        }
        self.sat_r4.d.next = (self.k3_mode.q.val() == PeMode::Update)
            & self.k3_emit.q.val()
            & (((self.master48.val() ^ self.offset48.val()) > self.mac_hi.val())
                | ((self.master48.val() ^ self.offset48.val()) < self.mac_lo.val()));
        self.narrow_r4.d.next = self.activation.y.val();
        if (self.k3_mode.q.val() == PeMode::Gradient) | (self.k3_mode.q.val() == PeMode::Update) {
            self.narrow_r4.d.next = 0.into();
        }
        if (self.k3_mode.q.val() == PeMode::Max) | (self.k3_mode.q.val() == PeMode::Select) {
            self.narrow_r4.d.next = self.q_r3.q.val();
        }

        // r5: second rounding of the backward product.
        self.bwd48.next = bit_cast::<48, 32>(self.bwd_prod_r4.q.val());
        if self.bwd_prod_r4.q.val().get_bit(31) {
            self.bwd48.next = self.bwd48.val() | self.sext32_48.val();
        }
        self.product_requant.x.next = self.bwd48.val();
        self.narrow5.next = self.narrow_r4.q.val();
        self.sat_r5.d.next = false;
        if self.k4_mode.q.val() == PeMode::Backward {
            self.narrow5.next = self.product_requant.q.val();
            self.sat_r5.d.next = self.k4_emit.q.val() & self.product_requant.saturated.val();
        }
        self.narrow_r5.d.next = self.narrow5.val();
        self.wide_r5.d.next = self.wide_r4.q.val();
        if (self.k4_mode.q.val() == PeMode::Forward)
            | (self.k4_mode.q.val() == PeMode::Backward)
            | (self.k4_mode.q.val() == PeMode::Select)
        {
            self.wide_r5.d.next = bit_cast::<32, 16>(self.narrow5.val());
            if self.narrow5.val().get_bit(15) {
                self.wide_r5.d.next = bit_cast::<32, 16>(self.narrow5.val()) | self.sext16_32.val();
            }
        }

        self.out_narrow.next = self.narrow_r5.q.val();
        self.out_wide.next = self.wide_r5.q.val();
        self.sat_sum.next = bit_cast::<16, 2>(self.sat_r3.q.val());
        if self.sat_r4.q.val() {
            self.sat_sum.next = self.sat_sum.val() + 1;
        }
        if self.sat_r5.q.val() {
            self.sat_sum.next = self.sat_sum.val() + 1;
        }
        self.sat_events.next = self.sat_sum.val();

        // A stage's registers load only when a beat enters it (results: when a result does), so
        // that synthesis gates their clocks (docs/flow.md): a PE between beats clocks only the
        // valid and emit flags, the accumulator's control and the saturation flags.
        if !self.in_valid.val() {
            self.k0_first.d.next = self.k0_first.q.val();
            self.k0_last.d.next = self.k0_last.q.val();
            self.k0_mode.d.next = self.k0_mode.q.val();
            self.k0_act.d.next = self.k0_act.q.val();
            self.k0_eta.d.next = self.k0_eta.q.val();
            self.k0_bsel.d.next = self.k0_bsel.q.val();
            self.k0_bcast.d.next = self.k0_bcast.q.val();
            self.opa_r0.d.next = self.opa_r0.q.val();
            self.opb_r0.d.next = self.opb_r0.q.val();
        }
        if !self.k0_valid.q.val() {
            self.k1_first.d.next = self.k1_first.q.val();
            self.k1_mode.d.next = self.k1_mode.q.val();
            self.k1_act.d.next = self.k1_act.q.val();
            self.k1_eta.d.next = self.k1_eta.q.val();
            self.prod_r1.d.next = self.prod_r1.q.val();
            self.upd_hi_r1.d.next = self.upd_hi_r1.q.val();
            self.rand_r1.d.next = self.rand_r1.q.val();
            self.opb_r1.d.next = self.opb_r1.q.val();
        }
        if !self.k1_valid.q.val() {
            self.k2_mode.d.next = self.k2_mode.q.val();
            self.k2_act.d.next = self.k2_act.q.val();
        }
        // Registers only some modes read load only in those: copied on every beat, the operand
        // A pipeline (opa_r1, weight_r2) made a quarter of a busy lane's register toggles while
        // a forward, backward or gradient reduction never reads it.
        self.load_master.next = self.k0_valid.q.val()
            & ((self.k0_mode.q.val() == PeMode::Update) | (self.k0_mode.q.val() == PeMode::Max));
        if !self.load_master.val() {
            self.opa_r1.d.next = self.opa_r1.q.val();
        }
        self.load_update.next = self.k1_valid.q.val() & (self.k1_mode.q.val() == PeMode::Update);
        if !self.load_update.val() {
            self.step_r2.d.next = self.step_r2.q.val();
            self.weight_r2.d.next = self.weight_r2.q.val();
        }
        self.load_output.next = self.k1_valid.q.val()
            & ((self.k1_mode.q.val() == PeMode::Backward)
                | (self.k1_mode.q.val() == PeMode::Select));
        if !self.load_output.val() {
            self.y_r2.d.next = self.y_r2.q.val();
        }
        self.load_square.next = self.k1_valid.q.val() & (self.k1_mode.q.val() == PeMode::Backward);
        if !self.load_square.val() {
            self.yy_r2.d.next = self.yy_r2.q.val();
        }
        if !self.k2_emit.q.val() {
            self.k3_mode.d.next = self.k3_mode.q.val();
            self.k3_act.d.next = self.k3_act.q.val();
            self.q_r3.d.next = self.q_r3.q.val();
            self.d_r3.d.next = self.d_r3.q.val();
            self.wide_r3.d.next = self.wide_r3.q.val();
        }
        if !self.k3_emit.q.val() {
            self.k4_mode.d.next = self.k4_mode.q.val();
            self.narrow_r4.d.next = self.narrow_r4.q.val();
            self.bwd_prod_r4.d.next = self.bwd_prod_r4.q.val();
            self.wide_r4.d.next = self.wide_r4.q.val();
        }
        if !self.k4_emit.q.val() {
            self.narrow_r5.d.next = self.narrow_r5.q.val();
            self.wide_r5.d.next = self.wide_r5.q.val();
        }
    }
}
