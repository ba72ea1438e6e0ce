//! `ntgen verilog`: the design's Verilog files.

use crate::cli::VerilogArgs;
use crate::output::Staged;
use anyhow::Result;
use nt_hdl::dataflow_engine::DataflowEngine;
use nt_hdl::pe::Pe;
use nt_hdl::vault_controller::VaultController;
use nt_hdl::Config;
use nt_testbench::dataflow_driver::ENGINE_TOP;
use nt_testbench::module_driver::{module_verilog, MODULE_TOP};
use nt_testbench::noc_driver::{mesh_verilog, MESH_TOP};
use nt_testbench::pe_driver::PE_TOP;
use nt_testbench::vault_driver::VAULT_TOP;

/// One emitted Verilog file: its name, top module and text.
pub struct DesignFile {
    pub file: String,
    pub top: String,
    pub text: String,
}

/// The header lines every emitted file carries: the configuration it was generated from.
fn description(config: &Config, what: &str) -> String {
    let mut s = format!("{what}\nConfiguration:\n");
    for line in config.to_toml().lines().filter(|l| !l.trim().is_empty()) {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// Every Verilog file of the configured design (deterministic: same configuration, same bytes).
pub fn design_files(config: &Config) -> Result<Vec<DesignFile>> {
    let mut files = vec![pe_file(config)];
    files.extend(vault_files(config));
    files.push(mesh_file(config)?);
    files.push(module_file(config)?);
    Ok(files)
}

/// The whole module: tiles, mesh and host interface.
pub fn module_file(config: &Config) -> Result<DesignFile> {
    let a = &config.array;
    let what = format!(
        "NeuroTrainer module: {}x{} tiles (vault controller, data-flow engine, PE feeder, {}-lane PE, network interface), mesh, host interface.",
        a.rows, a.cols, config.pe.lanes
    );
    Ok(DesignFile {
        file: format!("{MODULE_TOP}.v"),
        top: MODULE_TOP.to_string(),
        text: module_verilog(config, &description(config, &what))?,
    })
}

/// The processing engine.
pub fn pe_file(config: &Config) -> DesignFile {
    let pe_text = nt_hdl::verilog::emit(
        &mut Pe::new(config),
        PE_TOP,
        &description(
            config,
            &format!("Processing engine: {} MAC lanes, fixed16.", config.pe.lanes),
        ),
    );
    DesignFile {
        file: format!("{PE_TOP}.v"),
        top: PE_TOP.to_string(),
        text: pe_text,
    }
}

/// The network on chip: the configured mesh of routers.
fn mesh_file(config: &Config) -> Result<DesignFile> {
    let (a, n) = (&config.array, &config.noc);
    let what = format!(
        "Network on chip: {}x{} mesh, {}-bit flits, {}-flit input buffers.",
        a.rows, a.cols, n.flit_width, n.input_buffer_depth
    );
    Ok(DesignFile {
        file: format!("{MESH_TOP}.v"),
        top: MESH_TOP.to_string(),
        text: mesh_verilog(config, &description(config, &what))?,
    })
}

/// The vault's memory side: the vault controller and the data-flow engine.
pub fn vault_files(config: &Config) -> [DesignFile; 2] {
    let d = &config.dram;
    let vc = nt_hdl::verilog::emit(
        &mut VaultController::new(config),
        VAULT_TOP,
        &description(
            config,
            &format!(
                "Vault controller: {} banks, {}-entry request queue, {}-byte bursts.",
                d.banks,
                d.queue_depth,
                d.burst_bytes()
            ),
        ),
    );
    let engine = nt_hdl::verilog::emit(
        &mut DataflowEngine::new(config),
        ENGINE_TOP,
        &description(
            config,
            "Data-flow engine: descriptor programs, streams a, b and w.",
        ),
    );
    [
        DesignFile {
            file: format!("{VAULT_TOP}.v"),
            top: VAULT_TOP.to_string(),
            text: vc,
        },
        DesignFile {
            file: format!("{ENGINE_TOP}.v"),
            top: ENGINE_TOP.to_string(),
            text: engine,
        },
    ]
}

pub fn verilog_command(args: &VerilogArgs) -> Result<()> {
    let config = args.config.load()?;
    let mut out = Staged::new(&args.out)?;
    for f in design_files(&config)? {
        let path = out.write(&f.file, &f.text)?;
        println!("wrote {} (top module {})", path.display(), f.top);
    }
    out.write("config.toml", config.to_toml())?;
    out.commit()
}
