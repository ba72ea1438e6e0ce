//! `ntgen`: the NeuroTrainer command line. Emits Verilog, simulates, runs the EDA flow, reports.

mod asm;
mod bench_memory;
mod bench_noc;
mod bench_pe;
mod cli;
mod clock_gating;
mod compiler;
mod emit;
mod fanout;
mod flow;
mod liberty;
mod npy;
mod output;
mod ppa;
mod run;
mod sram;
mod tools;
mod train;

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
        cli::Command::Ppa(a) => ppa::ppa_command(&a),
        cli::Command::Bench(b) => match b.what {
            cli::BenchCommand::Pe(a) => bench_pe::bench_pe_command(&a),
            cli::BenchCommand::Noc(a) => bench_noc::command(&a),
            cli::BenchCommand::Memory(a) => bench_memory::bench_memory_command(&a),
        },
        cli::Command::Liberty { out } => {
            let mut staged =
                output::Staged::new(out.parent().unwrap_or(std::path::Path::new(".")))?;
            let name = out
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            staged.write(&name, liberty::embedded_liberty())?;
            staged.commit()
        }
        cli::Command::Compile(a) => train::compile_command(&a),
        cli::Command::Train(a) => train::train_command(&a),
        cli::Command::Asm(a) => asm::asm_command(&a),
        cli::Command::Disasm(a) => asm::disasm_command(&a),
    }
}
