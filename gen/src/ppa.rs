//! `ntgen ppa`: area, timing and power of the design on a cell library, with switching activity
//! from a simulated training step, and the peak throughput they imply.

use crate::cli::PpaArgs;
use crate::emit::pe_file;
use crate::flow::{self, Activity};
use crate::output::Staged;
use crate::sram::{memories_in, Memory};
use anyhow::{Context, Result};
use nt_testbench::pe_step::{self, StepShape};
use nt_testbench::sim::Toggles;
use serde::Serialize;

/// Seed of the simulated step that provides the switching activity.
const ACTIVITY_SEED: u64 = 2018;
/// Operations per multiply-accumulate.
const OPS_PER_MAC: f64 = 2.0;

#[derive(Serialize)]
struct Block {
    name: String,
    area_um2: f64,
    power_mw: f64,
}

#[derive(Serialize)]
struct Report {
    library: String,
    target_mhz: f64,
    fmax_mhz: f64,
    worst_slack_ps: f64,
    area_um2: f64,
    power_mw: f64,
    logic_power_mw: f64,
    internal_mw: f64,
    switching_mw: f64,
    leakage_mw: f64,
    sram_power_mw: f64,
    peak_gops: f64,
    register_activity: f64,
    input_activity: f64,
    cells: u64,
    blocks: Vec<Block>,
    networks: Vec<serde_json::Value>,
    scope: String,
}

pub fn ppa_command(args: &PpaArgs) -> Result<()> {
    let config = args.config.load()?;
    let mut out = Staged::new(&args.out)?;
    let work = out.path("work");
    let lib = flow::resolve_library(args.liberty.as_deref(), &work)?;
    eprintln!("library: {}", lib.origin);
    let files = [pe_file(&config)];
    let pe = &files[0];
    std::fs::write(work.join(&pe.file), &pe.text)?;
    eprintln!("synthesizing {} with Yosys", pe.top);
    let syn = flow::synthesize(&work, &pe.file, &pe.top, &lib, config.clock.target_mhz)
        .context("synthesis")?;

    eprintln!("simulating a training step for switching activity");
    let mut toggles = Toggles::default();
    let shape = StepShape {
        inputs: StepShape::default()
            .inputs
            .min(config.pe.operand_buffer_depth),
        ..Default::default()
    };
    pe_step::run_counting(&config, shape, ACTIVITY_SEED, None, Some(&mut toggles))
        .context("activity simulation")?;
    let activity = Activity {
        registers: toggles.register_rate(),
        inputs: toggles.input_rate(),
    };

    eprintln!("timing and power with OpenSTA");
    let timing = flow::analyze(
        &work,
        &syn,
        &pe.top,
        &lib,
        config.clock.target_mhz,
        activity,
    )
    .context("OpenSTA")?;

    let lane_module = format!("{}_lanes_0", pe.top);
    let lanes_area = syn.area_of(&lane_module) * config.pe.lanes as f64;
    let lanes_power: f64 = timing
        .blocks
        .iter()
        .filter(|(k, _)| k.starts_with("lanes_"))
        .map(|(_, v)| v)
        .sum();
    let mut blocks = vec![Block {
        name: format!("MAC lanes (x{})", config.pe.lanes),
        area_um2: lanes_area,
        power_mw: lanes_power,
    }];
    let mut sram_area = 0.0;
    let mut sram_power = 0.0;
    let mut stub_area = 0.0;
    let mut stub_power = 0.0;
    let memories = memories_in(&pe.text);
    for (module, words, bits) in &memories {
        // The PE's one memory is its operand buffer; the step streams operands past it.
        let m = Memory {
            words: *words,
            bits: *bits,
            instances: 1,
            accesses_per_cycle: 0.0,
        };
        stub_area += syn.area_of(module);
        stub_power += timing.blocks.get("reuse_buffer").copied().unwrap_or(0.0);
        sram_area += m.area_um2();
        sram_power += m.power_mw(config.clock.target_mhz);
        blocks.push(Block {
            name: format!("operand buffer SRAM {words}x{bits}"),
            area_um2: m.area_um2(),
            power_mw: m.power_mw(config.clock.target_mhz),
        });
    }
    let logic_area = syn.area_of(&pe.top);
    blocks.insert(
        1,
        Block {
            name: "control, counters".into(),
            area_um2: logic_area - lanes_area - stub_area,
            power_mw: timing.total_mw - lanes_power - stub_power,
        },
    );
    let clock_mhz = config.clock.target_mhz.min(timing.fmax_mhz);
    let report = Report {
        library: lib.origin.clone(),
        target_mhz: config.clock.target_mhz,
        fmax_mhz: timing.fmax_mhz,
        worst_slack_ps: timing.worst_slack_ps,
        area_um2: logic_area - stub_area + sram_area,
        power_mw: timing.total_mw + sram_power,
        logic_power_mw: timing.total_mw,
        internal_mw: timing.internal_mw,
        switching_mw: timing.switching_mw,
        leakage_mw: timing.leakage_mw,
        sram_power_mw: sram_power,
        peak_gops: OPS_PER_MAC * config.pe.lanes as f64 * clock_mhz * 1e-3,
        register_activity: activity.registers,
        input_activity: activity.inputs,
        cells: syn.cells,
        blocks,
        networks: vec![],
        scope: "one processing engine; per-network figures need the whole module".into(),
    };
    let json = serde_json::to_string_pretty(&report)?;
    let md = markdown(&report, &timing.critical_path);
    out.write("ppa.json", &json)?;
    out.write("ppa.md", &md)?;
    out.write("ppa.svg", svg(&report))?;
    for f in [
        "synth.ys",
        "synth_stat.txt",
        "sta.tcl",
        "sta.log",
        "netlist.v",
        "constraint.sdc",
    ] {
        out.adopt(&format!("work/{f}"));
    }
    write_openroad_design(
        &mut out,
        &pe.file,
        &pe.top,
        &pe.text,
        config.clock.target_mhz,
    )?;
    out.commit()?;
    if args.json {
        println!("{json}");
    } else {
        println!("{md}");
        println!("written to {}", args.out.display());
    }
    Ok(())
}

fn markdown(r: &Report, critical: &str) -> String {
    let mut s = format!(
        "# PPA: processing engine\n\nlibrary: {}\n\n| figure | value |\n|---|---|\n\
         | area | {:.1} um^2 |\n| fmax | {:.0} MHz (target {:.0}, slack {:.1} ps) |\n\
         | power at target | {:.3} mW (internal {:.3}, switching {:.3}, leakage {:.3}, SRAM {:.3}) |\n\
         | peak | {:.1} GOPS |\n| activity | registers {:.3}, inputs {:.3} toggles/cycle |\n| cells | {} |\n\n\
         | block | area (um^2) | power (mW) |\n|---|---|---|\n",
        r.library, r.area_um2, r.fmax_mhz, r.target_mhz, r.worst_slack_ps, r.power_mw, r.internal_mw,
        r.switching_mw, r.leakage_mw, r.sram_power_mw, r.peak_gops, r.register_activity, r.input_activity, r.cells
    );
    for b in &r.blocks {
        s.push_str(&format!(
            "| {} | {:.1} | {:.3} |\n",
            b.name, b.area_um2, b.power_mw
        ));
    }
    s.push_str(&format!(
        "\nCritical path:\n\n```\n{}\n```\n",
        critical.trim_end()
    ));
    s
}

/// A bar chart of the area breakdown and the power components.
fn svg(r: &Report) -> String {
    let bars: Vec<(String, f64, &str)> = r
        .blocks
        .iter()
        .map(|b| (format!("{} (um^2)", b.name), b.area_um2, "#4477aa"))
        .chain([
            ("internal power (mW)".to_string(), r.internal_mw, "#cc6677"),
            (
                "switching power (mW)".to_string(),
                r.switching_mw,
                "#cc6677",
            ),
            ("leakage power (mW)".to_string(), r.leakage_mw, "#cc6677"),
            ("SRAM power (mW)".to_string(), r.sram_power_mw, "#cc6677"),
        ])
        .collect();
    let row = 28.0;
    let width = 760.0;
    let bar_x = 300.0;
    let bar_w = 360.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{}\" font-family=\"sans-serif\" font-size=\"13\">\n",
        (bars.len() as f64 + 2.0) * row
    );
    s.push_str(&format!(
        "<text x=\"10\" y=\"20\" font-weight=\"bold\">PE area and power ({})</text>\n",
        r.library.rsplit('/').next().unwrap_or("")
    ));
    let max_area = r.blocks.iter().map(|b| b.area_um2).fold(1e-9, f64::max);
    let max_power = [r.internal_mw, r.switching_mw, r.leakage_mw, r.sram_power_mw]
        .into_iter()
        .fold(1e-9, f64::max);
    for (i, (label, v, color)) in bars.iter().enumerate() {
        let y = (i as f64 + 1.5) * row;
        let scale = if *color == "#4477aa" {
            max_area
        } else {
            max_power
        };
        let w = bar_w * v / scale;
        s.push_str(&format!(
            "<text x=\"10\" y=\"{:.1}\">{label}</text>\n",
            y + 14.0
        ));
        s.push_str(&format!(
            "<rect x=\"{bar_x}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"18\" fill=\"{color}\"/>\n"
        ));
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\">{v:.3}</text>\n",
            bar_x + w + 6.0,
            y + 14.0
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// An OpenROAD-flow-scripts design directory: `config.mk`, `constraint.sdc` and the Verilog.
/// ORFS has no NanGate 15nm platform; the default platform is nangate45 (whose library times are
/// in ns, as the SDC here is).
fn write_openroad_design(
    out: &mut Staged,
    file: &str,
    top: &str,
    verilog: &str,
    target_mhz: f64,
) -> Result<()> {
    let period_ns = 1.0e3 / target_mhz;
    out.write(&format!("openroad/{file}"), verilog)?;
    out.write(
        "openroad/constraint.sdc",
        format!(
            "# Clock for {top} at {target_mhz} MHz, in ns as ORFS's nangate45 platform uses.\n\
             create_clock -name core_clock -period {period_ns:.4} [get_ports clock]\n\
             set_input_delay 0 -clock core_clock [delete_from_list [all_inputs] [get_ports clock]]\n\
             set_output_delay 0 -clock core_clock [all_outputs]\n"
        ),
    )?;
    out.write(
        "openroad/config.mk",
        format!(
            "# OpenROAD-flow-scripts design: copy this folder to flow/designs/<platform>/{top}/ and run\n\
             #   make DESIGN_CONFIG=./designs/<platform>/{top}/config.mk\n\
             # Memories are stubbed (NT_MEMORY_STUBS): place SRAM macros for them to go further.\n\
             export DESIGN_NAME = {top}\n\
             export PLATFORM ?= nangate45\n\
             export VERILOG_FILES = $(DESIGN_HOME)/src/{top}/{file}\n\
             export VERILOG_DEFINES = -DNT_MEMORY_STUBS\n\
             export SDC_FILE = $(DESIGN_HOME)/$(PLATFORM)/{top}/constraint.sdc\n\
             export CORE_UTILIZATION = 40\n\
             export PLACE_DENSITY = 0.60\n"
        ),
    )?;
    Ok(())
}
