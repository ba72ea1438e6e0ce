//! Activation post-op: identity, ReLU, leaky ReLU (slope 1/8), and the shift-only PLAN
//! piecewise-linear sigmoid and tanh (tanh(x) = 2 sigmoid(2x) - 1). Combinational.
//!
//! PLAN on a non-negative x with F fraction bits (shifts truncate):
//! x >= 5: 1;  2.375 <= x < 5: x/32 + 27/32;  1 <= x < 2.375: x/8 + 5/8;  x < 1: x/4 + 1/2.
//! Negative inputs mirror it: sigmoid(-x) = 1 - sigmoid(x), tanh(-x) = -tanh(x).
//! docs/arithmetic.md states the error bounds; the golden model implements the same table.

use crate::ops::{ActFn, LEAKY_SHIFT};
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Activation {
    pub z: Signal<In, Bits<16>>,
    pub act: Signal<In, ActFn>,
    pub y: Signal<Out, Bits<16>>,
    /// |z| (17 significant bits), doubled for tanh.
    ax: Signal<Local, Bits<32>>,
    plan: Signal<Local, Bits<32>>,
    signed_out: Signal<Local, Bits<32>>,
    yv: Signal<Local, Bits<16>>,
    one: Constant<Bits<32>>,
    seg_sat: Constant<Bits<32>>,
    seg_mid: Constant<Bits<32>>,
    seg_low: Constant<Bits<32>>,
    off_mid: Constant<Bits<32>>,
    off_low: Constant<Bits<32>>,
    off_zero: Constant<Bits<32>>,
    leaky_fill: Constant<Bits<16>>,
    sext16: Constant<Bits<32>>,
}

impl Activation {
    pub fn new(frac_bits: u32) -> Activation {
        let f = frac_bits as u64;
        Activation {
            z: Default::default(),
            act: Default::default(),
            y: Default::default(),
            ax: Default::default(),
            plan: Default::default(),
            signed_out: Default::default(),
            yv: Default::default(),
            one: Constant::new(bits(1 << f)),
            seg_sat: Constant::new(bits(5 << f)),
            seg_mid: Constant::new(bits(19 << (f - 3))),
            seg_low: Constant::new(bits(1 << f)),
            off_mid: Constant::new(bits(27 << (f - 5))),
            off_low: Constant::new(bits(5 << (f - 3))),
            off_zero: Constant::new(bits(1 << (f - 1))),
            leaky_fill: Constant::new(bits(0xFFFF & !(0xFFFF >> LEAKY_SHIFT))),
            sext16: Constant::new(bits(0xFFFF_0000)),
        }
    }
}

impl Logic for Activation {
    #[allow(unreachable_patterns)]
    #[hdl_gen]
    fn update(&mut self) {
        // |z| in 32 bits: sign-extend, then negate when negative.
        self.ax.next = bit_cast::<32, 16>(self.z.val());
        if self.z.val().get_bit(15) {
            self.ax.next = 0 - (self.ax.val() | self.sext16.val());
        }
        if self.act.val() == ActFn::Tanh {
            self.ax.next = self.ax.val() << 1;
        }
        if self.ax.val() >= self.seg_sat.val() {
            self.plan.next = self.one.val();
        } else if self.ax.val() >= self.seg_mid.val() {
            self.plan.next = (self.ax.val() >> 5) + self.off_mid.val();
        } else if self.ax.val() >= self.seg_low.val() {
            self.plan.next = (self.ax.val() >> 3) + self.off_low.val();
        } else {
            self.plan.next = (self.ax.val() >> 2) + self.off_zero.val();
        }
        self.signed_out.next = self.plan.val();
        match self.act.val() {
            ActFn::Identity => {
                self.yv.next = self.z.val();
            }
            ActFn::Relu => {
                self.yv.next = self.z.val();
                if self.z.val().get_bit(15) {
                    self.yv.next = 0.into();
                }
            }
            ActFn::LeakyRelu => {
                self.yv.next = self.z.val();
                if self.z.val().get_bit(15) {
                    self.yv.next = (self.z.val() >> 3) | self.leaky_fill.val();
                }
            }
            ActFn::Sigmoid => {
                if self.z.val().get_bit(15) {
                    self.signed_out.next = self.one.val() - self.plan.val();
                }
                self.yv.next = self.signed_out.val().get_bits::<16>(0);
            }
            ActFn::Tanh => {
                self.signed_out.next = (self.plan.val() << 1) - self.one.val();
                if self.z.val().get_bit(15) {
                    self.signed_out.next = 0 - self.signed_out.val();
                }
                self.yv.next = self.signed_out.val().get_bits::<16>(0);
            }
            _ => {
                self.yv.next = self.z.val();
            }
        }
        self.y.next = self.yv.val();
    }
}
