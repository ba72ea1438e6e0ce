//! The network on chip: a `rows x cols` mesh of routers (row-major, router `r * cols + c` at column
//! `c`, row `r`), neighbours joined by their facing ports, the edge ports tied off, and each
//! router's tile port brought out as `tile_*[r * cols + c]`.
//!
//! A tile injects a packet flit by flit on `tile_in_*`, one flit per cycle while it holds a credit:
//! it starts with `noc.input_buffer_depth` credits and gets one back per cycle of `tile_credit_out`.
//! It receives on `tile_out_*` and must return one `tile_credit_in` per flit once it has room again
//! (the router assumes the tile, too, buffers `noc.input_buffer_depth` flits).
//!
//! Routers are wired to each other only through registers, so a long path through the mesh is
//! never one combinational chain.

use crate::config::Config;
use crate::router::Router;
use rust_hdl::prelude::*;

#[derive(LogicBlock)]
pub struct Mesh<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub tile_in_valid: Vec<Signal<In, Bit>>,
    pub tile_in_tail: Vec<Signal<In, Bit>>,
    pub tile_in_data: Vec<Signal<In, Bits<W>>>,
    pub tile_credit_out: Vec<Signal<Out, Bit>>,
    pub tile_out_valid: Vec<Signal<Out, Bit>>,
    pub tile_out_tail: Vec<Signal<Out, Bit>>,
    pub tile_out_data: Vec<Signal<Out, Bits<W>>>,
    pub tile_credit_in: Vec<Signal<In, Bit>>,
    /// Some router buffer received a flit without room for it (sticky; never in a correct design).
    pub overflow: Signal<Out, Bit>,

    routers: Vec<Router<W>>,
    any_overflow: Signal<Local, Bit>,
    _rows: usize,
    _cols: usize,
    _tiles: usize,
    _rows_less_one: usize,
    _cols_less_one: usize,
    _cols_end: usize,
}

fn ports<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| Default::default()).collect()
}

impl<const W: usize> Mesh<W> {
    pub fn new(config: &Config) -> Mesh<W> {
        let (rows, cols) = (config.array.rows, config.array.cols);
        let n = rows * cols;
        Mesh {
            clock: Default::default(),
            tile_in_valid: ports(n),
            tile_in_tail: ports(n),
            tile_in_data: ports(n),
            tile_credit_out: ports(n),
            tile_out_valid: ports(n),
            tile_out_tail: ports(n),
            tile_out_data: ports(n),
            tile_credit_in: ports(n),
            overflow: Default::default(),
            routers: (0..n)
                .map(|i| Router::new(&config.noc, i % cols, i / cols))
                .collect(),
            any_overflow: Default::default(),
            _rows: rows,
            _cols: cols,
            _tiles: n,
            _rows_less_one: rows - 1,
            _cols_less_one: cols - 1,
            _cols_end: cols + 1,
        }
    }

    pub fn rows(&self) -> usize {
        self._rows
    }

    pub fn cols(&self) -> usize {
        self._cols
    }
}

impl<const W: usize> Logic for Mesh<W> {
    #[hdl_gen]
    fn update(&mut self) {
        self.any_overflow.next = false;
        for i in 0..self._tiles {
            self.routers[i].clock.next = self.clock.val();
            self.routers[i].tile_in_valid.next = self.tile_in_valid[i].val();
            self.routers[i].tile_in_tail.next = self.tile_in_tail[i].val();
            self.routers[i].tile_in_data.next = self.tile_in_data[i].val();
            self.routers[i].tile_credit_in.next = self.tile_credit_in[i].val();
            self.tile_credit_out[i].next = self.routers[i].tile_credit_out.val();
            self.tile_out_valid[i].next = self.routers[i].tile_out_valid.val();
            self.tile_out_tail[i].next = self.routers[i].tile_out_tail.val();
            self.tile_out_data[i].next = self.routers[i].tile_out_data.val();
            self.any_overflow.next = self.any_overflow.val() | self.routers[i].overflow.val();
        }
        // Row-major index r * cols + c; `w` runs over the single value `cols` so that the emitted
        // Verilog, which evaluates indices from loop variables only, can compute neighbours.
        for r in 0..self._rows {
            for w in self._cols..self._cols_end {
                for c in 0..self._cols_less_one {
                    self.routers[r * w + c + 1].west_in_valid.next =
                        self.routers[r * w + c].east_out_valid.val();
                    self.routers[r * w + c + 1].west_in_tail.next =
                        self.routers[r * w + c].east_out_tail.val();
                    self.routers[r * w + c + 1].west_in_data.next =
                        self.routers[r * w + c].east_out_data.val();
                    self.routers[r * w + c].east_credit_in.next =
                        self.routers[r * w + c + 1].west_credit_out.val();
                    self.routers[r * w + c].east_in_valid.next =
                        self.routers[r * w + c + 1].west_out_valid.val();
                    self.routers[r * w + c].east_in_tail.next =
                        self.routers[r * w + c + 1].west_out_tail.val();
                    self.routers[r * w + c].east_in_data.next =
                        self.routers[r * w + c + 1].west_out_data.val();
                    self.routers[r * w + c + 1].west_credit_in.next =
                        self.routers[r * w + c].east_credit_out.val();
                }
                self.routers[r * w].west_in_valid.next = false;
                self.routers[r * w].west_in_tail.next = false;
                self.routers[r * w].west_in_data.next = 0.into();
                self.routers[r * w].west_credit_in.next = false;
                self.routers[r * w + w - 1].east_in_valid.next = false;
                self.routers[r * w + w - 1].east_in_tail.next = false;
                self.routers[r * w + w - 1].east_in_data.next = 0.into();
                self.routers[r * w + w - 1].east_credit_in.next = false;
            }
        }
        for w in self._cols..self._cols_end {
            for c in 0..self._cols {
                for r in 0..self._rows_less_one {
                    self.routers[r * w + c + w].north_in_valid.next =
                        self.routers[r * w + c].south_out_valid.val();
                    self.routers[r * w + c + w].north_in_tail.next =
                        self.routers[r * w + c].south_out_tail.val();
                    self.routers[r * w + c + w].north_in_data.next =
                        self.routers[r * w + c].south_out_data.val();
                    self.routers[r * w + c].south_credit_in.next =
                        self.routers[r * w + c + w].north_credit_out.val();
                    self.routers[r * w + c].south_in_valid.next =
                        self.routers[r * w + c + w].north_out_valid.val();
                    self.routers[r * w + c].south_in_tail.next =
                        self.routers[r * w + c + w].north_out_tail.val();
                    self.routers[r * w + c].south_in_data.next =
                        self.routers[r * w + c + w].north_out_data.val();
                    self.routers[r * w + c + w].north_credit_in.next =
                        self.routers[r * w + c].south_credit_out.val();
                }
                self.routers[c].north_in_valid.next = false;
                self.routers[c].north_in_tail.next = false;
                self.routers[c].north_in_data.next = 0.into();
                self.routers[c].north_credit_in.next = false;
                for b in self._rows_less_one..self._rows {
                    self.routers[b * w + c].south_in_valid.next = false;
                    self.routers[b * w + c].south_in_tail.next = false;
                    self.routers[b * w + c].south_in_data.next = 0.into();
                    self.routers[b * w + c].south_credit_in.next = false;
                }
            }
        }
        self.overflow.next = self.any_overflow.val();
    }
}
