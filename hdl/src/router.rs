//! The mesh router: five ports (north, east, south, west and the tile's own port), X-then-Y
//! dimension-order routing, credit-based flow control, wormhole switching with round-robin
//! arbitration per output, and registered outputs.
//!
//! Flit and header format: see [`crate::flit`] and `docs/noc.md`. Each port has an input link
//! (`*_in_valid`, `*_in_tail`, `*_in_data`, with `*_credit_out` returning one credit per flit that
//! leaves the input buffer) and an output link (`*_out_valid`, `*_out_tail`, `*_out_data`, with
//! `*_credit_in` from the downstream buffer). Every output, credits included, comes from a
//! register, so routers chain without combinational paths between them.
//!
//! Timing: a flit on an input link enters the input buffer at the rising edge; in the next cycle
//! the buffer head is routed (X first: east or west until the column matches, then north or south,
//! then the tile), arbitrated and, if the output has a credit, written into the output register at
//! the next edge. A hop therefore takes two cycles. A credit spent on a flit sent in cycle t can be
//! spent again in cycle t + 4 at the earliest (link, buffer, credit register, counter), so an input
//! buffer of four flits keeps a link busy every cycle.
//!
//! An output is allocated to a header flit by its round-robin arbiter and stays with that packet
//! until the tail has passed (wormhole); only then may another input win it. Dimension-order
//! routing on a mesh has no cyclic channel dependency, so wormhole switching cannot deadlock.
//!
//! Flit width: rust-hdl widths are const generics, so the router is generic over `W` and the
//! configuration selects one of [`crate::config::NOC_FLIT_WIDTHS`] at run time. The input buffer
//! depth is a run-time parameter.

use crate::config::NocConfig;
use crate::flit::{COORD_BITS, DEST_X_LSB, DEST_Y_LSB};
use crate::flit_fifo::{FlitFifo, COUNT_BITS};
use crate::rr_arbiter::{RrArbiter, PORTS};
use rust_hdl::prelude::*;

/// Internal index of each port (also the code of a routing decision).
pub const PORT_NORTH: usize = 0;
pub const PORT_EAST: usize = 1;
pub const PORT_SOUTH: usize = 2;
pub const PORT_WEST: usize = 3;
pub const PORT_TILE: usize = 4;
/// Port names in index order, as they prefix the Verilog ports.
pub const PORT_NAMES: [&str; PORTS] = ["north", "east", "south", "west", "tile"];
/// Width of a port index.
pub const PORT_BITS: usize = 3;

#[derive(LogicBlock)]
pub struct Router<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub north_in_valid: Signal<In, Bit>,
    pub north_in_tail: Signal<In, Bit>,
    pub north_in_data: Signal<In, Bits<W>>,
    pub north_credit_out: Signal<Out, Bit>,
    pub north_out_valid: Signal<Out, Bit>,
    pub north_out_tail: Signal<Out, Bit>,
    pub north_out_data: Signal<Out, Bits<W>>,
    pub north_credit_in: Signal<In, Bit>,
    pub east_in_valid: Signal<In, Bit>,
    pub east_in_tail: Signal<In, Bit>,
    pub east_in_data: Signal<In, Bits<W>>,
    pub east_credit_out: Signal<Out, Bit>,
    pub east_out_valid: Signal<Out, Bit>,
    pub east_out_tail: Signal<Out, Bit>,
    pub east_out_data: Signal<Out, Bits<W>>,
    pub east_credit_in: Signal<In, Bit>,
    pub south_in_valid: Signal<In, Bit>,
    pub south_in_tail: Signal<In, Bit>,
    pub south_in_data: Signal<In, Bits<W>>,
    pub south_credit_out: Signal<Out, Bit>,
    pub south_out_valid: Signal<Out, Bit>,
    pub south_out_tail: Signal<Out, Bit>,
    pub south_out_data: Signal<Out, Bits<W>>,
    pub south_credit_in: Signal<In, Bit>,
    pub west_in_valid: Signal<In, Bit>,
    pub west_in_tail: Signal<In, Bit>,
    pub west_in_data: Signal<In, Bits<W>>,
    pub west_credit_out: Signal<Out, Bit>,
    pub west_out_valid: Signal<Out, Bit>,
    pub west_out_tail: Signal<Out, Bit>,
    pub west_out_data: Signal<Out, Bits<W>>,
    pub west_credit_in: Signal<In, Bit>,
    pub tile_in_valid: Signal<In, Bit>,
    pub tile_in_tail: Signal<In, Bit>,
    pub tile_in_data: Signal<In, Bits<W>>,
    pub tile_credit_out: Signal<Out, Bit>,
    pub tile_out_valid: Signal<Out, Bit>,
    pub tile_out_tail: Signal<Out, Bit>,
    pub tile_out_data: Signal<Out, Bits<W>>,
    pub tile_credit_in: Signal<In, Bit>,
    /// A buffer received a flit it had no room for: a credit protocol violation (sticky).
    pub overflow: Signal<Out, Bit>,

    fifos: Vec<FlitFifo<W>>,
    arbiters: Vec<RrArbiter>,
    // Per output port.
    out_valid_r: Vec<DFF<Bit>>,
    out_tail_r: Vec<DFF<Bit>>,
    out_data_r: Vec<DFF<Bits<W>>>,
    outstanding: Vec<DFF<Bits<COUNT_BITS>>>,
    locked: Vec<DFF<Bit>>,
    owner: Vec<DFF<Bits<PORT_BITS>>>,
    // Per input port.
    credit_r: Vec<DFF<Bit>>,
    busy: Vec<DFF<Bit>>,
    route_r: Vec<DFF<Bits<PORT_BITS>>>,

    // Combinational temporaries, indexed by port.
    in_valid: Vec<Signal<Local, Bit>>,
    in_tail: Vec<Signal<Local, Bit>>,
    in_data: Vec<Signal<Local, Bits<W>>>,
    credit_in: Vec<Signal<Local, Bit>>,
    dest_x: Vec<Signal<Local, Bits<COORD_BITS>>>,
    dest_y: Vec<Signal<Local, Bits<COORD_BITS>>>,
    want: Vec<Signal<Local, Bits<PORT_BITS>>>,
    go: Vec<Signal<Local, Bit>>,
    has_credit: Vec<Signal<Local, Bit>>,
    req: Vec<Signal<Local, Bits<PORTS>>>,
    send: Vec<Signal<Local, Bit>>,
    head_send: Vec<Signal<Local, Bit>>,
    sel_tail: Vec<Signal<Local, Bit>>,
    sel_data: Vec<Signal<Local, Bits<W>>>,
    sel_port: Vec<Signal<Local, Bits<PORT_BITS>>>,
    any_overflow: Signal<Local, Bit>,

    // Which coordinates lie in each direction, as bit masks indexed by coordinate: a comparison
    // with the router's own coordinate would be constant at the mesh edge (a lint warning).
    east_cols: Constant<Bits<GRID_CODES>>,
    west_cols: Constant<Bits<GRID_CODES>>,
    south_rows: Constant<Bits<GRID_CODES>>,
    north_rows: Constant<Bits<GRID_CODES>>,
    dest_x_lsb: Constant<Bits<OFFSET_BITS>>,
    dest_y_lsb: Constant<Bits<OFFSET_BITS>>,
    port_id: Vec<Constant<Bits<PORT_BITS>>>,
    to_north: Constant<Bits<PORT_BITS>>,
    to_east: Constant<Bits<PORT_BITS>>,
    to_south: Constant<Bits<PORT_BITS>>,
    to_west: Constant<Bits<PORT_BITS>>,
    to_tile: Constant<Bits<PORT_BITS>>,
    credits: Constant<Bits<COUNT_BITS>>,
    _ports: usize,
}

fn locals<T: Default>() -> Vec<T> {
    (0..PORTS).map(|_| Default::default()).collect()
}

/// Width of a bit-offset constant into a flit.
const OFFSET_BITS: usize = 8;

/// Coordinate values a header can carry.
const GRID_CODES: usize = 1 << COORD_BITS;

/// Mask of the coordinates above `v`.
fn beyond(v: usize) -> u64 {
    ((1u64 << GRID_CODES) - 1) & !((2u64 << v) - 1)
}

/// Mask of the coordinates below `v`.
fn below(v: usize) -> u64 {
    (1u64 << v) - 1
}

fn port_code(p: usize) -> Constant<Bits<PORT_BITS>> {
    Constant::new(bits(p as u64))
}

impl<const W: usize> Router<W> {
    /// The router at column `x`, row `y`.
    pub fn new(noc: &NocConfig, x: usize, y: usize) -> Router<W> {
        assert_eq!(
            W, noc.flit_width,
            "router instantiated for another flit width"
        );
        let depth = noc.input_buffer_depth;
        Router {
            clock: Default::default(),
            north_in_valid: Default::default(),
            north_in_tail: Default::default(),
            north_in_data: Default::default(),
            north_credit_out: Default::default(),
            north_out_valid: Default::default(),
            north_out_tail: Default::default(),
            north_out_data: Default::default(),
            north_credit_in: Default::default(),
            east_in_valid: Default::default(),
            east_in_tail: Default::default(),
            east_in_data: Default::default(),
            east_credit_out: Default::default(),
            east_out_valid: Default::default(),
            east_out_tail: Default::default(),
            east_out_data: Default::default(),
            east_credit_in: Default::default(),
            south_in_valid: Default::default(),
            south_in_tail: Default::default(),
            south_in_data: Default::default(),
            south_credit_out: Default::default(),
            south_out_valid: Default::default(),
            south_out_tail: Default::default(),
            south_out_data: Default::default(),
            south_credit_in: Default::default(),
            west_in_valid: Default::default(),
            west_in_tail: Default::default(),
            west_in_data: Default::default(),
            west_credit_out: Default::default(),
            west_out_valid: Default::default(),
            west_out_tail: Default::default(),
            west_out_data: Default::default(),
            west_credit_in: Default::default(),
            tile_in_valid: Default::default(),
            tile_in_tail: Default::default(),
            tile_in_data: Default::default(),
            tile_credit_out: Default::default(),
            tile_out_valid: Default::default(),
            tile_out_tail: Default::default(),
            tile_out_data: Default::default(),
            tile_credit_in: Default::default(),
            overflow: Default::default(),
            fifos: (0..PORTS).map(|_| FlitFifo::new(depth)).collect(),
            arbiters: locals(),
            out_valid_r: locals(),
            out_tail_r: locals(),
            out_data_r: locals(),
            outstanding: locals(),
            locked: locals(),
            owner: locals(),
            credit_r: locals(),
            busy: locals(),
            route_r: locals(),
            in_valid: locals(),
            in_tail: locals(),
            in_data: locals(),
            credit_in: locals(),
            dest_x: locals(),
            dest_y: locals(),
            want: locals(),
            go: locals(),
            has_credit: locals(),
            req: locals(),
            send: locals(),
            head_send: locals(),
            sel_tail: locals(),
            sel_data: locals(),
            sel_port: locals(),
            any_overflow: Default::default(),
            east_cols: Constant::new(bits(beyond(x))),
            west_cols: Constant::new(bits(below(x))),
            south_rows: Constant::new(bits(beyond(y))),
            north_rows: Constant::new(bits(below(y))),
            dest_x_lsb: Constant::new(bits(DEST_X_LSB as u64)),
            dest_y_lsb: Constant::new(bits(DEST_Y_LSB as u64)),
            port_id: (0..PORTS).map(port_code).collect(),
            to_north: port_code(PORT_NORTH),
            to_east: port_code(PORT_EAST),
            to_south: port_code(PORT_SOUTH),
            to_west: port_code(PORT_WEST),
            to_tile: port_code(PORT_TILE),
            credits: Constant::new(bits(depth as u64)),
            _ports: PORTS,
        }
    }
}

impl<const W: usize> Logic for Router<W> {
    #[hdl_gen]
    fn update(&mut self) {
        self.in_valid[0].next = self.north_in_valid.val();
        self.in_tail[0].next = self.north_in_tail.val();
        self.in_data[0].next = self.north_in_data.val();
        self.credit_in[0].next = self.north_credit_in.val();
        self.in_valid[1].next = self.east_in_valid.val();
        self.in_tail[1].next = self.east_in_tail.val();
        self.in_data[1].next = self.east_in_data.val();
        self.credit_in[1].next = self.east_credit_in.val();
        self.in_valid[2].next = self.south_in_valid.val();
        self.in_tail[2].next = self.south_in_tail.val();
        self.in_data[2].next = self.south_in_data.val();
        self.credit_in[2].next = self.south_credit_in.val();
        self.in_valid[3].next = self.west_in_valid.val();
        self.in_tail[3].next = self.west_in_tail.val();
        self.in_data[3].next = self.west_in_data.val();
        self.credit_in[3].next = self.west_credit_in.val();
        self.in_valid[4].next = self.tile_in_valid.val();
        self.in_tail[4].next = self.tile_in_tail.val();
        self.in_data[4].next = self.tile_in_data.val();
        self.credit_in[4].next = self.tile_credit_in.val();
        for p in 0..self._ports {
            self.fifos[p].clock.next = self.clock.val();
            self.arbiters[p].clock.next = self.clock.val();
            self.out_valid_r[p].clock.next = self.clock.val();
            self.out_tail_r[p].clock.next = self.clock.val();
            self.out_data_r[p].clock.next = self.clock.val();
            self.outstanding[p].clock.next = self.clock.val();
            self.locked[p].clock.next = self.clock.val();
            self.owner[p].clock.next = self.clock.val();
            self.credit_r[p].clock.next = self.clock.val();
            self.busy[p].clock.next = self.clock.val();
            self.route_r[p].clock.next = self.clock.val();
            self.out_data_r[p].d.next = self.out_data_r[p].q.val();
            self.outstanding[p].d.next = self.outstanding[p].q.val();
            self.locked[p].d.next = self.locked[p].q.val();
            self.owner[p].d.next = self.owner[p].q.val();
            self.busy[p].d.next = self.busy[p].q.val();
            self.route_r[p].d.next = self.route_r[p].q.val();
        }

        // Route computation for the head of every input buffer; a packet in progress keeps the
        // route its header took.
        for i in 0..self._ports {
            self.dest_x[i].next = self.fifos[i]
                .head_data
                .val()
                .get_bits::<COORD_BITS>(self.dest_x_lsb.val().index());
            self.dest_y[i].next = self.fifos[i]
                .head_data
                .val()
                .get_bits::<COORD_BITS>(self.dest_y_lsb.val().index());
            if self.busy[i].q.val() {
                self.want[i].next = self.route_r[i].q.val();
            } else if self.east_cols.val().get_bit(self.dest_x[i].val().index()) {
                self.want[i].next = self.to_east.val();
            } else if self.west_cols.val().get_bit(self.dest_x[i].val().index()) {
                self.want[i].next = self.to_west.val();
            } else if self.south_rows.val().get_bit(self.dest_y[i].val().index()) {
                self.want[i].next = self.to_south.val();
            } else if self.north_rows.val().get_bit(self.dest_y[i].val().index()) {
                self.want[i].next = self.to_north.val();
            } else {
                self.want[i].next = self.to_tile.val();
            }
            self.go[i].next = false;
        }

        // Switch allocation: a locked output serves its owner; a free one serves the header its
        // arbiter picks. Each input wants one output, so no input is granted twice.
        for o in 0..self._ports {
            self.has_credit[o].next = self.outstanding[o].q.val() != self.credits.val();
            self.req[o].next = 0.into();
            for i in 0..self._ports {
                if self.fifos[i].valid.val()
                    & !self.busy[i].q.val()
                    & (self.want[i].val() == self.port_id[o].val())
                {
                    self.req[o].next = self.req[o].val().replace_bit(i, true);
                }
            }
            self.send[o].next = false;
            self.head_send[o].next = false;
            self.sel_tail[o].next = false;
            self.sel_data[o].next = 0.into();
            self.sel_port[o].next = 0.into();
            for i in 0..self._ports {
                if self.locked[o].q.val() {
                    if (self.owner[o].q.val() == self.port_id[i].val())
                        & self.fifos[i].valid.val()
                        & self.has_credit[o].val()
                    {
                        self.send[o].next = true;
                        self.go[i].next = true;
                        self.sel_tail[o].next = self.fifos[i].head_tail.val();
                        self.sel_data[o].next = self.fifos[i].head_data.val();
                        self.sel_port[o].next = self.port_id[i].val();
                    }
                } else if self.arbiters[o].grant.val().get_bit(i) & self.has_credit[o].val() {
                    self.send[o].next = true;
                    self.head_send[o].next = true;
                    self.go[i].next = true;
                    self.sel_tail[o].next = self.fifos[i].head_tail.val();
                    self.sel_data[o].next = self.fifos[i].head_data.val();
                    self.sel_port[o].next = self.port_id[i].val();
                }
            }
            self.arbiters[o].req.next = self.req[o].val();
            self.arbiters[o].advance.next = self.head_send[o].val();

            self.out_valid_r[o].d.next = self.send[o].val();
            self.out_tail_r[o].d.next = self.send[o].val() & self.sel_tail[o].val();
            if self.send[o].val() {
                self.out_data_r[o].d.next = self.sel_data[o].val();
            }
            if self.send[o].val() & !self.credit_in[o].val() {
                self.outstanding[o].d.next = self.outstanding[o].q.val() + 1;
            }
            if !self.send[o].val() & self.credit_in[o].val() {
                self.outstanding[o].d.next = self.outstanding[o].q.val() - 1;
            }
            if self.head_send[o].val() & !self.sel_tail[o].val() {
                self.locked[o].d.next = true;
                self.owner[o].d.next = self.sel_port[o].val();
            }
            if self.send[o].val() & self.sel_tail[o].val() {
                self.locked[o].d.next = false;
            }
        }

        self.any_overflow.next = false;
        for i in 0..self._ports {
            if self.go[i].val() & !self.busy[i].q.val() & !self.fifos[i].head_tail.val() {
                self.busy[i].d.next = true;
                self.route_r[i].d.next = self.want[i].val();
            }
            if self.go[i].val() & self.fifos[i].head_tail.val() {
                self.busy[i].d.next = false;
            }
            self.credit_r[i].d.next = self.go[i].val();
            self.fifos[i].push.next = self.in_valid[i].val();
            self.fifos[i].push_tail.next = self.in_tail[i].val();
            self.fifos[i].push_data.next = self.in_data[i].val();
            self.fifos[i].pop.next = self.go[i].val();
            self.any_overflow.next = self.any_overflow.val() | self.fifos[i].overflow.val();
        }

        self.north_credit_out.next = self.credit_r[0].q.val();
        self.north_out_valid.next = self.out_valid_r[0].q.val();
        self.north_out_tail.next = self.out_tail_r[0].q.val();
        self.north_out_data.next = self.out_data_r[0].q.val();
        self.east_credit_out.next = self.credit_r[1].q.val();
        self.east_out_valid.next = self.out_valid_r[1].q.val();
        self.east_out_tail.next = self.out_tail_r[1].q.val();
        self.east_out_data.next = self.out_data_r[1].q.val();
        self.south_credit_out.next = self.credit_r[2].q.val();
        self.south_out_valid.next = self.out_valid_r[2].q.val();
        self.south_out_tail.next = self.out_tail_r[2].q.val();
        self.south_out_data.next = self.out_data_r[2].q.val();
        self.west_credit_out.next = self.credit_r[3].q.val();
        self.west_out_valid.next = self.out_valid_r[3].q.val();
        self.west_out_tail.next = self.out_tail_r[3].q.val();
        self.west_out_data.next = self.out_data_r[3].q.val();
        self.tile_credit_out.next = self.credit_r[4].q.val();
        self.tile_out_valid.next = self.out_valid_r[4].q.val();
        self.tile_out_tail.next = self.out_tail_r[4].q.val();
        self.tile_out_data.next = self.out_data_r[4].q.val();
        self.overflow.next = self.any_overflow.val();
    }
}
