//! The golden model: plain integer Rust, independent of the RTL.
pub mod fixed16;
pub mod lfsr;

pub use fixed16::{Activation, Fixed16};
