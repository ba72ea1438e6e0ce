//! Round-robin arbiter over the router's five input ports.
//!
//! `grant` is one-hot (or zero without requests) and combinational in `req`; with `advance` the
//! priority moves, at the rising edge, to the port just after the granted one, so a port that keeps
//! requesting is served after at most four others. The priority is kept as a mask of the ports at or
//! after the favoured one: the lowest requesting port inside the mask wins, else the lowest overall.

use rust_hdl::prelude::*;

/// Ports of a router (N, E, S, W, tile).
pub const PORTS: usize = 5;

#[derive(LogicBlock, Default)]
pub struct RrArbiter {
    pub clock: Signal<In, Clock>,
    pub req: Signal<In, Bits<PORTS>>,
    pub advance: Signal<In, Bit>,
    pub grant: Signal<Out, Bits<PORTS>>,
    favoured: DFF<Bits<PORTS>>,
    masked: Signal<Local, Bits<PORTS>>,
    pick: Signal<Local, Bits<PORTS>>,
}

impl Logic for RrArbiter {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, favoured);
        self.masked.next = self.req.val() & self.favoured.q.val();
        // x & (!x + 1) isolates the lowest set bit.
        if self.masked.val().any() {
            self.pick.next = self.masked.val() & (!self.masked.val() + 1);
        } else {
            self.pick.next = self.req.val() & (!self.req.val() + 1);
        }
        // Ports strictly after the winner; after the last port the mask is empty, which wraps.
        if self.advance.val() & self.pick.val().any() {
            self.favoured.d.next = !((self.pick.val() << 1) - 1);
        }
        self.grant.next = self.pick.val();
    }
}
