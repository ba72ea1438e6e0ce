//! NeuroTrainer RTL: the blocks of a near-memory training module, described with rust-hdl.
//!
//! `config` holds the one typed configuration; every block is built from it. `verilog` turns a
//! block into the Verilog text the EDA flow consumes.

pub mod activation;
pub mod bank_machine;
pub mod config;
pub mod dataflow_engine;
pub mod dataflow_program;
pub mod derivative;
pub mod dram_config;
pub mod flit;
pub mod flit_fifo;
pub mod host_interface;
pub mod lfsr;
pub mod mac_lane;
pub mod memory;
pub mod mesh;
pub mod module;
pub mod mul16;
pub mod noc_interface;
pub mod ops;
pub mod pe;
pub mod pe_feeder;
pub mod read_port;
pub mod requant;
pub mod router;
pub mod rr_arbiter;
pub mod stream_generator;
pub mod tile;
pub mod vault_controller;
pub mod verilog;

pub use config::Config;
