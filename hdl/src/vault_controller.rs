//! The vault controller: a request queue in front of one vault's DRAM, per-bank state machines,
//! an open-page policy, refresh, and every DRAM timing constraint enforced by counters.
//!
//! Requests are whole bursts (`bytes_per_cycle x BL` bytes, 32 at the defaults) at byte addresses
//! mapped, from the top bit down, as row | bank | column | offset, so a sequential stream walks a
//! row, then the same row of the next bank. With `bank_xor` the bank is the bank field XOR the
//! row's low bits, so that strides of whole rows of banks spread over the banks too. A write
//! request's data are `BL` beats handed over on the `wd_*` port, in the order of the write
//! requests, before or after the request itself.
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
//! Pipeline (docs/vault.md has the argument in full). The scheduling decision is split so that
//! no path crosses more than a few levels of logic or drives a wide net:
//! - every request carries its decoded state in registers: its bank, row and column, whether its
//!   bank is open at its row (`q_hit`, set on arrival and updated by every ACT and PRE to the
//!   bank) and which live requests ahead of it go to the same bank (`q_older`, so "the bank's
//!   oldest request" is one AND-OR per slot, with no priority chain);
//! - a look-ahead stage picks next cycle's row command (the oldest request whose bank wants a
//!   PRE or an ACT, judged by the banks' `*_soon` flags) from registers and registers it;
//! - the issue stage sends the head's column command if it may go, else the registered row
//!   command if its bank's `*_ready` flags and the bus still allow it, else refresh.
//!
//! The queue is circular (a pop moves two pointers and clears a live bit; nothing shifts), so the
//! issue decision drives few nets; the statistics counters count the decision a cycle later.
//!
//! The DRAM command (`cmd*`) and the write-data beat (`dram_w*`) of a cycle are functions of the
//! registers only; the DRAM's read beat of a cycle (`dram_rdata`) is captured at the cycle's end:
//! the controller expects it exactly CL cycles after its RD (DRAM has no data-valid signal).
//! `cmd_row` always carries the row command's row and `cmd_col` the head's column, whatever the
//! command: the DRAM reads each only with the command that uses it, and the fields need no
//! multiplexer behind the decision.

use crate::bank_machine::{BankMachine, ROW_BITS, TIMER_BITS};
use crate::config::Config;
use crate::dram_config::{DramTiming, MAX_BANKS, MAX_QUEUE_DEPTH};
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
    /// Nothing queued, scheduled or buffered: every write accepted so far is in the DRAM and
    /// every read has returned. A host must see this before it reads the DRAM another way.
    pub idle: Signal<Out, Bit>,

    banks: Vec<BankMachine>,
    wbuf: Vec<BeatBuffer>,
    mbuf: BeatBuffer,

    // Request queue: circular, the head the oldest live slot. Slot data are written once, on
    // arrival; a pop only advances the head and clears the slot's live bit.
    q_head: DFF<Bits<SLOT_BITS>>,
    q_tail: DFF<Bits<SLOT_BITS>>,
    /// Bit i: slot i holds a request.
    q_live: DFF<Bits<MAX_QUEUE_DEPTH>>,
    q_write: Vec<DFF<Bit>>,
    q_bank: Vec<DFF<Bits<BANK_BITS>>>,
    q_row: Vec<DFF<Bits<ROW_BITS>>>,
    q_col: Vec<DFF<Bits<COL_BITS>>>,
    q_tag: Vec<DFF<Bits<TAG_BITS>>>,
    /// An ACT was issued on behalf of this request: it counts as a row miss.
    q_miss: Vec<DFF<Bit>>,
    /// The request's bank is open at the request's row. Set on arrival and updated by every ACT
    /// and PRE to its bank, so no cycle compares a request's row with its bank's open row.
    q_hit: Vec<DFF<Bit>>,
    /// Bit j: slot j held a request to the same bank when this one arrived. Masked with the live
    /// bits (a slot that leaves is cleared before it can be reused), it says whether this is
    /// its bank's oldest request, the one the bank's row commands serve.
    q_older: Vec<DFF<Bits<MAX_QUEUE_DEPTH>>>,
    // The row command the look-ahead stage chose last cycle; issued this cycle if still allowed.
    cand_valid: DFF<Bit>,
    cand_act: DFF<Bit>,
    cand_bank: DFF<Bits<BANK_BITS>>,
    cand_row: DFF<Bits<ROW_BITS>>,
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
    // Statistics: last cycle's column command, counted this cycle (keeps the 32-bit counters'
    // enables off the decision's nets).
    st_rd: DFF<Bit>,
    st_wr: DFF<Bit>,
    st_miss: DFF<Bit>,
    bytes_rd: DFF<Bits<COUNTER_BITS>>,
    bytes_wr: DFF<Bits<COUNTER_BITS>>,
    hits: DFF<Bits<COUNTER_BITS>>,
    misses: DFF<Bits<COUNTER_BITS>>,
    stalls: DFF<Bits<COUNTER_BITS>>,

    // Combinational temporaries.
    // The banks' flags as vectors indexed by bank number (a multiplexer tree, not a chain).
    open_v: Signal<Local, Bits<MAX_BANKS>>,
    act_ready_v: Signal<Local, Bits<MAX_BANKS>>,
    pre_ready_v: Signal<Local, Bits<MAX_BANKS>>,
    col_ready_v: Signal<Local, Bits<MAX_BANKS>>,
    act_soon_v: Signal<Local, Bits<MAX_BANKS>>,
    pre_soon_v: Signal<Local, Bits<MAX_BANKS>>,
    /// The candidate's bank, one-hot.
    cand_oh_v: Signal<Local, Bits<MAX_BANKS>>,
    // Per slot (as vectors indexed by slot number).
    head_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    after_head_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    oldest_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    col_ok_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    cand_bank_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    cand_row_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    same_new_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    tail_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    // The head request, selected by AND-OR.
    h_write: Signal<Local, Bit>,
    h_miss: Signal<Local, Bit>,
    h_bank: Signal<Local, Bits<BANK_BITS>>,
    h_col: Signal<Local, Bits<COL_BITS>>,
    h_tag: Signal<Local, Bits<TAG_BITS>>,
    write_term: Signal<Local, Bit>,
    miss_term: Signal<Local, Bit>,
    col_term: Signal<Local, Bits<COL_BITS>>,
    tag_term: Signal<Local, Bits<TAG_BITS>>,
    // Issue stage.
    faw_ok: Signal<Local, Bit>,
    faw_soon: Signal<Local, Bit>,
    faw_taken: Signal<Local, Bit>,
    act_ok: Signal<Local, Bit>,
    rt_room: Signal<Local, Bit>,
    rd_ok: Signal<Local, Bit>,
    wr_ok: Signal<Local, Bit>,
    col_go: Signal<Local, Bit>,
    row_go: Signal<Local, Bit>,
    all_idle: Signal<Local, Bit>,
    cmd_l: Signal<Local, Bits<3>>,
    cmd_bank_l: Signal<Local, Bits<BANK_BITS>>,
    do_act: Signal<Local, Bit>,
    do_pre: Signal<Local, Bit>,
    do_rd: Signal<Local, Bit>,
    do_wr: Signal<Local, Bit>,
    do_ref: Signal<Local, Bit>,
    // Look-ahead stage.
    act_ok_soon: Signal<Local, Bit>,
    act_s_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    want_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    want_hi_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    pick_v: Signal<Local, Bits<MAX_QUEUE_DEPTH>>,
    pick_row: Signal<Local, Bits<ROW_BITS>>,
    pick_bank: Signal<Local, Bits<BANK_BITS>>,
    row_term: Signal<Local, Bits<ROW_BITS>>,
    bank_term: Signal<Local, Bits<BANK_BITS>>,
    rp_v: Signal<Local, Bits<MAX_BANKS>>,
    rp_pick: Signal<Local, Bits<MAX_BANKS>>,
    rp_bank: Signal<Local, Bits<BANK_BITS>>,
    // Queue.
    q_full: Signal<Local, Bit>,
    q_push: Signal<Local, Bit>,
    /// Per queue slot: the pushed request goes into it (a named load condition, so that a clock
    /// gate's enable is a signal the activity simulation sees: docs/flow.md).
    q_fill: Vec<Signal<Local, Bit>>,
    n_bank: Signal<Local, Bits<BANK_BITS>>,
    n_row: Signal<Local, Bits<ROW_BITS>>,
    n_col: Signal<Local, Bits<COL_BITS>>,
    n_open_row: Signal<Local, Bits<ROW_BITS>>,
    n_hit: Signal<Local, Bit>,
    n_act: Signal<Local, Bit>,
    n_want: Signal<Local, Bit>,
    ref_next: Signal<Local, Bit>,
    wd_room: Signal<Local, Bit>,
    wd_push: Signal<Local, Bit>,
    avail_l: Signal<Local, Bits<BEAT_ADDR_BITS>>,
    rt_head: Signal<Local, Bits<TAG_BITS>>,

    // Constants from the configuration.
    slot_id: Vec<Constant<Bits<SLOT_BITS>>>,
    slot_mask: Constant<Bits<SLOT_BITS>>,
    all_slots: Constant<Bits<MAX_QUEUE_DEPTH>>,
    bank_id: Vec<Constant<Bits<BANK_BITS>>>,
    all_banks: Constant<Bits<MAX_BANKS>>,
    tag_slot: Vec<Constant<Bits<SLOT_BITS>>>,
    tag_queue_depth: Constant<Bits<SLOT_BITS>>,
    tag_slot_mask: Constant<Bits<SLOT_BITS>>,
    col_shift: Constant<Bits<32>>,
    bank_shift: Constant<Bits<32>>,
    row_shift: Constant<Bits<32>>,
    col_mask: Constant<Bits<32>>,
    bank_mask: Constant<Bits<32>>,
    bank_xor_mask: Constant<Bits<32>>,
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
    code_act: Constant<Bits<3>>,
    code_rd: Constant<Bits<3>>,
    code_wr: Constant<Bits<3>>,
    code_pre: Constant<Bits<3>>,
    code_ref: Constant<Bits<3>>,
    _banks: usize,
    _depth: usize,
    _words: usize,
}

fn konst<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.into())
}

/// `n` default-constructed signals or flip-flops.
fn sigs<T: Default>(n: usize) -> Vec<T> {
    (0..n).map(|_| T::default()).collect()
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
        let (bank_shift, row_shift) = (d.bank_shift() as u64, d.row_shift() as u64);
        let burst_mask = (1u64 << bl) - 1;
        VaultController {
            clock: Default::default(),
            req_valid: Default::default(),
            req_write: Default::default(),
            req_addr: Default::default(),
            req_tag: Default::default(),
            req_ready: Default::default(),
            wd_valid: Default::default(),
            wd_data: sigs(words),
            wd_mask: Default::default(),
            wd_ready: Default::default(),
            resp_valid: Default::default(),
            resp_last: Default::default(),
            resp_tag: Default::default(),
            resp_data: sigs(words),
            cmd: Default::default(),
            cmd_bank: Default::default(),
            cmd_row: Default::default(),
            cmd_col: Default::default(),
            dram_wvalid: Default::default(),
            dram_wdata: sigs(words),
            dram_wmask: Default::default(),
            dram_rdata: sigs(words),
            counter_clear: Default::default(),
            bytes_read: Default::default(),
            bytes_written: Default::default(),
            row_hits: Default::default(),
            row_misses: Default::default(),
            refresh_stalls: Default::default(),
            idle: Default::default(),
            banks: (0..nb).map(|_| BankMachine::new(&t)).collect(),
            wbuf: (0..words).map(|_| BeatBuffer::new(beat_depth)).collect(),
            mbuf: BeatBuffer::new(beat_depth),
            q_head: Default::default(),
            q_tail: Default::default(),
            q_live: Default::default(),
            q_write: sigs(depth),
            q_bank: sigs(depth),
            q_row: sigs(depth),
            q_col: sigs(depth),
            q_tag: sigs(depth),
            q_miss: sigs(depth),
            q_hit: sigs(depth),
            q_older: sigs(depth),
            cand_valid: Default::default(),
            cand_act: Default::default(),
            cand_bank: Default::default(),
            cand_row: Default::default(),
            wd_wp: Default::default(),
            wd_rp: Default::default(),
            wd_avail: Default::default(),
            wsched: Default::default(),
            rsched: Default::default(),
            rbeat: Default::default(),
            rt_wp: Default::default(),
            rt_rp: Default::default(),
            rt_tag: sigs(TAG_QUEUE_DEPTH),
            resp_valid_r: Default::default(),
            resp_last_r: Default::default(),
            resp_tag_r: Default::default(),
            resp_data_r: sigs(words),
            col_wait: Default::default(),
            rd_wait: Default::default(),
            wr_wait: Default::default(),
            rrd_wait: Default::default(),
            faw_t: sigs(FAW_ACTIVATES),
            rfc_wait: Default::default(),
            refi_count: Default::default(),
            ref_pending: Default::default(),
            st_rd: Default::default(),
            st_wr: Default::default(),
            st_miss: Default::default(),
            bytes_rd: Default::default(),
            bytes_wr: Default::default(),
            hits: Default::default(),
            misses: Default::default(),
            stalls: Default::default(),
            open_v: Default::default(),
            act_ready_v: Default::default(),
            pre_ready_v: Default::default(),
            col_ready_v: Default::default(),
            act_soon_v: Default::default(),
            pre_soon_v: Default::default(),
            cand_oh_v: Default::default(),
            head_v: Default::default(),
            after_head_v: Default::default(),
            oldest_v: Default::default(),
            col_ok_v: Default::default(),
            cand_bank_v: Default::default(),
            cand_row_v: Default::default(),
            same_new_v: Default::default(),
            tail_v: Default::default(),
            h_write: Default::default(),
            h_miss: Default::default(),
            h_bank: Default::default(),
            h_col: Default::default(),
            h_tag: Default::default(),
            write_term: Default::default(),
            miss_term: Default::default(),
            col_term: Default::default(),
            tag_term: Default::default(),
            faw_ok: Default::default(),
            faw_soon: Default::default(),
            faw_taken: Default::default(),
            act_ok: Default::default(),
            rt_room: Default::default(),
            rd_ok: Default::default(),
            wr_ok: Default::default(),
            col_go: Default::default(),
            row_go: Default::default(),
            all_idle: Default::default(),
            cmd_l: Default::default(),
            cmd_bank_l: Default::default(),
            do_act: Default::default(),
            do_pre: Default::default(),
            do_rd: Default::default(),
            do_wr: Default::default(),
            do_ref: Default::default(),
            act_ok_soon: Default::default(),
            act_s_v: Default::default(),
            want_v: Default::default(),
            want_hi_v: Default::default(),
            pick_v: Default::default(),
            pick_row: Default::default(),
            pick_bank: Default::default(),
            row_term: Default::default(),
            bank_term: Default::default(),
            rp_v: Default::default(),
            rp_pick: Default::default(),
            rp_bank: Default::default(),
            q_full: Default::default(),
            q_push: Default::default(),
            q_fill: (0..depth).map(|_| Default::default()).collect(),
            n_bank: Default::default(),
            n_row: Default::default(),
            n_col: Default::default(),
            n_open_row: Default::default(),
            n_hit: Default::default(),
            n_act: Default::default(),
            n_want: Default::default(),
            ref_next: Default::default(),
            wd_room: Default::default(),
            wd_push: Default::default(),
            avail_l: Default::default(),
            rt_head: Default::default(),
            slot_id: (0..depth).map(|i| konst(i as u64)).collect(),
            slot_mask: konst(depth as u64 - 1),
            all_slots: konst((1u64 << depth) - 1),
            bank_id: (0..nb).map(|i| konst(i as u64)).collect(),
            all_banks: konst((1u64 << nb) - 1),
            tag_slot: (0..TAG_QUEUE_DEPTH).map(|i| konst(i as u64)).collect(),
            tag_queue_depth: konst(TAG_QUEUE_DEPTH as u64),
            tag_slot_mask: konst(TAG_QUEUE_DEPTH as u64 - 1),
            col_shift: konst(col_shift),
            bank_shift: konst(bank_shift),
            row_shift: konst(row_shift),
            col_mask: konst(d.columns() as u64 - 1),
            bank_mask: konst(nb as u64 - 1),
            bank_xor_mask: konst(d.bank_xor_mask()),
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
            code_act: konst(cmd_code::ACT),
            code_rd: konst(cmd_code::RD),
            code_wr: konst(cmd_code::WR),
            code_pre: konst(cmd_code::PRE),
            code_ref: konst(cmd_code::REF),
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
            q_tail,
            q_live,
            cand_valid,
            cand_act,
            cand_bank,
            cand_row,
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
            st_rd,
            st_wr,
            st_miss,
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
            self.q_hit[i].clock.next = self.clock.val();
            self.q_hit[i].d.next = self.q_hit[i].q.val();
            self.q_older[i].clock.next = self.clock.val();
            self.q_older[i].d.next = self.q_older[i].q.val();
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

        // The banks' flags, gathered into vectors that a bank number indexes.
        self.open_v.next = 0.into();
        self.act_ready_v.next = 0.into();
        self.pre_ready_v.next = 0.into();
        self.col_ready_v.next = 0.into();
        self.act_soon_v.next = 0.into();
        self.pre_soon_v.next = 0.into();
        self.cand_oh_v.next = 0.into();
        for b in 0..self._banks {
            self.open_v.next = self
                .open_v
                .val()
                .replace_bit(b, self.banks[b].is_open.val());
            self.act_ready_v.next = self
                .act_ready_v
                .val()
                .replace_bit(b, self.banks[b].act_ready.val());
            self.pre_ready_v.next = self
                .pre_ready_v
                .val()
                .replace_bit(b, self.banks[b].pre_ready.val());
            self.col_ready_v.next = self
                .col_ready_v
                .val()
                .replace_bit(b, self.banks[b].col_ready.val());
            self.act_soon_v.next = self
                .act_soon_v
                .val()
                .replace_bit(b, self.banks[b].act_soon.val());
            self.pre_soon_v.next = self
                .pre_soon_v
                .val()
                .replace_bit(b, self.banks[b].pre_soon.val());
            self.cand_oh_v.next = self
                .cand_oh_v
                .val()
                .replace_bit(b, self.cand_bank.q.val() == self.bank_id[b].val());
        }

        // Bus permissions, from the timers alone.
        self.faw_ok.next = false;
        self.faw_soon.next = false;
        for i in 0..FAW_ACTIVATES {
            if self.faw_t[i].q.val() == 0 {
                self.faw_ok.next = true;
            }
            if (self.faw_t[i].q.val() >> 1) == 0 {
                self.faw_soon.next = true;
            }
        }
        self.act_ok.next = self.faw_ok.val()
            & (self.rrd_wait.q.val() == 0)
            & (self.rfc_wait.q.val() == 0)
            & !self.ref_pending.q.val();
        self.rt_room.next = (self.rt_wp.q.val() - self.rt_rp.q.val()) != self.tag_queue_depth.val();
        self.rd_ok.next = (self.rd_wait.q.val() == 0) & self.rt_room.val();
        self.wr_ok.next =
            (self.wr_wait.q.val() == 0) & (self.wd_avail.q.val() >= self.burst_beats.val());

        // Per slot, from registers only: the head, the slots from the head up (the older half of
        // the circle), its bank's oldest live request, whether its column command may go, and
        // whether it shares the candidate's bank and row.
        self.head_v.next = 0.into();
        self.after_head_v.next = 0.into();
        self.tail_v.next = 0.into();
        self.oldest_v.next = 0.into();
        self.col_ok_v.next = 0.into();
        self.cand_bank_v.next = 0.into();
        self.cand_row_v.next = 0.into();
        for i in 0..self._depth {
            self.head_v.next = self
                .head_v
                .val()
                .replace_bit(i, self.slot_id[i].val() == self.q_head.q.val());
            self.after_head_v.next = self
                .after_head_v
                .val()
                .replace_bit(i, self.slot_id[i].val() >= self.q_head.q.val());
            self.tail_v.next = self
                .tail_v
                .val()
                .replace_bit(i, self.slot_id[i].val() == self.q_tail.q.val());
            self.oldest_v.next = self.oldest_v.val().replace_bit(
                i,
                self.q_live.q.val().get_bit(i)
                    & ((self.q_older[i].q.val() & self.q_live.q.val()) == 0),
            );
            self.col_ok_v.next = self.col_ok_v.val().replace_bit(
                i,
                self.q_hit[i].q.val()
                    & self
                        .col_ready_v
                        .val()
                        .get_bit(self.q_bank[i].q.val().index())
                    & ((self.q_write[i].q.val() & self.wr_ok.val())
                        | (!self.q_write[i].q.val() & self.rd_ok.val())),
            );
            self.cand_bank_v.next = self
                .cand_bank_v
                .val()
                .replace_bit(i, self.q_bank[i].q.val() == self.cand_bank.q.val());
            self.cand_row_v.next = self
                .cand_row_v
                .val()
                .replace_bit(i, self.q_row[i].q.val() == self.cand_row.q.val());
        }
        // The head request's fields, as AND-OR trees over the slots.
        self.h_write.next = false;
        self.h_miss.next = false;
        self.h_bank.next = 0.into();
        self.h_col.next = 0.into();
        self.h_tag.next = 0.into();
        for i in 0..self._depth {
            self.write_term.next = false;
            self.miss_term.next = false;
            self.bank_term.next = 0.into();
            self.col_term.next = 0.into();
            self.tag_term.next = 0.into();
            if self.head_v.val().get_bit(i) {
                self.write_term.next = self.q_write[i].q.val();
                self.miss_term.next = self.q_miss[i].q.val();
                self.bank_term.next = self.q_bank[i].q.val();
                self.col_term.next = self.q_col[i].q.val();
                self.tag_term.next = self.q_tag[i].q.val();
            }
            self.h_write.next = self.h_write.val() | self.write_term.val();
            self.h_miss.next = self.h_miss.val() | self.miss_term.val();
            self.h_bank.next = self.h_bank.val() | self.bank_term.val();
            self.h_col.next = self.h_col.val() | self.col_term.val();
            self.h_tag.next = self.h_tag.val() | self.tag_term.val();
        }

        // Issue stage: the head's column command, else last cycle's row candidate if its bank
        // and the bus still allow it, else refresh.
        self.col_go.next = !self.ref_pending.q.val()
            & (self.col_wait.q.val() == 0)
            & (self.head_v.val() & self.q_live.q.val() & self.col_ok_v.val()).any();
        self.row_go.next = false;
        if self.cand_valid.q.val() & !self.col_go.val() {
            if self.cand_act.q.val() {
                self.row_go.next = self
                    .act_ready_v
                    .val()
                    .get_bit(self.cand_bank.q.val().index())
                    & self.act_ok.val();
            } else {
                self.row_go.next = self
                    .pre_ready_v
                    .val()
                    .get_bit(self.cand_bank.q.val().index());
            }
        }
        // Refresh needs every bank precharged; then no PRE candidate can be ready and no ACT is
        // allowed, so REF never meets another command.
        self.all_idle.next = self.act_ready_v.val() == self.all_banks.val();
        self.do_rd.next = self.col_go.val() & !self.h_write.val();
        self.do_wr.next = self.col_go.val() & self.h_write.val();
        self.do_act.next = self.row_go.val() & self.cand_act.q.val();
        self.do_pre.next = self.row_go.val() & !self.cand_act.q.val();
        self.do_ref.next =
            self.ref_pending.q.val() & self.all_idle.val() & (self.rfc_wait.q.val() == 0);

        self.cmd_l.next = 0.into();
        if self.do_rd.val() {
            self.cmd_l.next = self.code_rd.val();
        }
        if self.do_wr.val() {
            self.cmd_l.next = self.code_wr.val();
        }
        if self.do_act.val() {
            self.cmd_l.next = self.code_act.val();
        }
        if self.do_pre.val() {
            self.cmd_l.next = self.code_pre.val();
        }
        if self.do_ref.val() {
            self.cmd_l.next = self.code_ref.val();
        }
        self.cmd_bank_l.next = self.cand_bank.q.val();
        if self.col_go.val() {
            self.cmd_bank_l.next = self.h_bank.val();
        }
        self.cmd.next = self.cmd_l.val();
        self.cmd_bank.next = self.cmd_bank_l.val();
        self.cmd_row.next = self.cand_row.q.val();
        self.cmd_col.next = self.h_col.val();
        for b in 0..self._banks {
            self.banks[b].clock.next = self.clock.val();
            self.banks[b].act.next =
                self.do_act.val() & (self.cand_bank.q.val() == self.bank_id[b].val());
            self.banks[b].pre.next =
                self.do_pre.val() & (self.cand_bank.q.val() == self.bank_id[b].val());
            self.banks[b].rd.next = self.do_rd.val() & (self.h_bank.val() == self.bank_id[b].val());
            self.banks[b].wr.next = self.do_wr.val() & (self.h_bank.val() == self.bank_id[b].val());
            self.banks[b].act_row.next = self.cand_row.q.val();
        }

        // Look-ahead stage: the row command for next cycle. A bank whose oldest request wants
        // another row is precharged, or activated when closed; of those that may be next cycle
        // (the `*_soon` flags), the oldest request's bank goes first. The one late input is this
        // cycle's row command, whose bank is left out: its flags do not show the command yet.
        // Any other command issued this cycle may make the choice stale: the issue stage
        // rechecks the bank's `*_ready` flags, and nothing else of the choice can change
        // (docs/vault.md).
        self.act_ok_soon.next = self.faw_soon.val()
            & ((self.rrd_wait.q.val() >> 1) == 0)
            & ((self.rfc_wait.q.val() >> 1) == 0);
        // This cycle's ACT restarts RRD: no ACT next cycle unless RRD is a single cycle.
        if self.do_act.val() & (self.rrd_load.val() != 0) {
            self.act_ok_soon.next = false;
        }
        self.act_s_v.next = 0.into();
        self.want_v.next = 0.into();
        for i in 0..self._depth {
            self.act_s_v.next = self.act_s_v.val().replace_bit(
                i,
                self.act_soon_v
                    .val()
                    .get_bit(self.q_bank[i].q.val().index())
                    & self.act_ok_soon.val(),
            );
            self.want_v.next = self.want_v.val().replace_bit(
                i,
                self.oldest_v.val().get_bit(i)
                    & !self.q_hit[i].q.val()
                    & !(self.row_go.val() & self.cand_bank_v.val().get_bit(i))
                    & (self
                        .pre_soon_v
                        .val()
                        .get_bit(self.q_bank[i].q.val().index())
                        | self.act_s_v.val().get_bit(i)),
            );
        }
        // The oldest: the lowest slot from the head up, else the lowest below the head.
        // x & (!x + 1) isolates the lowest set bit.
        self.want_hi_v.next = self.want_v.val() & self.after_head_v.val();
        if self.want_hi_v.val().any() {
            self.pick_v.next = self.want_hi_v.val() & (!self.want_hi_v.val() + 1);
        } else {
            self.pick_v.next = self.want_v.val() & (!self.want_v.val() + 1);
        }
        // One-hot selection as an AND-OR tree (a chain of `if`s would be a chain of multiplexers).
        self.pick_row.next = 0.into();
        self.pick_bank.next = 0.into();
        for i in 0..self._depth {
            self.row_term.next = 0.into();
            self.bank_term.next = 0.into();
            if self.pick_v.val().get_bit(i) {
                self.row_term.next = self.q_row[i].q.val();
                self.bank_term.next = self.q_bank[i].q.val();
            }
            self.pick_row.next = self.pick_row.val() | self.row_term.val();
            self.pick_bank.next = self.pick_bank.val() | self.bank_term.val();
        }
        // While a refresh is due next cycle: precharge the lowest-numbered bank that may be.
        self.rp_v.next = self.pre_soon_v.val();
        if self.do_pre.val() {
            self.rp_v.next = self.pre_soon_v.val() & !self.cand_oh_v.val();
        }
        self.rp_pick.next = self.rp_v.val() & (!self.rp_v.val() + 1);
        self.rp_bank.next = 0.into();
        for b in 0..self._banks {
            self.bank_term.next = 0.into();
            if self.rp_pick.val().get_bit(b) {
                self.bank_term.next = self.bank_id[b].val();
            }
            self.rp_bank.next = self.rp_bank.val() | self.bank_term.val();
        }
        // Queue: the head leaves on its column command, a new request arrives at the tail.
        self.q_full.next = self.q_live.q.val() == self.all_slots.val();
        self.q_push.next = self.req_valid.val() & !self.q_full.val();
        self.req_ready.next = !self.q_full.val();
        self.n_bank.next = bit_cast::<BANK_BITS, 32>(
            ((self.req_addr.val() >> self.bank_shift.val())
                ^ ((self.req_addr.val() >> self.row_shift.val()) & self.bank_xor_mask.val()))
                & self.bank_mask.val(),
        );
        self.n_row.next = bit_cast::<ROW_BITS, 32>(
            (self.req_addr.val() >> self.row_shift.val()) & self.row_mask.val(),
        );
        self.n_col.next = bit_cast::<COL_BITS, 32>(
            (self.req_addr.val() >> self.col_shift.val()) & self.col_mask.val(),
        );
        // The new request's bank: its open row, after this cycle's row command; its requests.
        self.n_open_row.next = 0.into();
        for b in 0..self._banks {
            self.row_term.next = 0.into();
            if self.n_bank.val() == self.bank_id[b].val() {
                self.row_term.next = self.banks[b].open_row.val();
            }
            self.n_open_row.next = self.n_open_row.val() | self.row_term.val();
        }
        self.n_hit.next = self.open_v.val().get_bit(self.n_bank.val().index())
            & (self.n_open_row.val() == self.n_row.val());
        if self.do_act.val() & (self.n_bank.val() == self.cand_bank.q.val()) {
            self.n_hit.next = self.n_row.val() == self.cand_row.q.val();
        }
        if self.do_pre.val() & (self.n_bank.val() == self.cand_bank.q.val()) {
            self.n_hit.next = false;
        }
        self.same_new_v.next = 0.into();
        for i in 0..self._depth {
            self.same_new_v.next = self
                .same_new_v
                .val()
                .replace_bit(i, self.q_bank[i].q.val() == self.n_bank.val());
        }
        // The arriving request is the youngest: it is the candidate only when no queued request
        // wants a row command, and only as its bank's sole request (otherwise it waits a cycle
        // in the queue like any other). Without this a new request's row command would wait a
        // cycle for the look-ahead to see it.
        self.n_act.next =
            self.act_soon_v.val().get_bit(self.n_bank.val().index()) & self.act_ok_soon.val();
        self.n_want.next = self.q_push.val()
            & ((self.same_new_v.val() & self.q_live.q.val()) == 0)
            & !self.n_hit.val()
            & !(self.row_go.val() & (self.n_bank.val() == self.cand_bank.q.val()))
            & (self.pre_soon_v.val().get_bit(self.n_bank.val().index()) | self.n_act.val());
        // Refresh is due next cycle: it is now and REF is not issued, or the interval ends now.
        self.ref_next.next = (self.ref_pending.q.val() & !self.do_ref.val())
            | (self.refi_count.q.val() == self.refi_last.val());
        if self.ref_next.val() {
            self.cand_valid.d.next = self.rp_v.val().any();
            self.cand_act.d.next = false;
            self.cand_bank.d.next = self.rp_bank.val();
            self.cand_row.d.next = 0.into();
        } else if self.want_v.val().any() {
            self.cand_valid.d.next = true;
            self.cand_act.d.next = (self.pick_v.val() & self.act_s_v.val()).any();
            self.cand_bank.d.next = self.pick_bank.val();
            self.cand_row.d.next = self.pick_row.val();
        } else {
            self.cand_valid.d.next = self.n_want.val();
            self.cand_act.d.next = self.n_act.val();
            self.cand_bank.d.next = self.n_bank.val();
            self.cand_row.d.next = self.n_row.val();
        }
        // Row commands update the hit flags of their bank's requests; the ACT marks the bank's
        // oldest request, the one it was issued for, a row miss.
        for i in 0..self._depth {
            if self.do_act.val() & self.cand_bank_v.val().get_bit(i) {
                self.q_hit[i].d.next = self.cand_row_v.val().get_bit(i);
                if self.oldest_v.val().get_bit(i) {
                    self.q_miss[i].d.next = true;
                }
            }
            if self.do_pre.val() & self.cand_bank_v.val().get_bit(i) {
                self.q_hit[i].d.next = false;
            }
            self.q_fill[i].next = self.q_push.val() & self.tail_v.val().get_bit(i);
            // Every read of a row is masked by q_live, so a dead slot's bit may linger until the
            // slot is filled again: then the new request is nobody's older one. Cleared only on
            // a push, the matrix loads as often as requests arrive, not every cycle.
            if self.q_push.val() {
                self.q_older[i].d.next = self.q_older[i].q.val() & !self.tail_v.val();
            }
            if self.q_fill[i].val() {
                self.q_write[i].d.next = self.req_write.val();
                self.q_bank[i].d.next = self.n_bank.val();
                self.q_row[i].d.next = self.n_row.val();
                self.q_col[i].d.next = self.n_col.val();
                self.q_tag[i].d.next = self.req_tag.val();
                self.q_miss[i].d.next = false;
                self.q_hit[i].d.next = self.n_hit.val();
                self.q_older[i].d.next = self.q_live.q.val() & self.same_new_v.val();
            }
        }
        if self.col_go.val() {
            self.q_head.d.next = (self.q_head.q.val() + 1) & self.slot_mask.val();
        }
        if self.q_push.val() {
            self.q_tail.d.next = (self.q_tail.q.val() + 1) & self.slot_mask.val();
        }
        if self.col_go.val() & self.q_push.val() {
            self.q_live.d.next = (self.q_live.q.val() & !self.head_v.val()) | self.tail_v.val();
        } else if self.col_go.val() {
            self.q_live.d.next = self.q_live.q.val() & !self.head_v.val();
        } else if self.q_push.val() {
            self.q_live.d.next = self.q_live.q.val() | self.tail_v.val();
        }

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
        self.idle.next = (self.q_live.q.val() == 0)
            & (self.wsched.q.val() == 0)
            & (self.wd_avail.q.val() == 0)
            & (self.rsched.q.val() == 0)
            & !self.resp_valid_r.q.val();
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

        // Statistics, from last cycle's column command.
        self.st_rd.d.next = self.do_rd.val();
        self.st_wr.d.next = self.do_wr.val();
        self.st_miss.d.next = self.h_miss.val();
        if self.counter_clear.val() {
            self.bytes_rd.d.next = 0.into();
            self.bytes_wr.d.next = 0.into();
            self.hits.d.next = 0.into();
            self.misses.d.next = 0.into();
            self.stalls.d.next = 0.into();
        } else {
            if self.st_rd.q.val() {
                self.bytes_rd.d.next = self.bytes_rd.q.val() + self.burst_bytes.val();
            }
            if self.st_wr.q.val() {
                self.bytes_wr.d.next = self.bytes_wr.q.val() + self.burst_bytes.val();
            }
            if self.st_rd.q.val() | self.st_wr.q.val() {
                if self.st_miss.q.val() {
                    self.misses.d.next = self.misses.q.val() + 1;
                } else {
                    self.hits.d.next = self.hits.q.val() + 1;
                }
            }
            if (self.ref_pending.q.val() | (self.rfc_wait.q.val() != 0)) & self.q_live.q.val().any()
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
