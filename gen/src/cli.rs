//! Command-line arguments.

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use nt_hdl::Config;
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ntgen",
    version,
    about = "NeuroTrainer: generate, simulate and measure a near-memory training module"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Write the Verilog of the configured design.
    Verilog(VerilogArgs),
    /// The main job: generate, simulate a training step against the golden model, lint,
    /// synthesize and report.
    Run(RunArgs),
    /// Assemble a data-flow engine program (text) into program-memory words.
    Asm(AsmArgs),
    /// Disassemble program-memory words into the text form.
    Disasm(DisasmArgs),
    /// Measure a block in RTL simulation.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Args, Debug)]
pub struct AsmArgs {
    /// Program text (docs/dataflow.md).
    pub input: PathBuf,
    /// Output file of hexadecimal words (default: standard output).
    #[arg(long, short)]
    pub out: Option<PathBuf>,
}

#[derive(Args, Debug)]
pub struct DisasmArgs {
    /// Hexadecimal words, one per line.
    pub input: PathBuf,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Sustained vault bandwidth: sequential and random reads through the vault controller.
    Memory(BenchMemoryArgs),
}

#[derive(Args, Debug)]
pub struct BenchMemoryArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the figures as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Selects and adjusts the configuration.
#[derive(Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Configuration file (TOML).
    #[arg(long, short, default_value = "configs/default.toml")]
    pub config: PathBuf,
    /// Override one configuration key, e.g. `--set pe.lanes=4` (repeatable).
    #[arg(long = "set", value_name = "SECTION.KEY=VALUE")]
    pub overrides: Vec<String>,
}

impl ConfigArgs {
    /// Loads and validates the configuration.
    pub fn load(&self) -> Result<Config> {
        Config::load(&self.config, &self.overrides)
    }
}

#[derive(Args, Debug)]
pub struct VerilogArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output directory (created; existing files of the same names are replaced).
    #[arg(long, short, default_value = "out/verilog")]
    pub out: PathBuf,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Output directory for Verilog, waveforms, logs and the report.
    #[arg(long, short, default_value = "out")]
    pub out: PathBuf,
    /// Also write a VCD of the simulated training step.
    #[arg(long)]
    pub vcd: bool,
    /// Skip the EDA tools (lint and synthesis); only generate and simulate.
    #[arg(long)]
    pub no_eda: bool,
}
