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
    /// Area, timing and power on a cell library, with activity from a simulated training step.
    Ppa(PpaArgs),
    /// Benchmarks that print figures.
    Bench(BenchArgs),
    /// Write the embedded nt15_typ cell library (Liberty) to a file.
    Liberty {
        /// Destination file.
        #[arg(long, short, default_value = "nt15_typ.lib")]
        out: PathBuf,
    },
    /// Compile a network for the configured module and show the plan.
    Compile(CompileArgs),
    /// Train a network in RTL simulation, every phase checked against the golden model.
    Train(TrainArgs),
    /// Assemble a data-flow engine program (text) into program-memory words.
    Asm(AsmArgs),
    /// Disassemble program-memory words into the text form.
    Disasm(DisasmArgs),
}

#[derive(Args, Debug)]
pub struct NetArgs {
    /// Network description (TOML or JSON; docs/network.md).
    #[arg(long)]
    pub net: PathBuf,
    /// Mini-batch size.
    #[arg(long, default_value_t = 16)]
    pub batch: usize,
    /// Learning rate (real number; stored with 16 fraction bits). Gradients are sums over the
    /// batch, so the rate absorbs the batch size.
    #[arg(long, default_value_t = 0.01)]
    pub eta: f64,
}

#[derive(Args, Debug)]
pub struct CompileArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub net: NetArgs,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also list every tile's loop nests.
    #[arg(long)]
    pub nests: bool,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    #[command(flatten)]
    pub net: NetArgs,
    /// Training steps.
    #[arg(long, default_value_t = 1)]
    pub steps: usize,
    /// Output directory: summary.json and the tensors as .npy.
    #[arg(long, short, default_value = "out/train")]
    pub out: PathBuf,
    /// Directory with x.npy (inputs, [N, ...]) and t.npy (targets, [N, outputs]); int16 values
    /// are fixed point with F fraction bits, float values are converted. Synthetic data when
    /// absent: inputs uniform in [-1, 1), targets from a fixed random teacher network.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Seed of the initial weights, the synthetic data and the PE's LFSRs.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Samples of the synthetic data set (default: four batches); steps cycle through it.
    #[arg(long)]
    pub samples: Option<usize>,
    /// Print every segment's cycles as it finishes.
    #[arg(long)]
    pub progress: bool,
    /// Self-test of the checker: corrupt one simulated value before the checks of this phase.
    #[arg(long, hide = true)]
    pub corrupt: Option<String>,
    /// Write a VCD of the whole simulation (large; rust-hdl only).
    #[arg(long)]
    pub vcd: Option<PathBuf>,
    /// Simulator: the emitted Verilog under Verilator (fast; built once per configuration and
    /// cached), the rust-hdl model (slow; the DRAM timing checked every cycle), or auto
    /// (Verilator when installed).
    #[arg(long, value_enum, default_value_t = SimChoice::Auto)]
    pub sim: SimChoice,
    /// Count register and port toggles (rust-hdl only; the power analysis's activity).
    #[arg(skip)]
    pub count_toggles: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SimChoice {
    Auto,
    Verilator,
    RustHdl,
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

#[derive(Args, Debug)]
pub struct PpaArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Liberty file (.lib or .lib.gz), or a directory whose .lib files are one library (ASAP7
    /// ships its cells in several). Default: $NT_LIBERTY, else the configuration's
    /// `flow.liberty`, else NanGate 15nm from ../shared/pdk when present, else the embedded
    /// nt15_typ library (`embedded` selects it explicitly).
    #[arg(long)]
    pub liberty: Option<PathBuf>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
    /// Measure only these blocks (comma-separated: pe, feeder, ni, vault, engine, router, host);
    /// default all.
    #[arg(long, value_delimiter = ',')]
    pub blocks: Vec<String>,
    /// Also synthesize the whole module as one flat design and report how far the composition
    /// of the blocks is from it (slow beyond small configurations).
    #[arg(long)]
    pub flat: bool,
    /// Leave the clocks ungated: enabled flip-flops keep a multiplexer each (for comparison).
    #[arg(long)]
    pub no_clock_gating: bool,
    /// Output directory for the reports, netlist and logs.
    #[arg(long, short, default_value = "out/ppa")]
    pub out: PathBuf,
    /// `summary.json` of an `ntgen train` run on the same configuration (repeatable): the
    /// network's achieved GOPS and GOPS/W (logic only, and with the DRAM energy) join the report.
    #[arg(long = "network-summary", value_name = "FILE")]
    pub network_summaries: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    pub what: BenchCommand,
}

#[derive(Subcommand, Debug)]
pub enum BenchCommand {
    /// Simulation speed of the PE in rust-hdl and in Icarus.
    Pe(BenchPeArgs),
    /// Network on chip: latency against offered load (uniform random) up to saturation.
    Noc(crate::bench_noc::BenchNocArgs),
    /// Sustained vault bandwidth: sequential and random reads through the vault controller.
    Memory(BenchMemoryArgs),
}

#[derive(Args, Debug)]
pub struct BenchPeArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}
