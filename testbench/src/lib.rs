//! NeuroTrainer verification: the golden model, simulation harnesses for the RTL, and
//! co-simulation of the emitted Verilog.

pub mod cosim;
pub mod dataflow_driver;
pub mod dram;
pub mod golden;
pub mod module_cosim;
pub mod module_driver;
pub mod module_verilator;
pub mod network;
pub mod noc_driver;
pub mod noc_traffic;
pub mod pe_driver;
pub mod pe_step;
pub mod sim;
pub mod vault_driver;
