//! `ntgen run`: the main job on one configuration. Generate the Verilog, simulate a training step
//! against the golden model, lint and synthesize, and report.

use crate::cli::RunArgs;
use crate::emit::pe_file;
use crate::output::Staged;
use crate::tools;
use anyhow::{Context, Result};
use nt_testbench::pe_step::{self, StepShape};
use serde_json::json;
use std::time::Instant;

/// Seed of the simulated step's random data (fixed, so reports are reproducible).
const STEP_SEED: u64 = 2017;

pub fn run_command(args: &RunArgs) -> Result<()> {
    let config = args.config.load()?;
    let mut out = Staged::new(&args.out)?;
    println!(
        "[1/4] generating Verilog ({} lanes per PE)",
        config.pe.lanes
    );
    let files = [pe_file(&config)];
    for f in &files {
        out.write(&format!("verilog/{}", f.file), &f.text)?;
    }
    out.write("config.toml", config.to_toml())?;

    println!("[2/4] simulating one training step of a fully connected layer on the PE (rust-hdl)");
    let shape = StepShape {
        inputs: StepShape::default()
            .inputs
            .min(config.pe.operand_buffer_depth),
        ..Default::default()
    };
    let vcd_dir = args.vcd.then(|| out.path("waves"));
    if let Some(d) = &vcd_dir {
        std::fs::create_dir_all(d)?;
    }
    let t0 = Instant::now();
    let phases =
        pe_step::run(&config, shape, STEP_SEED, vcd_dir.as_deref()).context("training step")?;
    let sim_s = t0.elapsed().as_secs_f64();
    let total_cycles: u64 = phases.iter().map(|p| p.cycles).sum();
    if args.vcd {
        for p in &phases {
            out.adopt(&format!("waves/pe_{}.vcd", p.phase));
        }
    }
    println!("      every result matched the golden model ({total_cycles} cycles in {sim_s:.1} s)");

    let mut eda = serde_json::Value::Null;
    if !args.no_eda {
        let vdir = out.path("verilog");
        let pe = &files[0];
        println!("[3/4] linting with verilator --lint-only -Wall");
        let warnings = tools::verilator_lint(&vdir, &pe.file, &pe.top)?;
        println!("      {warnings} warnings");
        println!("[4/4] synthesizing with Yosys (generic cells, check -assert)");
        let cells = tools::yosys_generic_cells(&vdir, &pe.file, &pe.top, "pe_generic_stat.txt")?;
        out.adopt("verilog/pe_generic_stat.txt");
        println!("      {cells} generic cells");
        eda = json!({ "verilator_warnings": warnings, "pe_generic_cells": cells });
    }

    let report = json!({
        "config": config,
        "pe_training_step": {
            "inputs": shape.inputs,
            "outputs": config.pe.lanes,
            "batch": shape.batch,
            "phases": phases,
            "simulated_cycles": total_cycles,
            "simulation_seconds": sim_s,
            "matches_golden_model": true,
        },
        "eda": eda,
    });
    out.write("report.json", serde_json::to_string_pretty(&report)?)?;
    let mut md = String::from(
        "| phase | cycles | results | utilization | saturations |\n|---|---|---|---|---|\n",
    );
    for p in &phases {
        md.push_str(&format!(
            "| {} | {} | {} | {:.1}% | {} |\n",
            p.phase,
            p.cycles,
            p.results,
            100.0 * p.utilization,
            p.saturation_events
        ));
    }
    out.write("report.md", &md)?;
    out.commit()?;
    println!("\n{md}");
    println!("outputs in {}", args.out.display());
    Ok(())
}
