//! The module top: `rows x cols` tiles, the mesh that joins them and the host interface.
//!
//! Each tile's DRAM command port is a port of the module (the DRAM dies are not RTL: the testbench
//! models each vault). Tile `t` sits at column `t % cols`, row `t / cols`, and seeds its LFSRs
//! with the host's seed XOR [`tile_salt`]`(t)`.

use crate::bank_machine::ROW_BITS;
use crate::config::Config;
use crate::flit::COORD_BITS;
use crate::host_interface::{tile_reg, HostInterface, HOST_ADDR_BITS};
use crate::mesh::Mesh;
use crate::tile::{Tile, MAX_BEAT_BITS};
use crate::vault_controller::{BANK_BITS, COL_BITS, MASK_BITS};
use rust_hdl::prelude::*;

/// Seed salt of tile `t`: (t + 1) times an odd 32-bit mixing constant (MurmurHash3's), so that
/// no two tiles' lanes start from the same LFSR state.
pub fn tile_salt(t: usize) -> u32 {
    const TILE_SALT_MULTIPLIER: u32 = 0x85EB_CA6B;
    (t as u32 + 1).wrapping_mul(TILE_SALT_MULTIPLIER)
}

#[derive(LogicBlock)]
pub struct Module<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub host_we: Signal<In, Bit>,
    pub host_addr: Signal<In, Bits<HOST_ADDR_BITS>>,
    pub host_wdata: Signal<In, Bits<32>>,
    pub host_rdata: Signal<Out, Bits<32>>,
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bit>,
    pub noc_overflow: Signal<Out, Bit>,
    /// Every vault controller is idle: all writes accepted so far are in the DRAM.
    pub mem_idle: Signal<Out, Bit>,
    // Per vault, indexed by tile; data beats as in [`Tile`].
    pub cmd: Vec<Signal<Out, Bits<3>>>,
    pub cmd_bank: Vec<Signal<Out, Bits<BANK_BITS>>>,
    pub cmd_row: Vec<Signal<Out, Bits<ROW_BITS>>>,
    pub cmd_col: Vec<Signal<Out, Bits<COL_BITS>>>,
    pub dram_wvalid: Vec<Signal<Out, Bit>>,
    pub dram_wmask: Vec<Signal<Out, Bits<MASK_BITS>>>,
    pub dram_wdata: Vec<Signal<Out, Bits<MAX_BEAT_BITS>>>,
    pub dram_rdata: Vec<Signal<In, Bits<MAX_BEAT_BITS>>>,

    tiles: Vec<Tile<W>>,
    mesh: Mesh<W>,
    host: HostInterface,

    salt: Vec<Constant<Bits<32>>>,
    tile_x: Vec<Constant<Bits<COORD_BITS>>>,
    tile_y: Vec<Constant<Bits<COORD_BITS>>>,
    status_l: Signal<Local, Bits<32>>,
    busy_l: Signal<Local, Bit>,
    done_l: Signal<Local, Bit>,
    error_l: Signal<Local, Bit>,
    code_l: Signal<Local, Bits<4>>,
    mem_idle_l: Signal<Local, Bit>,
    all_mem_idle: Signal<Local, Bit>,
    _tiles: usize,
}

impl<const W: usize> Module<W> {
    pub fn new(config: &Config) -> Module<W> {
        let cols = config.array.cols;
        let tiles = config.array.rows * cols;
        Module {
            clock: Default::default(),
            host_we: Default::default(),
            host_addr: Default::default(),
            host_wdata: Default::default(),
            host_rdata: Default::default(),
            done: Default::default(),
            error: Default::default(),
            noc_overflow: Default::default(),
            mem_idle: Default::default(),
            cmd: (0..tiles).map(|_| Default::default()).collect(),
            cmd_bank: (0..tiles).map(|_| Default::default()).collect(),
            cmd_row: (0..tiles).map(|_| Default::default()).collect(),
            cmd_col: (0..tiles).map(|_| Default::default()).collect(),
            dram_wvalid: (0..tiles).map(|_| Default::default()).collect(),
            dram_wmask: (0..tiles).map(|_| Default::default()).collect(),
            dram_wdata: (0..tiles).map(|_| Default::default()).collect(),
            dram_rdata: (0..tiles).map(|_| Default::default()).collect(),
            tiles: (0..tiles).map(|_| Tile::new(config)).collect(),
            mesh: Mesh::new(config),
            host: HostInterface::new(tiles),
            salt: (0..tiles)
                .map(|t| Constant::new((tile_salt(t) as u64).into()))
                .collect(),
            tile_x: (0..tiles)
                .map(|t| Constant::new(((t % cols) as u64).into()))
                .collect(),
            tile_y: (0..tiles)
                .map(|t| Constant::new(((t / cols) as u64).into()))
                .collect(),
            status_l: Default::default(),
            busy_l: Default::default(),
            done_l: Default::default(),
            error_l: Default::default(),
            code_l: Default::default(),
            mem_idle_l: Default::default(),
            all_mem_idle: Default::default(),
            _tiles: tiles,
        }
    }
}

impl<const W: usize> Logic for Module<W> {
    #[hdl_gen]
    fn update(&mut self) {
        self.mesh.clock.next = self.clock.val();
        self.host.clock.next = self.clock.val();
        self.host.host_we.next = self.host_we.val();
        self.host.host_addr.next = self.host_addr.val();
        self.host.host_wdata.next = self.host_wdata.val();
        self.host_rdata.next = self.host.host_rdata.val();
        self.done.next = self.host.all_done.val();
        self.error.next = self.host.any_error.val();
        self.noc_overflow.next = self.mesh.overflow.val();
        self.all_mem_idle.next = true;
        for t in 0..self._tiles {
            self.tiles[t].clock.next = self.clock.val();
            self.tiles[t].tile_x.next = self.tile_x[t].val();
            self.tiles[t].tile_y.next = self.tile_y[t].val();
            self.tiles[t].prog_we.next = self.host.prog_we[t].val();
            self.tiles[t].prog_addr.next = self.host.prog_addr.val();
            self.tiles[t].prog_data.next = self.host.prog_data.val();
            self.tiles[t].start.next = self.host.start.val();
            self.tiles[t].seed_load.next = self.host.seed_load.val();
            self.tiles[t].seed.next = self.host.seed.val() ^ self.salt[t].val();
            self.tiles[t].counter_clear.next = self.host.counter_clear.val();

            self.cmd[t].next = self.tiles[t].cmd.val();
            self.cmd_bank[t].next = self.tiles[t].cmd_bank.val();
            self.cmd_row[t].next = self.tiles[t].cmd_row.val();
            self.cmd_col[t].next = self.tiles[t].cmd_col.val();
            self.dram_wvalid[t].next = self.tiles[t].dram_wvalid.val();
            self.dram_wmask[t].next = self.tiles[t].dram_wmask.val();
            self.dram_wdata[t].next = self.tiles[t].dram_wdata.val();
            self.tiles[t].dram_rdata.next = self.dram_rdata[t].val();

            self.mesh.tile_in_valid[t].next = self.tiles[t].noc_out_valid.val();
            self.mesh.tile_in_tail[t].next = self.tiles[t].noc_out_tail.val();
            self.mesh.tile_in_data[t].next = self.tiles[t].noc_out_data.val();
            self.tiles[t].noc_credit_in.next = self.mesh.tile_credit_out[t].val();
            self.tiles[t].noc_in_valid.next = self.mesh.tile_out_valid[t].val();
            self.tiles[t].noc_in_tail.next = self.mesh.tile_out_tail[t].val();
            self.tiles[t].noc_in_data.next = self.mesh.tile_out_data[t].val();
            self.mesh.tile_credit_in[t].next = self.tiles[t].noc_credit_out.val();

            self.busy_l.next = self.tiles[t].busy.val();
            self.done_l.next = self.tiles[t].done.val();
            self.error_l.next = self.tiles[t].error.val();
            self.code_l.next = self.tiles[t].error_code.val();
            self.mem_idle_l.next = self.tiles[t].mem_idle.val();
            if !self.mem_idle_l.val() {
                self.all_mem_idle.next = false;
            }
            self.status_l.next = bit_cast::<32, 1>(self.busy_l.val().into())
                | (bit_cast::<32, 1>(self.done_l.val().into()) << 1)
                | (bit_cast::<32, 1>(self.error_l.val().into()) << 2)
                | (bit_cast::<32, 1>(self.mem_idle_l.val().into()) << 3)
                | (bit_cast::<32, 4>(self.code_l.val()) << 4);
            self.host.tile_regs[t * 9].next = self.status_l.val();
            self.host.tile_regs[t * 9 + 1].next = self.tiles[t].elements.val();
            self.host.tile_regs[t * 9 + 2].next = self.tiles[t].bytes_read.val();
            self.host.tile_regs[t * 9 + 3].next = self.tiles[t].bytes_written.val();
            self.host.tile_regs[t * 9 + 4].next = self.tiles[t].row_hits.val();
            self.host.tile_regs[t * 9 + 5].next = self.tiles[t].row_misses.val();
            self.host.tile_regs[t * 9 + 6].next = self.tiles[t].mac_busy_cycles.val();
            self.host.tile_regs[t * 9 + 7].next = self.tiles[t].sat_events.val();
            self.host.tile_regs[t * 9 + 8].next = self.tiles[t].flits_sent.val();
        }
        self.mem_idle.next = self.all_mem_idle.val();
    }
}

/// Registers per tile as the module wires them (must match the literal stride in `update`).
pub const WIRED_TILE_REGS: usize = tile_reg::COUNT;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_module_emits_verilog() {
        let mut c = Config::default();
        c.array.rows = 2;
        c.array.cols = 2;
        c.pe.lanes = 4;
        let mut m = Module::<64>::new(&c);
        m.connect_all();
        let v = crate::verilog::emit(&mut m, "nt_module", "test");
        assert!(v.contains("module nt_module"));
        // Every tile is instantiated.
        assert!(v.contains("tiles_3"));
    }
}
