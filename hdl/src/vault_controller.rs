//! The vault controller: a request queue in front of one vault's DRAM, per-bank state machines,
//! an open-page policy, refresh, and every DRAM timing constraint enforced by counters.
//!
//! Requests are whole bursts (`bytes_per_cycle x BL` bytes, 32 at the defaults) at byte addresses
//! mapped, from the top bit down, as row | bank | column | offset, so a sequential stream walks a
//! row, then the same row of the next bank. A write request's data are `BL` beats handed over on
//! the `wd_*` port, in the order of the write requests, before or after the request itself.
//! Read data return on `resp_*`, `BL` beats per request in request order, with the request's tag.
//!
//! Ordering: column commands (RD, WR) issue strictly in queue order, so every read sees the last
//! write to its address and writes land in order. Only row commands look ahead: a bank whose
//! oldest queued request wants a row that is not open is precharged and activated early, which
//! hides RP and RCD behind the bursts of other banks and never reorders data.
//!
//! Refresh: every REFI cycles a refresh falls due; the controller stops activating and issuing
//! column commands, precharges the open banks as soon as each may be, issues REF once every bank
//! is precharged and idle, and activates nothing for RFC after it.
//!
//! The DRAM command (`cmd*`) and the write-data beat (`dram_w*`) of a cycle are functions of the
//! registers only; the DRAM's read beat of a cycle (`dram_rdata`) is captured at the cycle's end:
//! the controller expects it exactly CL cycles after its RD (DRAM has no data-valid signal).

use crate::bank_machine::{BankMachine, ROW_BITS, TIMER_BITS};
use crate::config::Config;
use crate::dram_config::DramTiming;
use crate::memory::{BeatBuffer, BEAT_ADDR_BITS};
use rust_hdl::prelude::*;

/// Width of the bank number on the command port.
pub const BANK_BITS: usize = 5;
/// Width of the column (burst within a row) on the command port.
pub const COL_BITS: usize = 8;
/// Width of request tags.
pub const TAG_BITS: usize = 8;
/// Width of queue slot numbers and counts (queue depth up to 16).
pub const SLOT_BITS: usize = 5;
/// Reads in flight the response tag queue holds (the configuration enforces the bound).
pub const TAG_QUEUE_DEPTH: usize = crate::dram_config::MAX_READS_IN_FLIGHT as usize;
/// Width of the statistics counters.
pub const COUNTER_BITS: usize = 32;
/// Cycles the read and write data schedules look ahead (the configuration bounds CL + BL and
/// CWL + BL by it).
pub const SCHEDULE_BITS: usize = crate::dram_config::SCHEDULE_CYCLES as usize;
/// Width of the refresh recovery timer (`MAX_RFC_CYCLES` fits).
pub const RFC_BITS: usize = 10;
/// Width of the refresh interval counter (`MAX_REFI_CYCLES` fits).
pub const REFI_BITS: usize = 16;
/// Width of a byte mask of one data beat (`bytes_per_cycle` at most 16).
pub const MASK_BITS: usize = 16;
/// Activates the four-activate window tracks.
const FAW_ACTIVATES: usize = 4;

/// Command codes on the `cmd` port.
pub mod cmd_code {
    pub const NOP: u64 = 0;
    pub const ACT: u64 = 1;
    pub const RD: u64 = 2;
    pub const WR: u64 = 3;
    pub const PRE: u64 = 4;
    pub const REF: u64 = 5;
}

#[derive(LogicBlock)]
pub struct VaultController {
    pub clock: Signal<In, Clock>,
    // Requests.
    pub req_valid: Signal<In, Bit>,
    pub req_write: Signal<In, Bit>,
    pub req_addr: Signal<In, Bits<32>>,
    pub req_tag: Signal<In, Bits<TAG_BITS>>,
    pub req_ready: Signal<Out, Bit>,
    // Write data beats.
    pub wd_valid: Signal<In, Bit>,
    pub wd_data: Vec<Signal<In, Bits<32>>>,
    pub wd_mask: Signal<In, Bits<MASK_BITS>>,
    pub wd_ready: Signal<Out, Bit>,
    // Read responses.
    pub resp_valid: Signal<Out, Bit>,
    pub resp_last: Signal<Out, Bit>,
    pub resp_tag: Signal<Out, Bits<TAG_BITS>>,
    pub resp_data: Vec<Signal<Out, Bits<32>>>,
    // DRAM command and data buses.
    pub cmd: Signal<Out, Bits<3>>,
    pub cmd_bank: Signal<Out, Bits<BANK_BITS>>,
    pub cmd_row: Signal<Out, Bits<ROW_BITS>>,
    pub cmd_col: Signal<Out, Bits<COL_BITS>>,
    pub dram_wvalid: Signal<Out, Bit>,
    pub dram_wdata: Vec<Signal<Out, Bits<32>>>,
    pub dram_wmask: Signal<Out, Bits<MASK_BITS>>,
    pub dram_rdata: Vec<Signal<In, Bits<32>>>,
    // Statistics.
    pub counter_clear: Signal<In, Bit>,
    pub bytes_read: Signal<Out, Bits<COUNTER_BITS>>,
    pub bytes_written: Signal<Out, Bits<COUNTER_BITS>>,
    pub row_hits: Signal<Out, Bits<COUNTER_BITS>>,
    pub row_misses: Signal<Out, Bits<COUNTER_BITS>>,
    /// Cycles in which requests waited while a refresh was due or in progress.
    pub refresh_stalls: Signal<Out, Bits<COUNTER_BITS>>,

    banks: Vec<BankMachine>,
    wbuf: Vec<BeatBuffer>,
    mbuf: BeatBuffer,

    // Request queue (circular; a slot is live when its age is below the count).
    q_head: DFF<Bits<SLOT_BITS>>,
    q_count: DFF<Bits<SLOT_BITS>>,
    q_write: Vec<DFF<Bit>>,
    q_bank: Vec<DFF<Bits<BANK_BITS>>>,
    q_row: Vec<DFF<Bits<ROW_BITS>>>,
    q_col: Vec<DFF<Bits<COL_BITS>>>,
    q_tag: Vec<DFF<Bits<TAG_BITS>>>,
    /// An ACT was issued on behalf of this request: it counts as a row miss.
    q_miss: Vec<DFF<Bit>>,
    // Write data.
    wd_wp: DFF<Bits<BEAT_ADDR_BITS>>,
    wd_rp: DFF<Bits<BEAT_ADDR_BITS>>,
    /// Beats in the buffer not yet claimed by an issued WR.
    wd_avail: DFF<Bits<BEAT_ADDR_BITS>>,
    /// Bit k: a write beat is due on the bus k cycles from now.
    wsched: DFF<Bits<SCHEDULE_BITS>>,
    /// Bit k: a read beat arrives on the bus k cycles from now.
    rsched: DFF<Bits<SCHEDULE_BITS>>,
    rbeat: DFF<Bits<8>>,
    rt_wp: DFF<Bits<SLOT_BITS>>,
    rt_rp: DFF<Bits<SLOT_BITS>>,
    rt_tag: Vec<DFF<Bits<TAG_BITS>>>,
    resp_valid_r: DFF<Bit>,
    resp_last_r: DFF<Bit>,
    resp_tag_r: DFF<Bits<TAG_BITS>>,
    resp_data_r: Vec<DFF<Bits<32>>>,
    // Bus-wide timers.
    col_wait: DFF<Bits<TIMER_BITS>>,
    rd_wait: DFF<Bits<TIMER_BITS>>,
    wr_wait: DFF<Bits<TIMER_BITS>>,
    rrd_wait: DFF<Bits<TIMER_BITS>>,
    faw_t: Vec<DFF<Bits<TIMER_BITS>>>,
    rfc_wait: DFF<Bits<RFC_BITS>>,
    refi_count: DFF<Bits<REFI_BITS>>,
    ref_pending: DFF<Bit>,
    // Statistics.
    bytes_rd: DFF<Bits<COUNTER_BITS>>,
    bytes_wr: DFF<Bits<COUNTER_BITS>>,
    hits: DFF<Bits<COUNTER_BITS>>,
    misses: DFF<Bits<COUNTER_BITS>>,
    stalls: DFF<Bits<COUNTER_BITS>>,

    // Combinational temporaries.
    age: Signal<Local, Bits<SLOT_BITS>>,
    h_write: Signal<Local, Bit>,
    h_bank: Signal<Local, Bits<BANK_BITS>>,
    h_row: Signal<Local, Bits<ROW_BITS>>,
    h_col: Signal<Local, Bits<COL_BITS>>,
    h_tag: Signal<Local, Bits<TAG_BITS>>,
    h_miss: Signal<Local, Bit>,
    hb_open: Signal<Local, Bit>,
    hb_row: Signal<Local, Bits<ROW_BITS>>,
    hb_col_ready: Signal<Local, Bit>,
    faw_ok: Signal<Local, Bit>,
    faw_taken: Signal<Local, Bit>,
    act_ok: Signal<Local, Bit>,
    col_go: Signal<Local, Bit>,
    f_found: Signal<Local, Bit>,
    f_row: Signal<Local, Bits<ROW_BITS>>,
    f_age: Signal<Local, Bits<SLOT_BITS>>,
    f_slot: Signal<Local, Bits<SLOT_BITS>>,
    want_pre: Signal<Local, Bit>,
    want_act: Signal<Local, Bit>,
    best_found: Signal<Local, Bit>,
    best_age: Signal<Local, Bits<SLOT_BITS>>,
    best_slot: Signal<Local, Bits<SLOT_BITS>>,
    best_bank: Signal<Local, Bits<BANK_BITS>>,
    best_row: Signal<Local, Bits<ROW_BITS>>,
    best_act: Signal<Local, Bit>,
    rp_found: Signal<Local, Bit>,
    rp_bank: Signal<Local, Bits<BANK_BITS>>,
    all_idle: Signal<Local, Bit>,
    cmd_l: Signal<Local, Bits<3>>,
    cmd_bank_l: Signal<Local, Bits<BANK_BITS>>,
    cmd_row_l: Signal<Local, Bits<ROW_BITS>>,
    cmd_col_l: Signal<Local, Bits<COL_BITS>>,
    do_act: Signal<Local, Bit>,
    do_pre: Signal<Local, Bit>,
    do_rd: Signal<Local, Bit>,
    do_wr: Signal<Local, Bit>,
    do_ref: Signal<Local, Bit>,
    q_push: Signal<Local, Bit>,
    push_slot: Signal<Local, Bits<SLOT_BITS>>,
    n_bank: Signal<Local, Bits<BANK_BITS>>,
    n_row: Signal<Local, Bits<ROW_BITS>>,
    n_col: Signal<Local, Bits<COL_BITS>>,
    wd_room: Signal<Local, Bit>,
    wd_push: Signal<Local, Bit>,
    avail_l: Signal<Local, Bits<BEAT_ADDR_BITS>>,
    rt_room: Signal<Local, Bit>,
    rt_head: Signal<Local, Bits<TAG_BITS>>,

    // Constants from the configuration.
    slot_id: Vec<Constant<Bits<SLOT_BITS>>>,
    bank_id: Vec<Constant<Bits<BANK_BITS>>>,
    tag_slot: Vec<Constant<Bits<SLOT_BITS>>>,
    slot_mask: Constant<Bits<SLOT_BITS>>,
    queue_depth: Constant<Bits<SLOT_BITS>>,
    tag_queue_depth: Constant<Bits<SLOT_BITS>>,
    tag_slot_mask: Constant<Bits<SLOT_BITS>>,
    col_shift: Constant<Bits<32>>,
    bank_shift: Constant<Bits<32>>,
    row_shift: Constant<Bits<32>>,
    col_mask: Constant<Bits<32>>,
    bank_mask: Constant<Bits<32>>,
    row_mask: Constant<Bits<32>>,
    wd_ptr_mask: Constant<Bits<BEAT_ADDR_BITS>>,
    wd_depth: Constant<Bits<BEAT_ADDR_BITS>>,
    burst_beats: Constant<Bits<BEAT_ADDR_BITS>>,
    last_beat: Constant<Bits<8>>,
    burst_bytes: Constant<Bits<COUNTER_BITS>>,
    rd_sched: Constant<Bits<SCHEDULE_BITS>>,
    wr_sched: Constant<Bits<SCHEDULE_BITS>>,
    ccd_load: Constant<Bits<TIMER_BITS>>,
    wtr_load: Constant<Bits<TIMER_BITS>>,
    rtw_load: Constant<Bits<TIMER_BITS>>,
    rrd_load: Constant<Bits<TIMER_BITS>>,
    faw_load: Constant<Bits<TIMER_BITS>>,
    rfc_load: Constant<Bits<RFC_BITS>>,
    refi_last: Constant<Bits<REFI_BITS>>,
    _banks: usize,
    _depth: usize,
    _words: usize,
}

fn konst<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.into())
}

fn load(cycles: u32) -> u64 {
    cycles.saturating_sub(1) as u64
}

impl VaultController {
    pub fn new(config: &Config) -> VaultController {
        let d = &config.dram;
        let t: DramTiming = d.timing();
        let nb = d.banks;
        let depth = d.queue_depth;
        let words = d.bytes_per_cycle / 4;
        let bl = t.bl as usize;
        let beat_depth = (depth * bl).next_power_of_two();
        let log2 = |v: usize| v.trailing_zeros() as u64;
        let col_shift = log2(d.burst_bytes());
        let bank_shift = col_shift + log2(d.columns());
        let row_shift = bank_shift + log2(nb);
        let burst_mask = (1u64 << bl) - 1;
        VaultController {
            clock: Default::default(),
            req_valid: Default::default(),
            req_write: Default::default(),
            req_addr: Default::default(),
            req_tag: Default::default(),
            req_ready: Default::default(),
            wd_valid: Default::default(),
            wd_data: (0..words).map(|_| Default::default()).collect(),
            wd_mask: Default::default(),
            wd_ready: Default::default(),
            resp_valid: Default::default(),
            resp_last: Default::default(),
            resp_tag: Default::default(),
            resp_data: (0..words).map(|_| Default::default()).collect(),
            cmd: Default::default(),
            cmd_bank: Default::default(),
            cmd_row: Default::default(),
            cmd_col: Default::default(),
            dram_wvalid: Default::default(),
            dram_wdata: (0..words).map(|_| Default::default()).collect(),
            dram_wmask: Default::default(),
            dram_rdata: (0..words).map(|_| Default::default()).collect(),
            counter_clear: Default::default(),
            bytes_read: Default::default(),
            bytes_written: Default::default(),
            row_hits: Default::default(),
            row_misses: Default::default(),
            refresh_stalls: Default::default(),
            banks: (0..nb).map(|_| BankMachine::new(&t)).collect(),
            wbuf: (0..words).map(|_| BeatBuffer::new(beat_depth)).collect(),
            mbuf: BeatBuffer::new(beat_depth),
            q_head: Default::default(),
            q_count: Default::default(),
            q_write: (0..depth).map(|_| Default::default()).collect(),
            q_bank: (0..depth).map(|_| Default::default()).collect(),
            q_row: (0..depth).map(|_| Default::default()).collect(),
            q_col: (0..depth).map(|_| Default::default()).collect(),
            q_tag: (0..depth).map(|_| Default::default()).collect(),
            q_miss: (0..depth).map(|_| Default::default()).collect(),
            wd_wp: Default::default(),
            wd_rp: Default::default(),
            wd_avail: Default::default(),
            wsched: Default::default(),
            rsched: Default::default(),
            rbeat: Default::default(),
            rt_wp: Default::default(),
            rt_rp: Default::default(),
            rt_tag: (0..TAG_QUEUE_DEPTH).map(|_| Default::default()).collect(),
            resp_valid_r: Default::default(),
            resp_last_r: Default::default(),
            resp_tag_r: Default::default(),
            resp_data_r: (0..words).map(|_| Default::default()).collect(),
            col_wait: Default::default(),
            rd_wait: Default::default(),
            wr_wait: Default::default(),
            rrd_wait: Default::default(),
            faw_t: (0..FAW_ACTIVATES).map(|_| Default::default()).collect(),
            rfc_wait: Default::default(),
            refi_count: Default::default(),
            ref_pending: Default::default(),
            bytes_rd: Default::default(),
            bytes_wr: Default::default(),
            hits: Default::default(),
            misses: Default::default(),
            stalls: Default::default(),
            age: Default::default(),
            h_write: Default::default(),
            h_bank: Default::default(),
            h_row: Default::default(),
            h_col: Default::default(),
            h_tag: Default::default(),
            h_miss: Default::default(),
            hb_open: Default::default(),
            hb_row: Default::default(),
            hb_col_ready: Default::default(),
            faw_ok: Default::default(),
            faw_taken: Default::default(),
            act_ok: Default::default(),
            col_go: Default::default(),
            f_found: Default::default(),
            f_row: Default::default(),
            f_age: Default::default(),
            f_slot: Default::default(),
            want_pre: Default::default(),
            want_act: Default::default(),
            best_found: Default::default(),
            best_age: Default::default(),
            best_slot: Default::default(),
            best_bank: Default::default(),
            best_row: Default::default(),
            best_act: Default::default(),
            rp_found: Default::default(),
            rp_bank: Default::default(),
            all_idle: Default::default(),
            cmd_l: Default::default(),
            cmd_bank_l: Default::default(),
            cmd_row_l: Default::default(),
            cmd_col_l: Default::default(),
            do_act: Default::default(),
            do_pre: Default::default(),
            do_rd: Default::default(),
            do_wr: Default::default(),
            do_ref: Default::default(),
            q_push: Default::default(),
            push_slot: Default::default(),
            n_bank: Default::default(),
            n_row: Default::default(),
            n_col: Default::default(),
            wd_room: Default::default(),
            wd_push: Default::default(),
            avail_l: Default::default(),
            rt_room: Default::default(),
            rt_head: Default::default(),
            slot_id: (0..depth).map(|i| konst(i as u64)).collect(),
            bank_id: (0..nb).map(|i| konst(i as u64)).collect(),
            tag_slot: (0..TAG_QUEUE_DEPTH).map(|i| konst(i as u64)).collect(),
            slot_mask: konst(depth as u64 - 1),
            queue_depth: konst(depth as u64),
            tag_queue_depth: konst(TAG_QUEUE_DEPTH as u64),
            tag_slot_mask: konst(TAG_QUEUE_DEPTH as u64 - 1),
            col_shift: konst(col_shift),
            bank_shift: konst(bank_shift),
            row_shift: konst(row_shift),
            col_mask: konst(d.columns() as u64 - 1),
            bank_mask: konst(nb as u64 - 1),
            row_mask: konst(d.rows as u64 - 1),
            wd_ptr_mask: konst(2 * beat_depth as u64 - 1),
            wd_depth: konst(beat_depth as u64),
            burst_beats: konst(bl as u64),
            last_beat: konst(bl as u64 - 1),
            burst_bytes: konst(d.burst_bytes() as u64),
            rd_sched: konst(burst_mask << load(t.cl)),
            wr_sched: konst(burst_mask << load(t.cwl)),
            ccd_load: konst(load(t.ccd.max(t.bl))),
            wtr_load: konst(load(t.cwl + t.bl + t.wtr)),
            rtw_load: konst(load((t.cl + t.bl + t.rtrs).saturating_sub(t.cwl))),
            rrd_load: konst(load(t.rrd)),
            faw_load: konst(load(t.faw)),
            rfc_load: konst(load(t.rfc)),
            refi_last: konst(load(t.refi)),
            _banks: nb,
            _depth: depth,
            _words: words,
        }
    }
}

impl Logic for VaultController {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            q_head,
            q_count,
            wd_wp,
            wd_rp,
            wd_avail,
            wsched,
            rsched,
            rbeat,
            rt_wp,
            rt_rp,
            resp_valid_r,
            resp_last_r,
            resp_tag_r,
            col_wait,
            rd_wait,
            wr_wait,
            rrd_wait,
            rfc_wait,
            refi_count,
            ref_pending,
            bytes_rd,
            bytes_wr,
            hits,
            misses,
            stalls
        );
        for i in 0..self._depth {
            self.q_write[i].clock.next = self.clock.val();
            self.q_write[i].d.next = self.q_write[i].q.val();
            self.q_bank[i].clock.next = self.clock.val();
            self.q_bank[i].d.next = self.q_bank[i].q.val();
            self.q_row[i].clock.next = self.clock.val();
            self.q_row[i].d.next = self.q_row[i].q.val();
            self.q_col[i].clock.next = self.clock.val();
            self.q_col[i].d.next = self.q_col[i].q.val();
            self.q_tag[i].clock.next = self.clock.val();
            self.q_tag[i].d.next = self.q_tag[i].q.val();
            self.q_miss[i].clock.next = self.clock.val();
            self.q_miss[i].d.next = self.q_miss[i].q.val();
        }
        for i in 0..TAG_QUEUE_DEPTH {
            self.rt_tag[i].clock.next = self.clock.val();
            self.rt_tag[i].d.next = self.rt_tag[i].q.val();
        }
        for i in 0..FAW_ACTIVATES {
            self.faw_t[i].clock.next = self.clock.val();
            self.faw_t[i].d.next = self.faw_t[i].q.val();
        }
        for w in 0..self._words {
            self.resp_data_r[w].clock.next = self.clock.val();
            self.resp_data_r[w].d.next = self.resp_data_r[w].q.val();
        }

        // The head request and the state of its bank.
        self.h_write.next = false;
        self.h_bank.next = 0.into();
        self.h_row.next = 0.into();
        self.h_col.next = 0.into();
        self.h_tag.next = 0.into();
        self.h_miss.next = false;
        for i in 0..self._depth {
            if self.slot_id[i].val() == self.q_head.q.val() {
                self.h_write.next = self.q_write[i].q.val();
                self.h_bank.next = self.q_bank[i].q.val();
                self.h_row.next = self.q_row[i].q.val();
                self.h_col.next = self.q_col[i].q.val();
                self.h_tag.next = self.q_tag[i].q.val();
                self.h_miss.next = self.q_miss[i].q.val();
            }
        }
        self.hb_open.next = false;
        self.hb_row.next = 0.into();
        self.hb_col_ready.next = false;
        self.rp_found.next = false;
        self.rp_bank.next = 0.into();
        self.all_idle.next = true;
        for b in 0..self._banks {
            if self.bank_id[b].val() == self.h_bank.val() {
                self.hb_open.next = self.banks[b].is_open.val();
                self.hb_row.next = self.banks[b].open_row.val();
                self.hb_col_ready.next = self.banks[b].col_ready.val();
            }
            // For refresh: the first bank that may be precharged; whether all are idle.
            if !self.rp_found.val() & self.banks[b].pre_ready.val() {
                self.rp_found.next = true;
                self.rp_bank.next = self.bank_id[b].val();
            }
            if !self.banks[b].act_ready.val() {
                self.all_idle.next = false;
            }
        }

        // Bus-wide permissions.
        self.faw_ok.next = false;
        for i in 0..FAW_ACTIVATES {
            if self.faw_t[i].q.val() == 0 {
                self.faw_ok.next = true;
            }
        }
        self.act_ok.next = self.faw_ok.val()
            & (self.rrd_wait.q.val() == 0)
            & (self.rfc_wait.q.val() == 0)
            & !self.ref_pending.q.val();
        self.rt_room.next = (self.rt_wp.q.val() - self.rt_rp.q.val()) != self.tag_queue_depth.val();
        self.col_go.next = false;
        if !self.ref_pending.q.val()
            & (self.q_count.q.val() != 0)
            & self.hb_open.val()
            & (self.hb_row.val() == self.h_row.val())
            & self.hb_col_ready.val()
            & (self.col_wait.q.val() == 0)
        {
            if self.h_write.val() {
                self.col_go.next =
                    (self.wr_wait.q.val() == 0) & (self.wd_avail.q.val() >= self.burst_beats.val());
            } else {
                self.col_go.next = (self.rd_wait.q.val() == 0) & self.rt_room.val();
            }
        }

        // Row commands: prepare the bank of the oldest request that needs a row opened.
        self.best_found.next = false;
        self.best_age.next = 0.into();
        self.best_slot.next = 0.into();
        self.best_bank.next = 0.into();
        self.best_row.next = 0.into();
        self.best_act.next = false;
        for b in 0..self._banks {
            self.f_found.next = false;
            self.f_row.next = 0.into();
            self.f_age.next = 0.into();
            self.f_slot.next = 0.into();
            for i in 0..self._depth {
                self.age.next =
                    (self.slot_id[i].val() - self.q_head.q.val()) & self.slot_mask.val();
                if (self.age.val() < self.q_count.q.val())
                    & (self.q_bank[i].q.val() == self.bank_id[b].val())
                    & (!self.f_found.val() | (self.age.val() < self.f_age.val()))
                {
                    self.f_found.next = true;
                    self.f_row.next = self.q_row[i].q.val();
                    self.f_age.next = self.age.val();
                    self.f_slot.next = self.slot_id[i].val();
                }
            }
            self.want_pre.next = self.f_found.val()
                & !self.ref_pending.q.val()
                & self.banks[b].pre_ready.val()
                & (self.banks[b].open_row.val() != self.f_row.val());
            self.want_act.next =
                self.f_found.val() & self.banks[b].act_ready.val() & self.act_ok.val();
            if (self.want_pre.val() | self.want_act.val())
                & (!self.best_found.val() | (self.f_age.val() < self.best_age.val()))
            {
                self.best_found.next = true;
                self.best_age.next = self.f_age.val();
                self.best_slot.next = self.f_slot.val();
                self.best_bank.next = self.bank_id[b].val();
                self.best_row.next = self.f_row.val();
                self.best_act.next = self.want_act.val();
            }
        }

        // The command of this cycle: refresh first, then the head's column command, then the
        // oldest row command.
        self.cmd_l.next = 0.into();
        self.cmd_bank_l.next = 0.into();
        self.cmd_row_l.next = 0.into();
        self.cmd_col_l.next = 0.into();
        self.do_act.next = false;
        self.do_pre.next = false;
        self.do_rd.next = false;
        self.do_wr.next = false;
        self.do_ref.next = false;
        if self.ref_pending.q.val() {
            if self.rp_found.val() {
                self.cmd_l.next = 4.into();
                self.cmd_bank_l.next = self.rp_bank.val();
                self.do_pre.next = true;
            } else if self.all_idle.val() & (self.rfc_wait.q.val() == 0) {
                self.cmd_l.next = 5.into();
                self.do_ref.next = true;
            }
        } else if self.col_go.val() {
            self.cmd_bank_l.next = self.h_bank.val();
            self.cmd_row_l.next = self.h_row.val();
            self.cmd_col_l.next = self.h_col.val();
            if self.h_write.val() {
                self.cmd_l.next = 3.into();
                self.do_wr.next = true;
            } else {
                self.cmd_l.next = 2.into();
                self.do_rd.next = true;
            }
        } else if self.best_found.val() {
            self.cmd_bank_l.next = self.best_bank.val();
            self.cmd_row_l.next = self.best_row.val();
            if self.best_act.val() {
                self.cmd_l.next = 1.into();
                self.do_act.next = true;
            } else {
                self.cmd_l.next = 4.into();
                self.do_pre.next = true;
            }
        }
        self.cmd.next = self.cmd_l.val();
        self.cmd_bank.next = self.cmd_bank_l.val();
        self.cmd_row.next = self.cmd_row_l.val();
        self.cmd_col.next = self.cmd_col_l.val();
        for b in 0..self._banks {
            self.banks[b].clock.next = self.clock.val();
            self.banks[b].act.next =
                self.do_act.val() & (self.cmd_bank_l.val() == self.bank_id[b].val());
            self.banks[b].pre.next =
                self.do_pre.val() & (self.cmd_bank_l.val() == self.bank_id[b].val());
            self.banks[b].rd.next =
                self.do_rd.val() & (self.cmd_bank_l.val() == self.bank_id[b].val());
            self.banks[b].wr.next =
                self.do_wr.val() & (self.cmd_bank_l.val() == self.bank_id[b].val());
            self.banks[b].act_row.next = self.cmd_row_l.val();
        }

        // Queue: pop the head on its column command, push a new request at the tail.
        self.q_push.next = self.req_valid.val() & (self.q_count.q.val() != self.queue_depth.val());
        self.push_slot.next = (self.q_head.q.val() + self.q_count.q.val()) & self.slot_mask.val();
        self.n_bank.next = bit_cast::<BANK_BITS, 32>(
            (self.req_addr.val() >> self.bank_shift.val()) & self.bank_mask.val(),
        );
        self.n_row.next = bit_cast::<ROW_BITS, 32>(
            (self.req_addr.val() >> self.row_shift.val()) & self.row_mask.val(),
        );
        self.n_col.next = bit_cast::<COL_BITS, 32>(
            (self.req_addr.val() >> self.col_shift.val()) & self.col_mask.val(),
        );
        for i in 0..self._depth {
            if self.do_act.val() & (self.slot_id[i].val() == self.best_slot.val()) {
                self.q_miss[i].d.next = true;
            }
            if self.q_push.val() & (self.slot_id[i].val() == self.push_slot.val()) {
                self.q_write[i].d.next = self.req_write.val();
                self.q_bank[i].d.next = self.n_bank.val();
                self.q_row[i].d.next = self.n_row.val();
                self.q_col[i].d.next = self.n_col.val();
                self.q_tag[i].d.next = self.req_tag.val();
                self.q_miss[i].d.next = false;
            }
        }
        if self.do_rd.val() | self.do_wr.val() {
            self.q_head.d.next = (self.q_head.q.val() + 1) & self.slot_mask.val();
            if !self.q_push.val() {
                self.q_count.d.next = self.q_count.q.val() - 1;
            }
        } else if self.q_push.val() {
            self.q_count.d.next = self.q_count.q.val() + 1;
        }
        self.req_ready.next = self.q_count.q.val() != self.queue_depth.val();

        // Write data: into the beat buffer on arrival, onto the bus CWL cycles after the WR.
        self.wd_room.next = ((self.wd_wp.q.val() - self.wd_rp.q.val()) & self.wd_ptr_mask.val())
            != self.wd_depth.val();
        self.wd_push.next = self.wd_valid.val() & self.wd_room.val();
        self.wd_ready.next = self.wd_room.val();
        for w in 0..self._words {
            self.wbuf[w].clock.next = self.clock.val();
            self.wbuf[w].write_enable.next = self.wd_push.val();
            self.wbuf[w].write_address.next = self.wd_wp.q.val();
            self.wbuf[w].write_data.next = self.wd_data[w].val();
            self.wbuf[w].read_address.next = self.wd_rp.q.val();
            self.dram_wdata[w].next = self.wbuf[w].read_data.val();
        }
        self.mbuf.clock.next = self.clock.val();
        self.mbuf.write_enable.next = self.wd_push.val();
        self.mbuf.write_address.next = self.wd_wp.q.val();
        self.mbuf.write_data.next = bit_cast::<32, MASK_BITS>(self.wd_mask.val());
        self.mbuf.read_address.next = self.wd_rp.q.val();
        self.dram_wmask.next = bit_cast::<MASK_BITS, 32>(self.mbuf.read_data.val());
        self.dram_wvalid.next = self.wsched.q.val().get_bit(0);
        if self.wd_push.val() {
            self.wd_wp.d.next = (self.wd_wp.q.val() + 1) & self.wd_ptr_mask.val();
        }
        // The buffer's read port is registered: advance one cycle before each beat is due.
        if self.wsched.q.val().get_bit(1) {
            self.wd_rp.d.next = (self.wd_rp.q.val() + 1) & self.wd_ptr_mask.val();
        }
        self.avail_l.next = self.wd_avail.q.val();
        if self.wd_push.val() {
            self.avail_l.next = self.avail_l.val() + 1;
        }
        if self.do_wr.val() {
            self.avail_l.next = self.avail_l.val() - self.burst_beats.val();
        }
        self.wd_avail.d.next = self.avail_l.val();
        self.wsched.d.next = self.wsched.q.val() >> 1;
        if self.do_wr.val() {
            self.wsched.d.next = (self.wsched.q.val() >> 1) | self.wr_sched.val();
        }

        // Read data: captured exactly CL cycles after the RD, returned with the request's tag.
        self.rsched.d.next = self.rsched.q.val() >> 1;
        if self.do_rd.val() {
            self.rsched.d.next = (self.rsched.q.val() >> 1) | self.rd_sched.val();
        }
        self.rt_head.next = 0.into();
        for i in 0..TAG_QUEUE_DEPTH {
            if self.tag_slot[i].val() == (self.rt_rp.q.val() & self.tag_slot_mask.val()) {
                self.rt_head.next = self.rt_tag[i].q.val();
            }
            if self.do_rd.val()
                & (self.tag_slot[i].val() == (self.rt_wp.q.val() & self.tag_slot_mask.val()))
            {
                self.rt_tag[i].d.next = self.h_tag.val();
            }
        }
        if self.do_rd.val() {
            self.rt_wp.d.next = self.rt_wp.q.val() + 1;
        }
        self.resp_valid_r.d.next = self.rsched.q.val().get_bit(0);
        self.resp_last_r.d.next =
            self.rsched.q.val().get_bit(0) & (self.rbeat.q.val() == self.last_beat.val());
        self.resp_tag_r.d.next = self.rt_head.val();
        if self.rsched.q.val().get_bit(0) {
            for w in 0..self._words {
                self.resp_data_r[w].d.next = self.dram_rdata[w].val();
            }
            if self.rbeat.q.val() == self.last_beat.val() {
                self.rbeat.d.next = 0.into();
                self.rt_rp.d.next = self.rt_rp.q.val() + 1;
            } else {
                self.rbeat.d.next = self.rbeat.q.val() + 1;
            }
        }
        self.resp_valid.next = self.resp_valid_r.q.val();
        self.resp_last.next = self.resp_last_r.q.val();
        self.resp_tag.next = self.resp_tag_r.q.val();
        for w in 0..self._words {
            self.resp_data[w].next = self.resp_data_r[w].q.val();
        }

        // Timers.
        if self.col_wait.q.val() != 0 {
            self.col_wait.d.next = self.col_wait.q.val() - 1;
        }
        if self.rd_wait.q.val() != 0 {
            self.rd_wait.d.next = self.rd_wait.q.val() - 1;
        }
        if self.wr_wait.q.val() != 0 {
            self.wr_wait.d.next = self.wr_wait.q.val() - 1;
        }
        if self.rrd_wait.q.val() != 0 {
            self.rrd_wait.d.next = self.rrd_wait.q.val() - 1;
        }
        if self.rfc_wait.q.val() != 0 {
            self.rfc_wait.d.next = self.rfc_wait.q.val() - 1;
        }
        if self.do_rd.val() | self.do_wr.val() {
            self.col_wait.d.next = self.ccd_load.val();
        }
        if self.do_wr.val() {
            self.rd_wait.d.next = self.wtr_load.val();
        }
        if self.do_rd.val() & (self.wr_wait.q.val() <= self.rtw_load.val()) {
            self.wr_wait.d.next = self.rtw_load.val();
        }
        if self.do_act.val() {
            self.rrd_wait.d.next = self.rrd_load.val();
        }
        self.faw_taken.next = false;
        for i in 0..FAW_ACTIVATES {
            if self.faw_t[i].q.val() != 0 {
                self.faw_t[i].d.next = self.faw_t[i].q.val() - 1;
            } else if self.do_act.val() & !self.faw_taken.val() {
                self.faw_t[i].d.next = self.faw_load.val();
                self.faw_taken.next = true;
            }
        }

        // Refresh falls due every REFI cycles, counted from power-up so the average holds.
        if self.do_ref.val() {
            self.ref_pending.d.next = false;
            self.rfc_wait.d.next = self.rfc_load.val();
        }
        if self.refi_count.q.val() == self.refi_last.val() {
            self.refi_count.d.next = 0.into();
            self.ref_pending.d.next = true;
        } else {
            self.refi_count.d.next = self.refi_count.q.val() + 1;
        }

        // Statistics.
        if self.counter_clear.val() {
            self.bytes_rd.d.next = 0.into();
            self.bytes_wr.d.next = 0.into();
            self.hits.d.next = 0.into();
            self.misses.d.next = 0.into();
            self.stalls.d.next = 0.into();
        } else {
            if self.do_rd.val() {
                self.bytes_rd.d.next = self.bytes_rd.q.val() + self.burst_bytes.val();
            }
            if self.do_wr.val() {
                self.bytes_wr.d.next = self.bytes_wr.q.val() + self.burst_bytes.val();
            }
            if self.do_rd.val() | self.do_wr.val() {
                if self.h_miss.val() {
                    self.misses.d.next = self.misses.q.val() + 1;
                } else {
                    self.hits.d.next = self.hits.q.val() + 1;
                }
            }
            if (self.ref_pending.q.val() | (self.rfc_wait.q.val() != 0))
                & (self.q_count.q.val() != 0)
            {
                self.stalls.d.next = self.stalls.q.val() + 1;
            }
        }
        self.bytes_read.next = self.bytes_rd.q.val();
        self.bytes_written.next = self.bytes_wr.q.val();
        self.row_hits.next = self.hits.q.val();
        self.row_misses.next = self.misses.q.val();
        self.refresh_stalls.next = self.stalls.q.val();
    }
}
