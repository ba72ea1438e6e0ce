//! The golden model: plain integer Rust, independent of the RTL.
pub mod fixed16;
pub mod lfsr;
pub mod net;
pub mod net_f64;

pub use fixed16::{Activation, Fixed16};
