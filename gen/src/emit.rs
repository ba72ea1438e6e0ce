//! `ntgen verilog`: the design's Verilog files.

use crate::cli::VerilogArgs;
use crate::output::Staged;
use anyhow::{bail, Result};
use nt_hdl::dataflow_engine::DataflowEngine;
use nt_hdl::host_interface::HostInterface;
use nt_hdl::noc_interface::NocInterface;
use nt_hdl::pe::Pe;
use nt_hdl::pe_feeder::PeFeeder;
use nt_hdl::vault_controller::VaultController;
use nt_hdl::Config;
use nt_testbench::dataflow_driver::ENGINE_TOP;
use nt_testbench::module_driver::{module_verilog, MODULE_TOP};
use nt_testbench::noc_driver::{mesh_verilog, router_verilog, MESH_TOP, ROUTER_TOP};
use nt_testbench::pe_driver::PE_TOP;
use nt_testbench::vault_driver::VAULT_TOP;
use rust_hdl::prelude::Block;

/// One emitted Verilog file: its name, top module and text.
pub struct DesignFile {
    pub file: String,
    pub top: String,
    pub text: String,
}

impl DesignFile {
    /// The file `<top>.v`.
    pub fn new(top: &str, text: String) -> DesignFile {
        DesignFile {
            file: format!("{top}.v"),
            top: top.to_string(),
            text,
        }
    }
}

/// The header lines every emitted file carries: the configuration it was generated from.
fn description(config: &Config, what: &str) -> String {
    let mut s = format!("{what}\nConfiguration:\n");
    for line in config
        .hardware()
        .to_toml()
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        s.push_str("  ");
        s.push_str(line);
        s.push('\n');
    }
    s
}

/// One block's Verilog, `top` its top module, `what` its description.
fn block_file<U: Block>(config: &Config, uut: &mut U, top: &str, what: &str) -> DesignFile {
    DesignFile::new(
        top,
        nt_hdl::verilog::emit(uut, top, &description(config, what)),
    )
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
    Ok(DesignFile::new(
        MODULE_TOP,
        module_verilog(config, &description(config, &what))?,
    ))
}

/// The processing engine.
pub fn pe_file(config: &Config) -> DesignFile {
    block_file(
        config,
        &mut Pe::new(config),
        PE_TOP,
        &format!("Processing engine: {} MAC lanes, fixed16.", config.pe.lanes),
    )
}

/// The network on chip: the configured mesh of routers.
fn mesh_file(config: &Config) -> Result<DesignFile> {
    let (a, n) = (&config.array, &config.noc);
    let what = format!(
        "Network on chip: {}x{} mesh, {}-bit flits, {}-flit input buffers.",
        a.rows, a.cols, n.flit_width, n.input_buffer_depth
    );
    Ok(DesignFile::new(
        MESH_TOP,
        mesh_verilog(config, &description(config, &what))?,
    ))
}

/// The vault's memory side: the vault controller and the data-flow engine.
pub fn vault_files(config: &Config) -> [DesignFile; 2] {
    let d = &config.dram;
    [
        block_file(
            config,
            &mut VaultController::new(config),
            VAULT_TOP,
            &format!(
                "Vault controller: {} banks, {}-entry request queue, {}-byte bursts.",
                d.banks,
                d.queue_depth,
                d.burst_bytes()
            ),
        ),
        block_file(
            config,
            &mut DataflowEngine::new(config),
            ENGINE_TOP,
            "Data-flow engine: descriptor programs, streams a, b and w.",
        ),
    ]
}

/// Top module of the PE feeder, emitted alone for synthesis.
pub const FEEDER_TOP: &str = "nt_pe_feeder";
/// Top module of the network interface, emitted alone for synthesis.
pub const NI_TOP: &str = "nt_noc_interface";
/// Top module of the host interface, emitted alone for synthesis.
pub const HOST_TOP: &str = "nt_host_interface";

/// The tile's glue between the vault and the PE and mesh: the PE feeder and the network
/// interface, each on its own for synthesis (the module's Verilog holds them inside the tile).
pub fn glue_files(config: &Config) -> Result<[DesignFile; 2]> {
    let feeder = block_file(
        config,
        &mut PeFeeder::new(config),
        FEEDER_TOP,
        &format!(
            "PE feeder: two {}-entry lane buffers per lane, {} lanes.",
            config.pe.lane_buffer_depth, config.pe.lanes
        ),
    );
    let what = format!("Network interface: {}-bit flits.", config.noc.flit_width);
    let ni = match config.noc.flit_width {
        32 => block_file(config, &mut NocInterface::<32>::new(config), NI_TOP, &what),
        64 => block_file(config, &mut NocInterface::<64>::new(config), NI_TOP, &what),
        w => bail!("noc.flit_width = {w}: no network interface for this width"),
    };
    Ok([feeder, ni])
}

/// The router's instance in the wrapper of [`router_files`].
pub const ROUTER_INSTANCE: &str = "router";

/// Mesh directions in router port order, with the neighbour each one faces.
const DIRECTIONS: [&str; 4] = ["north", "east", "south", "west"];

/// The routers of the mesh by their number of neighbours, each class with that number, its
/// instance count and a design for synthesis: a router of that class (the first in row-major
/// order) in a wrapper that ties off its edge ports as the mesh does, so synthesis removes what
/// the edges leave unused. Tops are `nt_router_n<neighbours>`.
pub fn router_files(config: &Config) -> Result<Vec<(usize, usize, DesignFile)>> {
    let (rows, cols) = (config.array.rows, config.array.cols);
    let w = config.noc.flit_width;
    /// Routers with `n` neighbours: the neighbours present (north, east, south, west), the first
    /// such router's place, and how many there are.
    struct Class {
        n: usize,
        present: [bool; 4],
        first: (usize, usize),
        count: usize,
    }
    let mut classes: Vec<Class> = vec![];
    for y in 0..rows {
        for x in 0..cols {
            let present = [y > 0, x + 1 < cols, y + 1 < rows, x > 0];
            let n = present.iter().filter(|p| **p).count();
            match classes.iter_mut().find(|c| c.n == n) {
                Some(c) => c.count += 1,
                None => classes.push(Class {
                    n,
                    present,
                    first: (x, y),
                    count: 1,
                }),
            }
        }
    }
    classes.sort_by_key(|c| std::cmp::Reverse(c.n));
    classes
        .into_iter()
        .map(|class| {
            let Class {
                n,
                present,
                first: (x, y),
                count,
            } = class;
            let top = format!("{ROUTER_TOP}_n{n}");
            let mut text = router_verilog(
                config,
                x,
                y,
                &description(
                    config,
                    &format!(
                        "Mesh router with {n} neighbours, its edge ports tied off, for synthesis."
                    ),
                ),
            )?;
            let mut ports = vec!["clock".to_string()];
            let mut decls = vec!["  input clock;".to_string()];
            let mut conns = vec!["    .clock(clock)".to_string()];
            let dirs = DIRECTIONS.iter().zip(present).map(|(d, p)| (*d, p));
            for (dir, here) in dirs.chain([("tile", true)]) {
                for (port, input, bits) in [
                    ("in_valid", true, 1),
                    ("in_tail", true, 1),
                    ("in_data", true, w),
                    ("credit_out", false, 1),
                    ("out_valid", false, 1),
                    ("out_tail", false, 1),
                    ("out_data", false, w),
                    ("credit_in", true, 1),
                ] {
                    let name = format!("{dir}_{port}");
                    if here {
                        let range = if bits > 1 {
                            format!("[{}:0] ", bits - 1)
                        } else {
                            String::new()
                        };
                        let kind = if input { "input" } else { "output" };
                        decls.push(format!("  {kind} {range}{name};"));
                        conns.push(format!("    .{name}({name})"));
                        ports.push(name);
                    } else if input {
                        conns.push(format!("    .{name}({bits}'d0)"));
                    } else {
                        conns.push(format!("    .{name}()"));
                    }
                }
            }
            ports.push("overflow".into());
            decls.push("  output overflow;".into());
            conns.push("    .overflow(overflow)".into());
            text.push_str(&format!(
                "\nmodule {top}({});\n{}\n  {ROUTER_TOP} {ROUTER_INSTANCE} (\n{}\n  );\nendmodule\n",
                ports.join(", "),
                decls.join("\n"),
                conns.join(",\n")
            ));
            Ok((n, count, DesignFile::new(&top, text)))
        })
        .collect()
}

/// The module's host interface, on its own for synthesis.
pub fn host_file(config: &Config) -> DesignFile {
    let tiles = config.array.rows * config.array.cols;
    block_file(
        config,
        &mut HostInterface::new(tiles),
        HOST_TOP,
        &format!("Host interface: program, control and counter registers of {tiles} tiles."),
    )
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
