//! Drives the mesh: one cycle of tile-port values in, one cycle of tile-port values out, either in
//! rust-hdl or, through the same port list, in the emitted Verilog under Icarus.
//!
//! The flit width is a const generic of the RTL; [`mesh_sim`] and [`mesh_verilog`] pick the
//! instantiation the configuration names, so callers work with plain `u64` flit data.

use crate::cosim::{run_icarus, Port};
use crate::sim::Clocked;
use anyhow::{bail, ensure, Result};
use nt_hdl::mesh::Mesh;
use nt_hdl::router::Router;
use nt_hdl::Config;
use std::path::Path;

/// The mesh's top-level Verilog module name.
pub const MESH_TOP: &str = "nt_mesh";
/// The router's top-level Verilog module name.
pub const ROUTER_TOP: &str = "nt_router";

/// One tile's inputs to the mesh in one cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileIn {
    pub valid: bool,
    pub tail: bool,
    pub data: u64,
    /// A credit returned to the router's tile output (the tile freed one flit of room).
    pub credit: bool,
}

/// One tile's outputs from the mesh in one cycle.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TileOut {
    /// A credit for the tile's injection (the router's tile input buffer freed a slot).
    pub credit: bool,
    pub valid: bool,
    pub tail: bool,
    pub data: u64,
}

/// The mesh's outputs in one cycle.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MeshOut {
    pub tiles: Vec<TileOut>,
    pub overflow: bool,
}

/// A mesh simulator: applies one cycle of inputs, clocks, returns the outputs.
pub trait MeshSim {
    fn step(&mut self, inputs: &[TileIn]) -> Result<MeshOut>;
}

impl<const W: usize> MeshSim for Clocked<Mesh<W>> {
    fn step(&mut self, inputs: &[TileIn]) -> Result<MeshOut> {
        let m = &mut self.uut;
        ensure!(inputs.len() == m.tile_in_valid.len(), "one input per tile");
        for (i, t) in inputs.iter().enumerate() {
            m.tile_in_valid[i].next = t.valid;
            m.tile_in_tail[i].next = t.tail;
            m.tile_in_data[i].next = t.data.into();
            m.tile_credit_in[i].next = t.credit;
        }
        self.tick()?;
        let m = &self.uut;
        let tiles = (0..inputs.len())
            .map(|i| TileOut {
                credit: m.tile_credit_out[i].val(),
                valid: m.tile_out_valid[i].val(),
                tail: m.tile_out_tail[i].val(),
                data: m.tile_out_data[i].val().to_u64(),
            })
            .collect();
        Ok(MeshOut {
            tiles,
            overflow: m.overflow.val(),
        })
    }
}

/// The rust-hdl mesh of the configuration, ready to step.
pub fn mesh_sim(config: &Config) -> Result<Box<dyn MeshSim>> {
    Ok(match config.noc.flit_width {
        32 => Box::new(Clocked::new(Mesh::<32>::new(config))?),
        64 => Box::new(Clocked::new(Mesh::<64>::new(config))?),
        w => bail!("noc.flit_width = {w}: no router instantiation for this width"),
    })
}

/// The mesh's Verilog (top module [`MESH_TOP`]).
pub fn mesh_verilog(config: &Config, description: &str) -> Result<String> {
    Ok(match config.noc.flit_width {
        32 => nt_hdl::verilog::emit(&mut Mesh::<32>::new(config), MESH_TOP, description),
        64 => nt_hdl::verilog::emit(&mut Mesh::<64>::new(config), MESH_TOP, description),
        w => bail!("noc.flit_width = {w}: no router instantiation for this width"),
    })
}

/// One router's Verilog (top module [`ROUTER_TOP`]), the one at column `x`, row `y`.
pub fn router_verilog(config: &Config, x: usize, y: usize, description: &str) -> Result<String> {
    let noc = &config.noc;
    Ok(match noc.flit_width {
        32 => nt_hdl::verilog::emit(&mut Router::<32>::new(noc, x, y), ROUTER_TOP, description),
        64 => nt_hdl::verilog::emit(&mut Router::<64>::new(noc, x, y), ROUTER_TOP, description),
        w => bail!("noc.flit_width = {w}: no router instantiation for this width"),
    })
}

/// Mesh input ports in the order of a stimulus row.
pub fn input_ports(tiles: usize, flit_width: usize) -> Vec<Port> {
    (0..tiles)
        .flat_map(|i| {
            [
                Port::new(format!("tile_in_valid_{i}"), 1),
                Port::new(format!("tile_in_tail_{i}"), 1),
                Port::new(format!("tile_in_data_{i}"), flit_width),
                Port::new(format!("tile_credit_in_{i}"), 1),
            ]
        })
        .collect()
}

/// Mesh output ports in the order of a response row.
pub fn output_ports(tiles: usize, flit_width: usize) -> Vec<Port> {
    let mut p: Vec<Port> = (0..tiles)
        .flat_map(|i| {
            [
                Port::new(format!("tile_credit_out_{i}"), 1),
                Port::new(format!("tile_out_valid_{i}"), 1),
                Port::new(format!("tile_out_tail_{i}"), 1),
                Port::new(format!("tile_out_data_{i}"), flit_width),
            ]
        })
        .collect();
    p.push(Port::new("overflow", 1));
    p
}

fn input_row(inputs: &[TileIn]) -> Vec<u64> {
    inputs
        .iter()
        .flat_map(|t| [t.valid as u64, t.tail as u64, t.data, t.credit as u64])
        .collect()
}

fn output_of_row(row: &[u64], tiles: usize) -> MeshOut {
    MeshOut {
        tiles: (0..tiles)
            .map(|i| TileOut {
                credit: row[4 * i] != 0,
                valid: row[4 * i + 1] != 0,
                tail: row[4 * i + 2] != 0,
                data: row[4 * i + 3],
            })
            .collect(),
        overflow: row[4 * tiles] != 0,
    }
}

/// Replays recorded mesh inputs through the emitted Verilog under Icarus, one output per cycle.
pub fn run_verilog(
    config: &Config,
    verilog: &str,
    inputs: &[Vec<TileIn>],
    workdir: &Path,
) -> Result<Vec<MeshOut>> {
    let tiles = config.array.rows * config.array.cols;
    let w = config.noc.flit_width;
    let rows: Vec<Vec<u64>> = inputs.iter().map(|r| input_row(r)).collect();
    let resp = run_icarus(
        workdir,
        verilog,
        MESH_TOP,
        "clock",
        &input_ports(tiles, w),
        &output_ports(tiles, w),
        &rows,
    )?;
    Ok(resp.iter().map(|r| output_of_row(r, tiles)).collect())
}
