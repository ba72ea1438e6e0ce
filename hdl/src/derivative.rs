//! Activation derivative from the stored output y, F fraction bits. Combinational.
//!
//! identity: 1; ReLU: (y > 0); leaky ReLU: y >= 0 ? 1 : 1/8;
//! sigmoid: q(y << F - y*y); tanh: q(1 << 2F - y*y), q the requantization rule.
//! `yy` is y*y, computed by the lane's shared multiplier one stage earlier.

use crate::ops::{ActFn, LEAKY_SHIFT};
use crate::requant::Requant;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Derivative {
    pub y: Signal<In, Bits<16>>,
    pub yy: Signal<In, Bits<32>>,
    pub act: Signal<In, ActFn>,
    pub d: Signal<Out, Bits<16>>,
    pub saturated: Signal<Out, Bit>,
    y48: Signal<Local, Bits<48>>,
    xv: Signal<Local, Bits<48>>,
    dv: Signal<Local, Bits<16>>,
    satv: Signal<Local, Bit>,
    requant: Requant,
    frac: Constant<Bits<8>>,
    one: Constant<Bits<16>>,
    leaky_one: Constant<Bits<16>>,
    one_2f: Constant<Bits<48>>,
    sext16: Constant<Bits<48>>,
}

impl Derivative {
    pub fn new(frac_bits: u32) -> Derivative {
        let f = frac_bits as u64;
        Derivative {
            y: Default::default(),
            yy: Default::default(),
            act: Default::default(),
            d: Default::default(),
            saturated: Default::default(),
            y48: Default::default(),
            xv: Default::default(),
            dv: Default::default(),
            satv: Default::default(),
            requant: Requant::new(frac_bits),
            frac: Constant::new(bits(f)),
            one: Constant::new(bits(1 << f)),
            leaky_one: Constant::new(bits(1 << (f - LEAKY_SHIFT))),
            one_2f: Constant::new(bits(1 << (2 * f))),
            sext16: Constant::new(bits(((1u64 << 48) - 1) & !0xFFFF)),
        }
    }
}

impl Logic for Derivative {
    #[allow(unreachable_patterns)]
    #[hdl_gen]
    fn update(&mut self) {
        self.y48.next = bit_cast::<48, 16>(self.y.val());
        if self.y.val().get_bit(15) {
            self.y48.next = self.y48.val() | self.sext16.val();
        }
        self.xv.next = self.one_2f.val() - bit_cast::<48, 32>(self.yy.val());
        if self.act.val() == ActFn::Sigmoid {
            self.xv.next = (self.y48.val() << self.frac.val()) - bit_cast::<48, 32>(self.yy.val());
        }
        self.requant.x.next = self.xv.val();
        self.satv.next = false;
        match self.act.val() {
            ActFn::Identity => {
                self.dv.next = self.one.val();
            }
            ActFn::Relu => {
                self.dv.next = 0.into();
                if !self.y.val().get_bit(15) & self.y.val().any() {
                    self.dv.next = self.one.val();
                }
            }
            ActFn::LeakyRelu => {
                self.dv.next = self.one.val();
                if self.y.val().get_bit(15) {
                    self.dv.next = self.leaky_one.val();
                }
            }
            ActFn::Sigmoid => {
                self.dv.next = self.requant.q.val();
                self.satv.next = self.requant.saturated.val();
            }
            ActFn::Tanh => {
                self.dv.next = self.requant.q.val();
                self.satv.next = self.requant.saturated.val();
            }
            _ => {
                self.dv.next = self.one.val();
            }
        }
        self.d.next = self.dv.val();
        self.saturated.next = self.satv.val();
    }
}
