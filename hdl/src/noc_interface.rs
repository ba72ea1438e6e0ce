//! The tile's network interface: elements a tile's data-flow engine sends to another tile leave as
//! packets on the router's tile port, and packets arriving there become elements for the engine's
//! write-back stream.
//!
//! Sending: an element of stream a with a remote destination enters the injection FIFO with its
//! destination tile. Elements leave in packets: a header (kind `operand`, length L), then L
//! payload flits, each with one element in its low 32 bits. When every element waiting in the
//! FIFO goes to the same tile, the packet takes them all (L = their number); otherwise it takes
//! the head alone. A stream that outruns the network thus costs about one flit per element, where
//! a packet per element costs two. Flits leave only with a credit of the router's tile input
//! buffer (`noc.input_buffer_depth` of them).
//!
//! Receiving: arriving flits wait in the ejection FIFO (the router assumes it holds
//! `noc.input_buffer_depth` flits and gets a credit back per flit taken); headers are dropped and
//! payloads are offered on `w_*`. Elements from one source arrive in the order they were sent
//! (dimension-order routing keeps one path per pair), so a write-back stream that takes the
//! elements of one sender writes them where the sender's descriptor says.

use crate::config::Config;
use crate::dataflow_engine::SPACE_BITS;
use crate::flit::{COORD_BITS, DEST_Y_LSB, LENGTH_LSB, SRC_X_LSB, SRC_Y_LSB};
use crate::flit_fifo::{FlitFifo, COUNT_BITS};
use rust_hdl::prelude::*;

/// Elements waiting to be sent.
pub const INJECTION_DEPTH: usize = 16;
/// Injection FIFO entries: the destination tile above the 32-bit element.
pub const INJECTION_BITS: usize = 40;
/// Width of the header field shift amounts.
const SHIFT_BITS: usize = 5;
/// Width of a tile number.
pub const TILE_BITS: usize = 8;

#[derive(LogicBlock)]
pub struct NocInterface<const W: usize> {
    pub clock: Signal<In, Clock>,
    pub tile_x: Signal<In, Bits<COORD_BITS>>,
    pub tile_y: Signal<In, Bits<COORD_BITS>>,
    // Elements to send.
    pub inj_valid: Signal<In, Bit>,
    pub inj_data: Signal<In, Bits<32>>,
    pub inj_tile: Signal<In, Bits<TILE_BITS>>,
    pub inj_space: Signal<Out, Bits<SPACE_BITS>>,
    // Elements received.
    pub w_valid: Signal<Out, Bit>,
    pub w_data: Signal<Out, Bits<32>>,
    pub w_ready: Signal<In, Bit>,
    /// Elements wait to leave or a packet is half sent.
    pub busy: Signal<Out, Bit>,
    /// Flits sent since `counter_clear`.
    pub flits_sent: Signal<Out, Bits<32>>,
    pub counter_clear: Signal<In, Bit>,
    // The router's tile port.
    pub out_valid: Signal<Out, Bit>,
    pub out_tail: Signal<Out, Bit>,
    pub out_data: Signal<Out, Bits<W>>,
    pub credit_in: Signal<In, Bit>,
    pub in_valid: Signal<In, Bit>,
    pub in_tail: Signal<In, Bit>,
    pub in_data: Signal<In, Bits<W>>,
    pub credit_out: Signal<Out, Bit>,

    inj_fifo: FlitFifo<INJECTION_BITS>,
    ej_fifo: FlitFifo<W>,
    /// Payload flits still to send in the current packet (0: the next flit is a header).
    left: DFF<Bits<COUNT_BITS>>,
    /// The destination of the last element pushed, and how many elements at the FIFO's tail go
    /// there.
    last_dest: DFF<Bits<TILE_BITS>>,
    same_tail: DFF<Bits<COUNT_BITS>>,
    used: DFF<Bits<COUNT_BITS>>,
    out_valid_r: DFF<Bit>,
    out_tail_r: DFF<Bit>,
    out_data_r: DFF<Bits<W>>,
    in_packet: DFF<Bit>,
    credit_r: DFF<Bit>,
    sent: DFF<Bits<32>>,

    send: Signal<Local, Bit>,
    eject_pop: Signal<Local, Bit>,
    dest: Signal<Local, Bits<TILE_BITS>>,
    dest_x: Signal<Local, Bits<COORD_BITS>>,
    dest_y: Signal<Local, Bits<COORD_BITS>>,
    header: Signal<Local, Bits<W>>,
    length: Signal<Local, Bits<COUNT_BITS>>,
    occ_next: Signal<Local, Bits<COUNT_BITS>>,
    same_next: Signal<Local, Bits<COUNT_BITS>>,

    tile_id: Vec<Constant<Bits<TILE_BITS>>>,
    tile_x_of: Vec<Constant<Bits<COORD_BITS>>>,
    tile_y_of: Vec<Constant<Bits<COORD_BITS>>>,
    credits: Constant<Bits<COUNT_BITS>>,
    inj_depth: Constant<Bits<COUNT_BITS>>,
    length_lsb: Constant<Bits<SHIFT_BITS>>,
    dest_y_lsb: Constant<Bits<SHIFT_BITS>>,
    src_x_lsb: Constant<Bits<SHIFT_BITS>>,
    src_y_lsb: Constant<Bits<SHIFT_BITS>>,
    _tiles: usize,
}

impl<const W: usize> NocInterface<W> {
    pub fn new(config: &Config) -> NocInterface<W> {
        let (rows, cols) = (config.array.rows, config.array.cols);
        let tiles = rows * cols;
        let depth = config.noc.input_buffer_depth;
        NocInterface {
            clock: Default::default(),
            tile_x: Default::default(),
            tile_y: Default::default(),
            inj_valid: Default::default(),
            inj_data: Default::default(),
            inj_tile: Default::default(),
            inj_space: Default::default(),
            w_valid: Default::default(),
            w_data: Default::default(),
            w_ready: Default::default(),
            busy: Default::default(),
            flits_sent: Default::default(),
            counter_clear: Default::default(),
            out_valid: Default::default(),
            out_tail: Default::default(),
            out_data: Default::default(),
            credit_in: Default::default(),
            in_valid: Default::default(),
            in_tail: Default::default(),
            in_data: Default::default(),
            credit_out: Default::default(),
            inj_fifo: FlitFifo::new(INJECTION_DEPTH),
            ej_fifo: FlitFifo::new(depth),
            left: Default::default(),
            last_dest: Default::default(),
            same_tail: Default::default(),
            used: Default::default(),
            out_valid_r: Default::default(),
            out_tail_r: Default::default(),
            out_data_r: Default::default(),
            in_packet: Default::default(),
            credit_r: Default::default(),
            sent: Default::default(),
            send: Default::default(),
            eject_pop: Default::default(),
            dest: Default::default(),
            dest_x: Default::default(),
            dest_y: Default::default(),
            header: Default::default(),
            length: Default::default(),
            occ_next: Default::default(),
            same_next: Default::default(),
            tile_id: (0..tiles).map(|t| Constant::new(bits(t as u64))).collect(),
            tile_x_of: (0..tiles)
                .map(|t| Constant::new(bits((t % cols) as u64)))
                .collect(),
            tile_y_of: (0..tiles)
                .map(|t| Constant::new(bits((t / cols) as u64)))
                .collect(),
            credits: Constant::new(bits(depth as u64)),
            inj_depth: Constant::new(bits(INJECTION_DEPTH as u64)),
            length_lsb: Constant::new(bits(LENGTH_LSB as u64)),
            dest_y_lsb: Constant::new(bits(DEST_Y_LSB as u64)),
            src_x_lsb: Constant::new(bits(SRC_X_LSB as u64)),
            src_y_lsb: Constant::new(bits(SRC_Y_LSB as u64)),
            _tiles: tiles,
        }
    }
}

impl<const W: usize> Logic for NocInterface<W> {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            left,
            last_dest,
            same_tail,
            used,
            out_valid_r,
            out_tail_r,
            out_data_r,
            in_packet,
            credit_r,
            sent
        );
        self.inj_fifo.clock.next = self.clock.val();
        self.ej_fifo.clock.next = self.clock.val();

        // Sending: a header, then its payloads, each flit with a credit.
        self.inj_fifo.push.next = self.inj_valid.val();
        self.inj_fifo.push_tail.next = false;
        self.inj_fifo.push_data.next = bit_cast::<INJECTION_BITS, 32>(self.inj_data.val())
            | (bit_cast::<INJECTION_BITS, TILE_BITS>(self.inj_tile.val()) << 32);
        self.dest.next = self.inj_fifo.head_data.val().get_bits::<TILE_BITS>(32);
        self.dest_x.next = 0.into();
        self.dest_y.next = 0.into();
        for t in 0..self._tiles {
            if self.dest.val() == self.tile_id[t].val() {
                self.dest_x.next = self.tile_x_of[t].val();
                self.dest_y.next = self.tile_y_of[t].val();
            }
        }
        // The packet takes every waiting element when they all go to one tile, else the head.
        self.length.next = 1.into();
        if self.same_tail.q.val() == self.inj_fifo.occupancy.val() {
            self.length.next = self.inj_fifo.occupancy.val();
        }
        self.header.next = bit_cast::<W, COORD_BITS>(self.dest_x.val())
            | (bit_cast::<W, COORD_BITS>(self.dest_y.val()) << self.dest_y_lsb.val())
            | (bit_cast::<W, COORD_BITS>(self.tile_x.val()) << self.src_x_lsb.val())
            | (bit_cast::<W, COORD_BITS>(self.tile_y.val()) << self.src_y_lsb.val())
            | (bit_cast::<W, COUNT_BITS>(self.length.val()) << self.length_lsb.val());
        self.send.next = self.inj_fifo.valid.val() & (self.used.q.val() < self.credits.val());
        self.inj_fifo.pop.next = self.send.val() & (self.left.q.val() != 0);
        self.out_valid_r.d.next = self.send.val();
        self.out_tail_r.d.next = self.left.q.val() == 1;
        self.out_data_r.d.next = self.header.val();
        if self.left.q.val() != 0 {
            self.out_data_r.d.next =
                bit_cast::<W, 32>(self.inj_fifo.head_data.val().get_bits::<32>(0));
        }
        if self.send.val() {
            if self.left.q.val() == 0 {
                self.left.d.next = self.length.val();
            } else {
                self.left.d.next = self.left.q.val() - 1;
            }
        }
        // How many elements at the FIFO's tail go to the last pushed one's tile (at most all).
        self.occ_next.next = self.inj_fifo.occupancy.val();
        self.same_next.next = self.same_tail.q.val();
        if self.inj_valid.val() {
            self.occ_next.next = self.occ_next.val() + 1;
            self.same_next.next = 1.into();
            if (self.inj_tile.val() == self.last_dest.q.val()) & (self.same_tail.q.val() != 0) {
                self.same_next.next = self.same_tail.q.val() + 1;
            }
            self.last_dest.d.next = self.inj_tile.val();
        }
        if self.inj_fifo.pop.val() {
            self.occ_next.next = self.occ_next.val() - 1;
        }
        if self.same_next.val() > self.occ_next.val() {
            self.same_next.next = self.occ_next.val();
        }
        self.same_tail.d.next = self.same_next.val();
        if self.send.val() & !self.credit_in.val() {
            self.used.d.next = self.used.q.val() + 1;
        }
        if !self.send.val() & self.credit_in.val() {
            self.used.d.next = self.used.q.val() - 1;
        }
        if self.send.val() {
            self.sent.d.next = self.sent.q.val() + 1;
        }
        if self.counter_clear.val() {
            self.sent.d.next = 0.into();
        }
        self.out_valid.next = self.out_valid_r.q.val();
        self.out_tail.next = self.out_tail_r.q.val();
        self.out_data.next = self.out_data_r.q.val();
        self.flits_sent.next = self.sent.q.val();
        self.inj_space.next = 0.into();
        if self.inj_fifo.occupancy.val() < self.inj_depth.val() {
            self.inj_space.next = self.inj_depth.val() - self.inj_fifo.occupancy.val() - 1;
        }
        self.busy.next = self.inj_fifo.valid.val() | (self.left.q.val() != 0);

        // Receiving: drop headers, offer payloads.
        self.ej_fifo.push.next = self.in_valid.val();
        self.ej_fifo.push_tail.next = self.in_tail.val();
        self.ej_fifo.push_data.next = self.in_data.val();
        self.w_valid.next = self.ej_fifo.valid.val() & self.in_packet.q.val();
        self.w_data.next = self.ej_fifo.head_data.val().get_bits::<32>(0);
        self.eject_pop.next = false;
        if self.ej_fifo.valid.val() {
            if !self.in_packet.q.val() {
                self.eject_pop.next = true;
                self.in_packet.d.next = !self.ej_fifo.head_tail.val();
            } else if self.w_ready.val() {
                self.eject_pop.next = true;
                if self.ej_fifo.head_tail.val() {
                    self.in_packet.d.next = false;
                }
            }
        }
        self.ej_fifo.pop.next = self.eject_pop.val();
        self.credit_r.d.next = self.eject_pop.val();
        self.credit_out.next = self.credit_r.q.val();
    }
}
