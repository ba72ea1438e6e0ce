//! 16 x 16 -> 32-bit multiplier, two's complement or unsigned.
//!
//! rust-hdl's only multiplier is unsigned 16 x 16 (its signed one simulates through big integers,
//! far too slowly for whole training runs), so the signed product is the unsigned one corrected on
//! its upper half: for a negative operand, subtract the other operand shifted by 16. With
//! `signed_operands` low the corrections are left out, so that one array serves a lane's signed
//! MAC products and its update's unsigned `eta * g` (docs/pe.md).

use rust_hdl::prelude::*;

#[derive(LogicBlock, Default)]
pub struct Mul16 {
    pub a: Signal<In, Bits<16>>,
    pub b: Signal<In, Bits<16>>,
    /// High: `a` and `b` are two's complement; low: unsigned.
    pub signed_operands: Signal<In, Bit>,
    pub p: Signal<Out, Bits<32>>,
    raw: Signal<Local, Bits<32>>,
}

impl Logic for Mul16 {
    #[hdl_gen]
    fn update(&mut self) {
        self.raw.next = self.a.val() * self.b.val();
        if self.signed_operands.val() & self.a.val().get_bit(15) {
            self.raw.next = self.raw.val() - (bit_cast::<32, 16>(self.b.val()) << 16);
        }
        if self.signed_operands.val() & self.b.val().get_bit(15) {
            self.raw.next = self.raw.val() - (bit_cast::<32, 16>(self.a.val()) << 16);
        }
        self.p.next = self.raw.val();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(a: u16, b: u16, signed: bool) -> u32 {
        let mut m = Mul16::default();
        m.connect_all();
        m.a.next = (a as u64).to_bits();
        m.b.next = (b as u64).to_bits();
        m.signed_operands.next = signed;
        assert!(simulate(&mut m, 10), "the multiplier settles");
        m.p.val().index() as u32
    }

    #[test]
    fn signed_and_unsigned_products_are_exact() {
        let values = [
            0u16, 1, 2, 0x7fff, 0x8000, 0x8001, 0xffff, 0x1234, 0xfedc, 0x00ff,
        ];
        for &a in &values {
            for &b in &values {
                let signed = (a as i16 as i32).wrapping_mul(b as i16 as i32) as u32;
                assert_eq!(product(a, b, true), signed, "signed {a:#x} * {b:#x}");
                let unsigned = (a as u32) * (b as u32);
                assert_eq!(product(a, b, false), unsigned, "unsigned {a:#x} * {b:#x}");
            }
        }
    }
}
