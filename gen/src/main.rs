//! `ntgen`: the NeuroTrainer command line. Emits Verilog, simulates, runs the EDA flow, reports.

mod asm;
mod bench_memory;
mod cli;
mod emit;
mod output;
mod run;
mod tools;

use anyhow::Result;
use clap::Parser;

fn main() {
    let cli = cli::Cli::parse();
    if let Err(e) = dispatch(cli) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn dispatch(cli: cli::Cli) -> Result<()> {
    match cli.command {
        cli::Command::Verilog(a) => emit::verilog_command(&a),
        cli::Command::Run(a) => run::run_command(&a),
        cli::Command::Asm(a) => asm::asm_command(&a),
        cli::Command::Disasm(a) => asm::disasm_command(&a),
        cli::Command::Bench(cli::BenchCommand::Memory(a)) => bench_memory::bench_memory_command(&a),
    }
}
