//! One DRAM bank as the vault controller sees it: open or precharged, which row is open, and the
//! same-bank timing (RCD, RAS, RP, RC, RTP, write recovery) as count-down timers.
//!
//! The outputs depend on the registers only (a Moore machine), so the controller may decide its
//! command from them and drive the command strobes back in the same cycle without a
//! combinational loop. A timer loaded with `X - 1` after a command in cycle `n` reads zero in cycle
//! `n + X`, the first cycle the constraint allows the next command.
//!
//! Besides the `*_ready` flags (the command is allowed now) the bank tells the controller's
//! look-ahead stage which commands will be allowed in the next cycle if nothing is issued to it in
//! this one (`*_soon`): the controller picks its row command a cycle before issuing it.
//!
//! The command strobes arrive late in the cycle (they are the end of the controller's decision),
//! so every timer compares its decremented value with the load values before the strobes select:
//! a strobe passes through a multiplexer or two, never through a comparator.

use crate::dram_config::DramTiming;
use rust_hdl::prelude::*;

/// Width of the per-bank timers (`MAX_TIMING_CYCLES` fits).
pub const TIMER_BITS: usize = 8;
/// Width of a row number.
pub const ROW_BITS: usize = 16;

#[derive(LogicBlock)]
pub struct BankMachine {
    pub clock: Signal<In, Clock>,
    /// Command strobes: the controller issued this command to this bank in this cycle.
    pub act: Signal<In, Bit>,
    pub pre: Signal<In, Bit>,
    pub rd: Signal<In, Bit>,
    pub wr: Signal<In, Bit>,
    /// The row an ACT opens.
    pub act_row: Signal<In, Bits<ROW_BITS>>,
    pub is_open: Signal<Out, Bit>,
    pub open_row: Signal<Out, Bits<ROW_BITS>>,
    /// Precharged, and RP after PRE and RC after ACT have passed.
    pub act_ready: Signal<Out, Bit>,
    /// Open, and RCD after ACT has passed.
    pub col_ready: Signal<Out, Bit>,
    /// Open, and RAS after ACT, RTP after RD and write recovery after WR have passed.
    pub pre_ready: Signal<Out, Bit>,
    /// `act_ready` will hold in the next cycle unless this one issues a command to the bank.
    pub act_soon: Signal<Out, Bit>,
    /// `pre_ready` will hold in the next cycle unless this one issues a command to the bank.
    pub pre_soon: Signal<Out, Bit>,

    opened: DFF<Bit>,
    row: DFF<Bits<ROW_BITS>>,
    act_wait: DFF<Bits<TIMER_BITS>>,
    col_wait: DFF<Bits<TIMER_BITS>>,
    pre_wait: DFF<Bits<TIMER_BITS>>,
    act_next: Signal<Local, Bits<TIMER_BITS>>,
    col_next: Signal<Local, Bits<TIMER_BITS>>,
    pre_next: Signal<Local, Bits<TIMER_BITS>>,
    act_new: Signal<Local, Bits<TIMER_BITS>>,
    col_new: Signal<Local, Bits<TIMER_BITS>>,
    pre_new: Signal<Local, Bits<TIMER_BITS>>,
    rc_load: Constant<Bits<TIMER_BITS>>,
    rcd_load: Constant<Bits<TIMER_BITS>>,
    ras_load: Constant<Bits<TIMER_BITS>>,
    rp_load: Constant<Bits<TIMER_BITS>>,
    rtp_load: Constant<Bits<TIMER_BITS>>,
    wr_load: Constant<Bits<TIMER_BITS>>,
}

fn load(cycles: u32) -> Constant<Bits<TIMER_BITS>> {
    Constant::new((cycles.saturating_sub(1) as u64).min(255).into())
}

impl BankMachine {
    pub fn new(t: &DramTiming) -> BankMachine {
        BankMachine {
            clock: Default::default(),
            act: Default::default(),
            pre: Default::default(),
            rd: Default::default(),
            wr: Default::default(),
            act_row: Default::default(),
            is_open: Default::default(),
            open_row: Default::default(),
            act_ready: Default::default(),
            col_ready: Default::default(),
            pre_ready: Default::default(),
            act_soon: Default::default(),
            pre_soon: Default::default(),
            opened: Default::default(),
            row: Default::default(),
            act_wait: Default::default(),
            col_wait: Default::default(),
            pre_wait: Default::default(),
            act_next: Default::default(),
            col_next: Default::default(),
            pre_next: Default::default(),
            act_new: Default::default(),
            col_new: Default::default(),
            pre_new: Default::default(),
            rc_load: load(t.rc),
            rcd_load: load(t.rcd),
            ras_load: load(t.ras),
            rp_load: load(t.rp),
            rtp_load: load(t.rtp),
            // Write recovery counts from the end of the write data.
            wr_load: load(t.cwl + t.bl + t.wr),
        }
    }
}

impl Logic for BankMachine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(self, clock, opened, row, act_wait, col_wait, pre_wait);
        // Count down; the strobes are exclusive (one command per cycle), so each load compares
        // with the decremented value only.
        self.act_next.next = self.act_wait.q.val();
        if self.act_wait.q.val() != 0 {
            self.act_next.next = self.act_wait.q.val() - 1;
        }
        self.col_next.next = self.col_wait.q.val();
        if self.col_wait.q.val() != 0 {
            self.col_next.next = self.col_wait.q.val() - 1;
        }
        self.pre_next.next = self.pre_wait.q.val();
        if self.pre_wait.q.val() != 0 {
            self.pre_next.next = self.pre_wait.q.val() - 1;
        }
        self.act_new.next = self.act_next.val();
        self.col_new.next = self.col_next.val();
        self.pre_new.next = self.pre_next.val();
        if self.act.val() {
            self.opened.d.next = true;
            self.row.d.next = self.act_row.val();
        }
        if self.act.val() & (self.act_next.val() < self.rc_load.val()) {
            self.act_new.next = self.rc_load.val();
        }
        if self.act.val() & (self.col_next.val() < self.rcd_load.val()) {
            self.col_new.next = self.rcd_load.val();
        }
        if self.act.val() & (self.pre_next.val() < self.ras_load.val()) {
            self.pre_new.next = self.ras_load.val();
        }
        if self.pre.val() {
            self.opened.d.next = false;
        }
        if self.pre.val() & (self.act_next.val() < self.rp_load.val()) {
            self.act_new.next = self.rp_load.val();
        }
        if self.rd.val() & (self.pre_next.val() < self.rtp_load.val()) {
            self.pre_new.next = self.rtp_load.val();
        }
        if self.wr.val() & (self.pre_next.val() < self.wr_load.val()) {
            self.pre_new.next = self.wr_load.val();
        }
        self.act_wait.d.next = self.act_new.val();
        self.col_wait.d.next = self.col_new.val();
        self.pre_wait.d.next = self.pre_new.val();

        self.is_open.next = self.opened.q.val();
        self.open_row.next = self.row.q.val();
        self.act_ready.next = !self.opened.q.val() & (self.act_wait.q.val() == 0);
        self.col_ready.next = self.opened.q.val() & (self.col_wait.q.val() == 0);
        self.pre_ready.next = self.opened.q.val() & (self.pre_wait.q.val() == 0);
        // A timer at zero or one reads zero next cycle.
        self.act_soon.next = !self.opened.q.val() & ((self.act_wait.q.val() >> 1) == 0);
        self.pre_soon.next = self.opened.q.val() & ((self.pre_wait.q.val() >> 1) == 0);
    }
}
