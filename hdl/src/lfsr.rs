//! Stochastic-rounding random source of one PE lane: a 32-bit Galois LFSR.
//!
//! Polynomial x^32 + x^22 + x^2 + x + 1 in right-shift Galois form (`TAPS`). `load` sets the state
//! to `(seed ^ salt) | 1` (the salt differs per lane; the forced 1 avoids the all-zero lock-up).
//! `r` is the state's low 16 bits; `advance` moves the state 16 steps at once, so consecutive
//! draws share no bits. docs/arithmetic.md documents the same; the golden model re-implements it.

use rust_hdl::prelude::*;

/// Galois feedback mask.
pub const TAPS: u32 = 0x8020_0003;
/// Steps per draw.
pub const LEAP: usize = 16;

/// Seed salt of lane `lane`: (lane + 1) times the 32-bit golden-ratio constant.
pub fn lane_salt(lane: usize) -> u32 {
    (lane as u32 + 1).wrapping_mul(0x9E37_79B9)
}

#[derive(LogicBlock)]
pub struct SrLfsr {
    pub clock: Signal<In, Clock>,
    pub load: Signal<In, Bit>,
    pub seed: Signal<In, Bits<32>>,
    pub advance: Signal<In, Bit>,
    /// Per-lane seed salt (`lane_salt`), a port so that every lane is the same module.
    pub salt: Signal<In, Bits<32>>,
    pub r: Signal<Out, Bits<16>>,
    state: DFF<Bits<32>>,
    leap: Signal<Local, Bits<32>>,
    taps: Constant<Bits<32>>,
}

impl Default for SrLfsr {
    fn default() -> SrLfsr {
        SrLfsr {
            clock: Default::default(),
            load: Default::default(),
            seed: Default::default(),
            advance: Default::default(),
            salt: Default::default(),
            r: Default::default(),
            state: Default::default(),
            leap: Default::default(),
            taps: Constant::new(bits(TAPS as u64)),
        }
    }
}

impl Logic for SrLfsr {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, state);
        self.leap.next = self.state.q.val();
        for _step in 0..LEAP {
            if self.leap.val().get_bit(0) {
                self.leap.next = (self.leap.val() >> 1) ^ self.taps.val();
            } else {
                self.leap.next = self.leap.val() >> 1;
            }
        }
        if self.load.val() {
            self.state.d.next = (self.seed.val() ^ self.salt.val()) | 1;
        } else if self.advance.val() {
            self.state.d.next = self.leap.val();
        }
        self.r.next = self.state.q.val().get_bits::<16>(0);
    }
}
