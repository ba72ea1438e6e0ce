//! Requantization of a 2F-fraction value to 16 bits: `sat16((x + 2^(F-1)) >> F)`.
//!
//! Combinational. The input is a 48-bit two's-complement value (an accumulator or a sign-extended
//! product); the shift is arithmetic and rounds half up. Saturation is detected by an unsigned
//! comparison of the offset-binary value (sign bit flipped), which keeps the logic one compare deep.

use rust_hdl::prelude::*;

/// Offset that turns a 48-bit two's-complement value into an order-preserving unsigned one.
pub const OFFSET48: u64 = 1 << 47;
const MASK48: u64 = (1 << 48) - 1;

#[derive(LogicBlock)]
pub struct Requant {
    pub x: Signal<In, Bits<48>>,
    pub q: Signal<Out, Bits<16>>,
    pub saturated: Signal<Out, Bit>,
    rounded: Signal<Local, Bits<48>>,
    shifted: Signal<Local, Bits<48>>,
    qv: Signal<Local, Bits<16>>,
    satv: Signal<Local, Bit>,
    half: Constant<Bits<48>>,
    frac: Constant<Bits<8>>,
    sign_fill: Constant<Bits<48>>,
    offset: Constant<Bits<48>>,
    hi_limit: Constant<Bits<48>>,
    lo_limit: Constant<Bits<48>>,
}

impl Requant {
    /// A requantizer for `frac_bits` = F (>= 1).
    pub fn new(frac_bits: u32) -> Requant {
        let f = frac_bits as u64;
        Requant {
            x: Default::default(),
            q: Default::default(),
            saturated: Default::default(),
            rounded: Default::default(),
            shifted: Default::default(),
            qv: Default::default(),
            satv: Default::default(),
            half: Constant::new(bits(1 << (f - 1))),
            frac: Constant::new(bits(f)),
            sign_fill: Constant::new(bits(MASK48 & !(MASK48 >> f))),
            offset: Constant::new(bits(OFFSET48)),
            hi_limit: Constant::new(bits(OFFSET48 + i16::MAX as u64)),
            lo_limit: Constant::new(bits(OFFSET48 - 32768)),
        }
    }
}

impl Logic for Requant {
    #[hdl_gen]
    fn update(&mut self) {
        self.rounded.next = self.x.val() + self.half.val();
        self.shifted.next = self.rounded.val() >> self.frac.val();
        if self.rounded.val().get_bit(47) {
            self.shifted.next = self.shifted.val() | self.sign_fill.val();
        }
        self.qv.next = self.shifted.val().get_bits::<16>(0);
        self.satv.next = false;
        if (self.shifted.val() ^ self.offset.val()) > self.hi_limit.val() {
            self.qv.next = 0x7FFF.into();
            self.satv.next = true;
        }
        if (self.shifted.val() ^ self.offset.val()) < self.lo_limit.val() {
            self.qv.next = 0x8000.into();
            self.satv.next = true;
        }
        // Outputs are written once per evaluation: a glitch on a port would re-trigger the
        // parent's combinational block in event-driven simulators, possibly without end.
        self.q.next = self.qv.val();
        self.saturated.next = self.satv.val();
    }
}
