//! Signed 16 x 16 -> 32-bit multiplier.
//!
//! rust-hdl's only multiplier is unsigned 16 x 16 (its signed one simulates through big integers,
//! far too slowly for whole training runs), so the signed product is the unsigned one corrected on
//! its upper half: for a negative operand, subtract the other operand shifted by 16.

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct SignedMul16 {
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    pub p: Signal<Out, Bits<32>>,
    raw: Signal<Local, Bits<32>>,
}

impl Logic for SignedMul16 {
    #[hdl_gen]
    fn update(&mut self) {
        self.raw.next = self.a.val() * self.b.val();
        if self.a.val().get_bit(15) {
            self.raw.next = self.raw.val() - (bit_cast::<32, 16>(self.b.val()) << 16);
        }
        if self.b.val().get_bit(15) {
            self.raw.next = self.raw.val() - (bit_cast::<32, 16>(self.a.val()) << 16);
        }
        self.p.next = self.raw.val();
    }
}
