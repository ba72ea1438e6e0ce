//! `ntgen bench pe`: simulation speed of the processing engine in rust-hdl and, as emitted
//! Verilog, in Icarus, on the same beats of a training step (not a test: it prints figures).

use crate::cli::BenchPeArgs;
use crate::emit::pe_file;
use anyhow::{ensure, Result};
use nt_testbench::pe_driver;
use nt_testbench::pe_step::{self, StepShape};
use serde_json::json;
use std::time::Instant;

/// Seed of the benchmark's random data.
const BENCH_SEED: u64 = 7;

pub fn bench_pe_command(args: &BenchPeArgs) -> Result<()> {
    let config = args.config.load()?;
    let shape = StepShape {
        inputs: StepShape::default()
            .inputs
            .min(config.pe.operand_buffer_depth),
        ..Default::default()
    };
    let mut beats = vec![];
    for (_, jobs, _) in pe_step::build(&config, shape, BENCH_SEED)? {
        beats.extend(pe_driver::program(&jobs, config.pe.lanes)?);
    }
    let cycles = beats.len() as f64;
    let t0 = Instant::now();
    let rust = pe_driver::run_rust(&config, &beats, None)?;
    let rust_s = t0.elapsed().as_secs_f64();
    let files = [pe_file(&config)];
    let work = std::env::temp_dir().join(format!("ntgen-bench-pe-{}", std::process::id()));
    let t1 = Instant::now();
    let icarus = pe_driver::run_verilog(&config, &files[0].text, &beats, &work);
    let icarus_s = t1.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&work);
    let icarus = icarus?;
    ensure!(
        rust == icarus,
        "rust-hdl and Icarus disagree on the benchmark's outputs"
    );
    let report = json!({
        "lanes": config.pe.lanes,
        "cycles": cycles,
        "rust_hdl_seconds": rust_s,
        "rust_hdl_cycles_per_s": cycles / rust_s,
        "icarus_seconds_with_compile": icarus_s,
        "icarus_cycles_per_s_with_compile": cycles / icarus_s,
    });
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "PE with {} lanes, {} cycles of a training step (outputs identical):",
            config.pe.lanes, cycles
        );
        println!(
            "  rust-hdl: {:>8.2} s  {:>10.0} cycles/s",
            rust_s,
            cycles / rust_s
        );
        println!(
            "  Icarus:   {:>8.2} s  {:>10.0} cycles/s (including iverilog compilation)",
            icarus_s,
            cycles / icarus_s
        );
    }
    Ok(())
}
