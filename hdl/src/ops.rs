//! Operation codes shared by the processing engine's blocks.
//!
//! Encodings are the declaration order (0, 1, 2, ...); the golden model and the host software use
//! the same numbers.

use rust_hdl::prelude::*;

/// What a beat entering the PE does.
#[derive(Copy, Clone, Debug, PartialEq, Eq, LogicState)]
pub enum PeMode {
    /// Reduction `sum a*b` plus a bias (taken with the first term), requantized, then activated.
    Forward,
    /// Reduction requantized, then multiplied by the activation derivative of the stored output
    /// (taken with the last term) and requantized again.
    Backward,
    /// Accumulation of per-lane times broadcast products over the batch, aligned to G bits.
    Gradient,
    /// Element-wise stochastic-rounding weight update (one result per beat).
    Update,
    /// Running maximum of the per-lane operands `opa[15:0]` over a reduction (max pooling): the
    /// maximum and the position of its FIRST occurrence (term index from 0), so that ties route
    /// the backward error to the first maximum in window order.
    Max,
    /// Routing (max pooling backward): `opb[15:0]` where `opa[15:0]` equals the broadcast
    /// operand, else 0; one result per beat.
    Select,
}

/// Post-op activation function; codes match `nt_testbench::golden::Activation`.
#[derive(Copy, Clone, Debug, PartialEq, Eq, LogicState)]
pub enum ActFn {
    Identity,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
}

impl PeMode {
    pub const ALL: [PeMode; 6] = [
        PeMode::Forward,
        PeMode::Backward,
        PeMode::Gradient,
        PeMode::Update,
        PeMode::Max,
        PeMode::Select,
    ];

    /// Beats of this mode each produce a result (the others only the last term of a reduction).
    pub fn emits_every_beat(self) -> bool {
        matches!(self, PeMode::Update | PeMode::Select)
    }
}

impl ActFn {
    pub const ALL: [ActFn; 5] = [
        ActFn::Identity,
        ActFn::Relu,
        ActFn::LeakyRelu,
        ActFn::Sigmoid,
        ActFn::Tanh,
    ];
}

/// Width of the mode field wherever a mode is carried as plain bits (the feeder's settings).
pub const MODE_BITS: usize = 3;

/// Leaky ReLU's negative slope 1/8 as a shift.
pub const LEAKY_SHIFT: u64 = 3;
