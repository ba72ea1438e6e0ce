//! The data-flow engine of a vault: runs descriptor programs (docs/dataflow.md) that stream
//! operands out of the vault's DRAM to the processing engine or the network, and results back.
//!
//! Three stream slots run at once: A and B read (elements leave on the `a_*` / `b_*` ports with
//! their destination, local PE or a remote tile), W writes (elements offered on `w_*` go to DRAM).
//! A program loads slots with STREAM descriptors, starts every loaded slot with RUN and continues
//! when all of them have finished; END stops it. The host writes the program memory through
//! `prog_*` and pulses `start`.
//!
//! Memory side: burst requests on the vault controller's request port, round robin between the
//! slots, except that B yields a bank to A (below). A read stream's elements that fall in the
//! burst it last requested ride on it (the read port keeps the burst); the others request their
//! own (the element sits at `tag` offset in the burst). The write stream gathers its elements
//! in a write queue of bursts: an element joins its burst's entry wherever it waits in the queue,
//! else a new entry, and each entry is written once, its beats under a byte mask of the bytes
//! written, so bytes around them are untouched. Once the queue is full and an element needs a new
//! entry, or its oldest burst is whole, the entries queued then go back to back while the reads
//! wait (the stream fills the entries they free meanwhile); at the end of the stream all go.
//! A run finishes only once the queue is empty.
//!
//! Faults stop the program before the faulty access: unknown opcode, bad slot, direction or
//! destination, bad loop or element size, a zero or oversized count, an element outside the vault
//! or misaligned to its size, a narrowed stream that is not a read of 4-byte elements, or running
//! off the end of program memory. `error` rises, `error_code` names the fault, `error_count`
//! counts faults; accesses already made were all in range.

use crate::config::Config;
use crate::memory::{BeatBuffer, Memory, BEAT_ADDR_BITS};
use crate::read_port::{ReadPort, BEAT_BITS, HELD_BITS};
use crate::stream_generator::{StreamGenerator, COUNT_BITS, MAX_LOOPS};
use crate::vault_controller::{MASK_BITS, TAG_BITS};
use rust_hdl::prelude::*;

/// 32-bit words of program memory.
pub const PROGRAM_WORDS: usize = 256;
/// Stream slots: A and B read, W writes.
pub const SLOTS: usize = 3;
/// Slots a and b read; they are the first two.
pub const READ_SLOTS: usize = 2;
/// Slot numbers.
pub const SLOT_A: u64 = 0;
pub const SLOT_B: u64 = 1;
pub const SLOT_W: u64 = 2;
/// Width of the `a_space`/`b_space` inputs.
pub const SPACE_BITS: usize = 5;
/// Space that never limits a stream.
pub const UNLIMITED_SPACE: u64 = (1 << SPACE_BITS) - 1;
/// Payload bits of a `pe` instruction, passed to the PE feeder.
pub const PE_CFG_BITS: usize = 28;
/// Largest burst the tag's offset field can address (the configuration enforces it).
pub use crate::dram_config::MAX_BURST_BYTES;
/// Bit position of the slot in a request tag (below it: the element's byte offset in the burst).
const TAG_SLOT_SHIFT: usize = 6;
/// Bursts the write stream gathers before it asks for any of them, so that they go to the vault
/// back to back: the vault controller issues column commands in order, and every switch between
/// reads and writes costs a bus turnaround (CL + BL + RTRS - CWL cycles one way, CWL + BL + WTR
/// the other: 10 and 26 at the defaults). A stream that interleaves its reads with single writes
/// pays both for every written burst; sixteen writes in a row pay them once (with four, a 256 x
/// 256 layer's weight update took a fifth longer). Sixteen entries also gather a result vector
/// whose 16 lanes write 16 bursts, over the vectors that fill those bursts. The entries' bytes
/// are a memory per byte of a burst (a power of two of entries), costed as such by the flow.
pub const WRITE_QUEUE_BURSTS: usize = 1 << WRITE_QUEUE_ADDR_BITS;
/// Address width of the write queue's memories.
const WRITE_QUEUE_ADDR_BITS: usize = 4;
/// Width of the write queue's count (0..=WRITE_QUEUE_BURSTS).
const WRITE_QUEUE_BITS: usize = WRITE_QUEUE_ADDR_BITS + 1;

/// Bursts stream B keeps requested while it yields a bank to stream A (below that it asks
/// regardless, so the yield never starves it).
const YIELD_HELD: u64 = 2;

/// Opcodes (header bits 31:28).
pub mod opcode {
    pub const END: u64 = 0;
    pub const STREAM: u64 = 1;
    pub const RUN: u64 = 2;
    pub const PE: u64 = 3;
}

/// Destinations (header bits 24:23).
pub mod dest {
    pub const LOCAL_PE: u64 = 0;
    pub const REMOTE_TILE: u64 = 1;
    pub const DRAM: u64 = 2;
}

/// Values of `error_code`.
pub mod fault {
    pub const NONE: u64 = 0;
    pub const UNKNOWN_OPCODE: u64 = 1;
    pub const BAD_SLOT: u64 = 2;
    pub const BAD_LOOPS: u64 = 3;
    pub const BAD_SIZE: u64 = 4;
    pub const BAD_COUNT: u64 = 5;
    pub const OUT_OF_VAULT: u64 = 6;
    pub const MISALIGNED: u64 = 7;
    pub const PROGRAM_END: u64 = 8;
}

/// Engine states (the `#[hdl_gen]` code writes them as literals: paths do not reach Verilog).
mod state {
    #![allow(dead_code)]
    pub const IDLE: u64 = 0;
    pub const HEADER: u64 = 1;
    pub const OPERAND: u64 = 2;
    pub const RUN: u64 = 3;
    pub const DONE: u64 = 4;
    pub const ERROR: u64 = 5;
}

#[derive(LogicBlock)]
pub struct DataflowEngine {
    pub clock: Signal<In, Clock>,
    // Host port.
    pub prog_we: Signal<In, Bit>,
    pub prog_addr: Signal<In, Bits<BEAT_ADDR_BITS>>,
    pub prog_data: Signal<In, Bits<32>>,
    pub start: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    pub done: Signal<Out, Bit>,
    pub error: Signal<Out, Bit>,
    pub error_code: Signal<Out, Bits<4>>,
    pub error_count: Signal<Out, Bits<16>>,
    /// Elements delivered (reads) or handed to the controller (writes) since power-up.
    pub elements: Signal<Out, Bits<32>>,
    // Vault controller port.
    pub mem_req_valid: Signal<Out, Bit>,
    pub mem_req_write: Signal<Out, Bit>,
    pub mem_req_addr: Signal<Out, Bits<32>>,
    pub mem_req_tag: Signal<Out, Bits<TAG_BITS>>,
    pub mem_req_ready: Signal<In, Bit>,
    pub mem_wd_valid: Signal<Out, Bit>,
    pub mem_wd_data: Vec<Signal<Out, Bits<32>>>,
    pub mem_wd_mask: Signal<Out, Bits<MASK_BITS>>,
    pub mem_wd_ready: Signal<In, Bit>,
    pub mem_resp_valid: Signal<In, Bit>,
    pub mem_resp_last: Signal<In, Bit>,
    pub mem_resp_tag: Signal<In, Bits<TAG_BITS>>,
    pub mem_resp_data: Vec<Signal<In, Bits<32>>>,
    // Operand streams.
    pub a_valid: Signal<Out, Bit>,
    pub a_data: Signal<Out, Bits<32>>,
    pub a_dest: Signal<Out, Bits<2>>,
    pub a_tile: Signal<Out, Bits<8>>,
    pub b_valid: Signal<Out, Bit>,
    pub b_data: Signal<Out, Bits<32>>,
    pub b_dest: Signal<Out, Bits<2>>,
    pub b_tile: Signal<Out, Bits<8>>,
    // Write-back stream.
    pub w_valid: Signal<In, Bit>,
    pub w_data: Signal<In, Bits<32>>,
    pub w_ready: Signal<Out, Bit>,
    /// Free places downstream of read streams a and b: a slot only requests an element while
    /// its requests in flight are fewer, so a consumer that stalls never loses an element.
    pub a_space: Signal<In, Bits<SPACE_BITS>>,
    pub b_space: Signal<In, Bits<SPACE_BITS>>,
    /// A `pe` instruction: its low 28 bits, for one cycle.
    pub pe_cfg_valid: Signal<Out, Bit>,
    pub pe_cfg_data: Signal<Out, Bits<PE_CFG_BITS>>,
    /// The consumer of the streams is still working: a `run` waits for it to finish too.
    pub ext_busy: Signal<In, Bit>,

    streams: Vec<StreamGenerator>,
    prog_mem: BeatBuffer,

    fsm: DFF<Bits<3>>,
    pc: DFF<Bits<BEAT_ADDR_BITS>>,
    cur_slot: DFF<Bits<2>>,
    field: DFF<Bits<4>>,
    last_field: DFF<Bits<4>>,
    loaded: DFF<Bits<SLOTS>>,
    read_ports: Vec<ReadPort>,
    rr: DFF<Bits<2>>,
    err_code: DFF<Bits<4>>,
    err_count: DFF<Bits<16>>,
    elem_count: DFF<Bits<32>>,
    resp_beat: DFF<Bits<4>>,
    push_left: DFF<Bits<4>>,
    push_beat: DFF<Bits<4>>,
    // The write queue: `wq_count` entries of a ring from `wq_head`, each a burst being gathered
    // or waiting for its request: its address and byte mask in registers (every element's burst
    // is compared with all of them), its bytes in a memory per byte of a burst (an element
    // writes its own bytes, so no entry is read to be modified).
    wq_count: DFF<Bits<WRITE_QUEUE_BITS>>,
    wq_head: DFF<Bits<WRITE_QUEUE_ADDR_BITS>>,
    wq_valid: DFF<Bits<WRITE_QUEUE_BURSTS>>,
    wq_burst: Vec<DFF<Bits<32>>>,
    wq_mask: Vec<DFF<Bits<MAX_BURST_BYTES>>>,
    /// Per write-queue entry: an element joins it, and it opens for a new burst. Named load
    /// conditions, so that a clock gate's enable is a signal the activity simulation sees
    /// (docs/flow.md).
    wq_join: Vec<Signal<Local, Bit>>,
    wq_open: Vec<Signal<Local, Bit>>,
    wq_bytes: Vec<Memory<8, WRITE_QUEUE_ADDR_BITS>>,
    // Set when the queue is full and an element needs a new entry or the oldest burst is whole;
    // cleared once the `wq_drain_left` entries queued then, and any whole bursts behind them,
    // have gone. Meanwhile the reads wait and those entries go one after another.
    wq_draining: DFF<Bit>,
    wq_drain_left: DFF<Bits<WRITE_QUEUE_BITS>>,

    word: Signal<Local, Bits<32>>,
    pc_n: Signal<Local, Bits<BEAT_ADDR_BITS>>,
    fault_l: Signal<Local, Bits<4>>,
    ld_en_l: Signal<Local, Bit>,
    ld_slot_l: Signal<Local, Bits<2>>,
    start_l: Signal<Local, Bit>,
    all_idle: Signal<Local, Bit>,
    el_addr: Signal<Local, Bits<32>>,
    el_size_m1: Signal<Local, Bits<32>>,
    el_ok: Signal<Local, Bit>,
    el_fault: Signal<Local, Bits<4>>,
    eligible: Signal<Local, Bit>,
    rr_dist: Signal<Local, Bits<2>>,
    g_found: Signal<Local, Bit>,
    g_dist: Signal<Local, Bits<2>>,
    g_slot: Signal<Local, Bits<2>>,
    g_addr: Signal<Local, Bits<32>>,
    grant: Signal<Local, Bit>,
    offset: Signal<Local, Bits<32>>,
    r_slot: Signal<Local, Bits<2>>,
    rp_merge_ok: Vec<Signal<Local, Bit>>,
    rp_request_ok: Vec<Signal<Local, Bit>>,
    merge_v: Vec<Signal<Local, Bit>>,
    yield_v: Vec<Signal<Local, Bit>>,
    b_page: Signal<Local, Bits<32>>,
    a_page: Signal<Local, Bits<32>>,
    b_bank: Signal<Local, Bits<32>>,
    a_bank: Signal<Local, Bits<32>>,
    page_shift: Constant<Bits<32>>,
    row_shift: Constant<Bits<32>>,
    bank_mask: Constant<Bits<32>>,
    bank_xor_mask: Constant<Bits<32>>,
    yield_held: Constant<Bits<HELD_BITS>>,
    resp_beat_l: Signal<Local, Bits<BEAT_BITS>>,
    resp_word_l: Signal<Local, Bits<32>>,
    beat_word_shift: Vec<Constant<Bits<8>>>,
    wd_word_l: Signal<Local, Bits<32>>,
    elem_add: Signal<Local, Bits<32>>,
    w_ok: Signal<Local, Bit>,
    w_pending: Signal<Local, Bit>,
    w_req: Signal<Local, Bit>,
    w_take: Signal<Local, Bit>,
    w_addr: Signal<Local, Bits<32>>,
    w_burst: Signal<Local, Bits<32>>,
    w_size: Signal<Local, Bits<2>>,
    w_offset: Signal<Local, Bits<32>>,
    w_bytes: Signal<Local, Bits<MAX_BURST_BYTES>>,
    w_shifted: Signal<Local, Bits<32>>,
    w_hit: Signal<Local, Bit>,
    w_hit_index: Signal<Local, Bits<WRITE_QUEUE_ADDR_BITS>>,
    w_room: Signal<Local, Bit>,
    w_alloc: Signal<Local, Bit>,
    w_index: Signal<Local, Bits<WRITE_QUEUE_ADDR_BITS>>,
    w_flushing: Signal<Local, Bit>,
    w_drain: Signal<Local, Bit>,
    wq_pop: Signal<Local, Bit>,
    wq_target: Signal<Local, Bits<WRITE_QUEUE_BITS>>,
    wq_next_head: Signal<Local, Bits<WRITE_QUEUE_ADDR_BITS>>,
    wq_second: Signal<Local, Bits<WRITE_QUEUE_ADDR_BITS>>,
    wq_tail: Signal<Local, Bits<WRITE_QUEUE_ADDR_BITS>>,
    wq_head_burst: Signal<Local, Bits<32>>,
    wq_second_burst: Signal<Local, Bits<32>>,
    wq_chain: Signal<Local, Bit>,
    wq_head_mask: Signal<Local, Bits<MAX_BURST_BYTES>>,
    wq_second_mask: Signal<Local, Bits<MAX_BURST_BYTES>>,
    wq_more: Signal<Local, Bit>,
    wq_head_closed: Signal<Local, Bit>,
    wq_second_closed: Signal<Local, Bit>,
    wq_valid_l: Signal<Local, Bits<WRITE_QUEUE_BURSTS>>,
    wq_full: Constant<Bits<WRITE_QUEUE_BITS>>,
    wq_byte_l: Signal<Local, Bits<8>>,
    wq_byte_word_l: Signal<Local, Bits<32>>,
    w_byte_l: Signal<Local, Bits<32>>,

    slot_id: Vec<Constant<Bits<2>>>,
    word_id: Vec<Constant<Bits<4>>>,
    /// Per entry of the write queue: its index, and its bit in `wq_valid`.
    entry_id: Vec<Constant<Bits<WRITE_QUEUE_ADDR_BITS>>>,
    entry_bit: Vec<Constant<Bits<WRITE_QUEUE_BURSTS>>>,
    /// Per byte of a burst: its bit in a byte mask, its shift in its word, its beat, and its
    /// word in the beat.
    byte_bit: Vec<Constant<Bits<MAX_BURST_BYTES>>>,
    byte_shift: Vec<Constant<Bits<32>>>,
    byte_beat: Vec<Constant<Bits<4>>>,
    byte_lane: Vec<Constant<Bits<4>>>,
    tag_slot_shift: Constant<Bits<8>>,
    slot_bit: Vec<Constant<Bits<SLOTS>>>,
    vault_last: Constant<Bits<32>>,
    burst_mask: Constant<Bits<32>>,
    /// The byte mask of a whole burst.
    whole_burst: Constant<Bits<MAX_BURST_BYTES>>,
    beat_shift: Constant<Bits<32>>,
    burst_beats: Constant<Bits<4>>,
    max_loops: Constant<Bits<3>>,
    count_limit: Constant<Bits<32>>,
    last_pc: Constant<Bits<BEAT_ADDR_BITS>>,
    _words: usize,
    _burst_bytes: usize,
}

fn konst<const N: usize>(v: u64) -> Constant<Bits<N>> {
    Constant::new(v.into())
}

impl DataflowEngine {
    pub fn new(config: &Config) -> DataflowEngine {
        let d = &config.dram;
        let words = d.bytes_per_cycle / 4;
        let burst = d.burst_bytes();
        // A master weight's MAC weight drops G - F fraction bits.
        let narrow_shift = config.format.grad_frac_bits - config.format.frac_bits;
        assert!(
            burst <= MAX_BURST_BYTES,
            "bursts of {burst} bytes exceed the engine's tag offset ({MAX_BURST_BYTES})"
        );
        let io = |n: usize| (0..n).map(|_| Default::default()).collect::<Vec<_>>();
        DataflowEngine {
            clock: Default::default(),
            prog_we: Default::default(),
            prog_addr: Default::default(),
            prog_data: Default::default(),
            start: Default::default(),
            busy: Default::default(),
            done: Default::default(),
            error: Default::default(),
            error_code: Default::default(),
            error_count: Default::default(),
            elements: Default::default(),
            mem_req_valid: Default::default(),
            mem_req_write: Default::default(),
            mem_req_addr: Default::default(),
            mem_req_tag: Default::default(),
            mem_req_ready: Default::default(),
            mem_wd_valid: Default::default(),
            mem_wd_data: io(words),
            mem_wd_mask: Default::default(),
            mem_wd_ready: Default::default(),
            mem_resp_valid: Default::default(),
            mem_resp_last: Default::default(),
            mem_resp_tag: Default::default(),
            mem_resp_data: (0..words).map(|_| Default::default()).collect(),
            a_valid: Default::default(),
            a_data: Default::default(),
            a_dest: Default::default(),
            a_tile: Default::default(),
            b_valid: Default::default(),
            b_data: Default::default(),
            b_dest: Default::default(),
            b_tile: Default::default(),
            w_valid: Default::default(),
            w_data: Default::default(),
            w_ready: Default::default(),
            a_space: Default::default(),
            b_space: Default::default(),
            pe_cfg_valid: Default::default(),
            pe_cfg_data: Default::default(),
            ext_busy: Default::default(),
            streams: (0..SLOTS).map(|_| StreamGenerator::default()).collect(),
            prog_mem: BeatBuffer::new(PROGRAM_WORDS),
            fsm: Default::default(),
            pc: Default::default(),
            cur_slot: Default::default(),
            field: Default::default(),
            last_field: Default::default(),
            loaded: Default::default(),
            read_ports: (0..READ_SLOTS)
                .map(|_| ReadPort::new(words, d.timing().bl as usize, burst, narrow_shift))
                .collect(),
            rr: Default::default(),
            err_code: Default::default(),
            err_count: Default::default(),
            elem_count: Default::default(),
            resp_beat: Default::default(),
            push_left: Default::default(),
            push_beat: Default::default(),
            wq_count: Default::default(),
            wq_head: Default::default(),
            wq_valid: Default::default(),
            wq_burst: (0..WRITE_QUEUE_BURSTS)
                .map(|_| Default::default())
                .collect(),
            wq_mask: (0..WRITE_QUEUE_BURSTS)
                .map(|_| Default::default())
                .collect(),
            wq_join: (0..WRITE_QUEUE_BURSTS)
                .map(|_| Default::default())
                .collect(),
            wq_open: (0..WRITE_QUEUE_BURSTS)
                .map(|_| Default::default())
                .collect(),
            wq_bytes: (0..burst)
                .map(|_| Memory::new(WRITE_QUEUE_BURSTS))
                .collect(),
            wq_draining: Default::default(),
            wq_drain_left: Default::default(),
            word: Default::default(),
            pc_n: Default::default(),
            fault_l: Default::default(),
            ld_en_l: Default::default(),
            ld_slot_l: Default::default(),
            start_l: Default::default(),
            all_idle: Default::default(),
            el_addr: Default::default(),
            el_size_m1: Default::default(),
            el_ok: Default::default(),
            el_fault: Default::default(),
            eligible: Default::default(),
            rr_dist: Default::default(),
            g_found: Default::default(),
            g_dist: Default::default(),
            g_slot: Default::default(),
            g_addr: Default::default(),
            grant: Default::default(),
            offset: Default::default(),
            r_slot: Default::default(),
            rp_merge_ok: (0..SLOTS).map(|_| Default::default()).collect(),
            rp_request_ok: (0..SLOTS).map(|_| Default::default()).collect(),
            yield_v: (0..SLOTS).map(|_| Default::default()).collect(),
            b_page: Default::default(),
            a_page: Default::default(),
            b_bank: Default::default(),
            a_bank: Default::default(),
            page_shift: konst(d.bank_shift() as u64),
            row_shift: konst(d.row_shift() as u64),
            bank_mask: konst(d.banks as u64 - 1),
            bank_xor_mask: konst(d.bank_xor_mask()),
            yield_held: konst(YIELD_HELD),
            merge_v: (0..SLOTS).map(|_| Default::default()).collect(),
            resp_beat_l: Default::default(),
            resp_word_l: Default::default(),
            beat_word_shift: (0..words).map(|w| konst(32 * w as u64)).collect(),
            wd_word_l: Default::default(),
            elem_add: Default::default(),
            w_ok: Default::default(),
            w_pending: Default::default(),
            w_req: Default::default(),
            w_take: Default::default(),
            w_addr: Default::default(),
            w_burst: Default::default(),
            w_size: Default::default(),
            w_offset: Default::default(),
            w_bytes: Default::default(),
            w_shifted: Default::default(),
            w_hit: Default::default(),
            w_hit_index: Default::default(),
            w_room: Default::default(),
            w_alloc: Default::default(),
            w_index: Default::default(),
            w_flushing: Default::default(),
            w_drain: Default::default(),
            wq_pop: Default::default(),
            wq_target: Default::default(),
            wq_next_head: Default::default(),
            wq_second: Default::default(),
            wq_tail: Default::default(),
            wq_head_burst: Default::default(),
            wq_second_burst: Default::default(),
            wq_chain: Default::default(),
            wq_head_mask: Default::default(),
            wq_second_mask: Default::default(),
            wq_more: Default::default(),
            wq_head_closed: Default::default(),
            wq_second_closed: Default::default(),
            wq_valid_l: Default::default(),
            wq_full: konst(WRITE_QUEUE_BURSTS as u64),
            wq_byte_l: Default::default(),
            wq_byte_word_l: Default::default(),
            w_byte_l: Default::default(),
            slot_id: (0..SLOTS).map(|s| konst(s as u64)).collect(),
            word_id: (0..words).map(|w| konst(w as u64)).collect(),
            entry_id: (0..WRITE_QUEUE_BURSTS).map(|e| konst(e as u64)).collect(),
            entry_bit: (0..WRITE_QUEUE_BURSTS).map(|e| konst(1 << e)).collect(),
            byte_bit: (0..burst).map(|j| konst(1 << j)).collect(),
            byte_shift: (0..burst).map(|j| konst(8 * (j % 4) as u64)).collect(),
            byte_beat: (0..burst).map(|j| konst((j / 4 / words) as u64)).collect(),
            byte_lane: (0..burst).map(|j| konst((j / 4 % words) as u64)).collect(),
            tag_slot_shift: konst(TAG_SLOT_SHIFT as u64),
            slot_bit: (0..SLOTS).map(|s| konst(1 << s)).collect(),
            vault_last: konst(d.vault_bytes() - 1),
            burst_mask: konst(burst as u64 - 1),
            whole_burst: konst(((1u128 << burst) - 1) as u64),
            beat_shift: konst(d.bytes_per_cycle.trailing_zeros() as u64),
            burst_beats: konst(d.timing().bl as u64),
            max_loops: konst(MAX_LOOPS as u64),
            count_limit: konst(1 << COUNT_BITS),
            last_pc: konst(PROGRAM_WORDS as u64 - 1),
            _words: words,
            _burst_bytes: burst,
        }
    }
}

impl Logic for DataflowEngine {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            fsm,
            pc,
            cur_slot,
            field,
            last_field,
            loaded,
            rr,
            err_code,
            err_count,
            elem_count,
            resp_beat,
            push_left,
            push_beat,
            wq_count,
            wq_head,
            wq_valid,
            wq_draining,
            wq_drain_left
        );
        for e in 0..WRITE_QUEUE_BURSTS {
            self.wq_burst[e].clock.next = self.clock.val();
            self.wq_burst[e].d.next = self.wq_burst[e].q.val();
            self.wq_mask[e].clock.next = self.clock.val();
            self.wq_mask[e].d.next = self.wq_mask[e].q.val();
        }
        // The queue's head leaves after its last beat.
        self.wq_pop.next = (self.push_left.q.val() == 1) & self.mem_wd_ready.val();
        self.wq_next_head.next = self.wq_head.q.val();
        if self.wq_pop.val() {
            self.wq_next_head.next = self.wq_head.q.val() + 1;
        }
        // Through signals of the queue's width, so that the Verilog wraps the sums as the model
        // does (compared in place, Verilog would widen them).
        self.wq_second.next = self.wq_head.q.val() + 1;
        self.wq_tail.next = self.wq_head.q.val()
            + bit_cast::<WRITE_QUEUE_ADDR_BITS, WRITE_QUEUE_BITS>(self.wq_count.q.val());
        self.wq_head_burst.next = 0.into();
        self.wq_head_mask.next = 0.into();
        self.wq_second_burst.next = 0.into();
        self.wq_second_mask.next = 0.into();
        for e in 0..WRITE_QUEUE_BURSTS {
            if self.entry_id[e].val() == self.wq_head.q.val() {
                self.wq_head_burst.next = self.wq_burst[e].q.val();
                self.wq_head_mask.next = self.wq_mask[e].q.val();
            }
            if self.entry_id[e].val() == self.wq_second.val() {
                self.wq_second_burst.next = self.wq_burst[e].q.val();
                self.wq_second_mask.next = self.wq_mask[e].q.val();
            }
        }
        // The head's last beat leaves now and another burst waits behind it.
        self.wq_chain.next = self.wq_pop.val() & (self.wq_count.q.val() != 1);
        // A drain goes on past the head while entries queued at its start remain, or while the
        // next entry is a whole burst (a sequential stream's bursts completed during the drain).
        self.wq_more.next = (self.wq_drain_left.q.val() > 1)
            | ((self.wq_count.q.val() > 1) & (self.wq_second_mask.val() == self.whole_burst.val()));
        self.prog_mem.clock.next = self.clock.val();
        self.prog_mem.write_enable.next = self.prog_we.val();
        self.prog_mem.write_address.next = self.prog_addr.val();
        self.prog_mem.write_data.next = self.prog_data.val();
        self.word.next = self.prog_mem.read_data.val();

        // Program sequencing. The program memory reads registered: address the next word now.
        self.pc_n.next = self.pc.q.val();
        self.fault_l.next = 0.into();
        self.ld_en_l.next = false;
        self.ld_slot_l.next = self.cur_slot.q.val();
        self.start_l.next = false;
        self.all_idle.next = true;
        for s in 0..SLOTS {
            if self.streams[s].valid.val() {
                self.all_idle.next = false;
            }
        }
        for s in 0..READ_SLOTS {
            if !self.read_ports[s].idle.val() {
                self.all_idle.next = false;
            }
        }
        if (self.push_left.q.val() != 0) | (self.wq_count.q.val() != 0) | self.ext_busy.val() {
            self.all_idle.next = false;
        }
        self.pe_cfg_valid.next = false;
        self.pe_cfg_data.next = bit_cast::<PE_CFG_BITS, 32>(self.word.val());
        if self.fsm.q.val() == 1 {
            if self.word.val().get_bits::<4>(28) == 0 {
                self.fsm.d.next = 4.into();
            } else if self.word.val().get_bits::<4>(28) == 2 {
                self.start_l.next = true;
                self.fsm.d.next = 3.into();
                self.pc_n.next = self.pc.q.val() + 1;
            } else if self.word.val().get_bits::<4>(28) == 3 {
                self.pe_cfg_valid.next = true;
                self.pc_n.next = self.pc.q.val() + 1;
            } else if self.word.val().get_bits::<4>(28) == 1 {
                // Slot A and B read to the PE or a remote tile; slot W writes to DRAM.
                if (self.word.val().get_bits::<2>(26) == 3)
                    | ((self.word.val().get_bits::<2>(26) == 2) != self.word.val().get_bit(25))
                    | ((self.word.val().get_bits::<2>(23) == 2) != self.word.val().get_bit(25))
                    | (self.word.val().get_bits::<2>(23) == 3)
                {
                    self.fault_l.next = 2.into();
                } else if (self.word.val().get_bits::<3>(18) == 0)
                    | (self.word.val().get_bits::<3>(18) > self.max_loops.val())
                {
                    self.fault_l.next = 3.into();
                } else if (self.word.val().get_bits::<2>(21) == 3)
                    | (self.word.val().get_bit(16)
                        & ((self.word.val().get_bits::<2>(21) != 2) | self.word.val().get_bit(25)))
                {
                    // Size code 3, or a narrowed stream (bit 16) that is not a 4-byte read.
                    self.fault_l.next = 4.into();
                } else {
                    self.ld_en_l.next = true;
                    self.ld_slot_l.next = self.word.val().get_bits::<2>(26);
                    self.cur_slot.d.next = self.word.val().get_bits::<2>(26);
                    self.field.d.next = 1.into();
                    // Header, base, then count and stride per loop.
                    self.last_field.d.next =
                        bit_cast::<4, 3>(self.word.val().get_bits::<3>(18)) << 1;
                    self.fsm.d.next = 2.into();
                    self.pc_n.next = self.pc.q.val() + 1;
                }
            } else {
                self.fault_l.next = 1.into();
            }
            if (self.pc.q.val() == self.last_pc.val()) & (self.word.val().get_bits::<4>(28) != 0) {
                self.fault_l.next = 8.into();
            }
        }
        if self.fsm.q.val() == 2 {
            self.ld_en_l.next = true;
            // Counts are the even fields from 2 on.
            if (self.field.q.val() != 1)
                & !self.field.q.val().get_bit(0)
                & ((self.word.val() == 0) | (self.word.val() >= self.count_limit.val()))
            {
                self.fault_l.next = 5.into();
                self.ld_en_l.next = false;
            }
            if self.pc.q.val() == self.last_pc.val() {
                self.fault_l.next = 8.into();
                self.ld_en_l.next = false;
            }
            self.field.d.next = self.field.q.val() + 1;
            self.pc_n.next = self.pc.q.val() + 1;
            if self.field.q.val() == self.last_field.q.val() + 1 {
                self.loaded.d.next =
                    self.loaded.q.val() | (bit_cast::<SLOTS, 1>(1.into()) << self.cur_slot.q.val());
                self.fsm.d.next = 1.into();
            }
        }
        if (self.fsm.q.val() == 3) & self.all_idle.val() & !self.start_l.val() {
            self.loaded.d.next = 0.into();
            self.fsm.d.next = 1.into();
        }

        // Element checks and the round-robin grant of one memory request.
        self.g_found.next = false;
        self.g_dist.next = 0.into();
        self.g_slot.next = 0.into();
        self.g_addr.next = 0.into();
        self.el_fault.next = 0.into();
        // The read ports say whether each read stream's next element rides on its last burst.
        for s in 0..SLOTS {
            self.rp_merge_ok[s].next = false;
            self.rp_request_ok[s].next = true;
            self.merge_v[s].next = false;
        }
        for s in 0..READ_SLOTS {
            self.read_ports[s].clock.next = self.clock.val();
            self.read_ports[s].addr.next = self.streams[s].addr.val();
            self.read_ports[s].size_code.next = self.streams[s].size_code.val();
            self.read_ports[s].narrow.next = self.streams[s].narrow.val();
            self.rp_merge_ok[s].next = self.read_ports[s].merge_ok.val();
            self.rp_request_ok[s].next = self.read_ports[s].request_ok.val();
        }
        // Two read streams in one bank on different rows: the controller serves column commands
        // in order, so interleaved requests would cost a precharge and an activate each. Stream
        // B waits while A's last burst is in the bank its next request needs on another row
        // (an update's records and gradients met so on a sixteenth of their bursts, 4,700 of a
        // 256 x 256 layer's 17,400 cycles), unless B is about to run dry. Banks are found as the
        // vault controller maps addresses, bank_xor included.
        self.b_page.next = self.streams[1].addr.val() >> self.page_shift.val();
        self.a_page.next = self.read_ports[0].last_addr.val() >> self.page_shift.val();
        self.b_bank.next = (self.b_page.val()
            ^ ((self.streams[1].addr.val() >> self.row_shift.val()) & self.bank_xor_mask.val()))
            & self.bank_mask.val();
        self.a_bank.next = (self.a_page.val()
            ^ ((self.read_ports[0].last_addr.val() >> self.row_shift.val())
                & self.bank_xor_mask.val()))
            & self.bank_mask.val();
        for s in 0..SLOTS {
            self.yield_v[s].next = false;
        }
        self.yield_v[1].next = self.read_ports[0].last_live.val()
            & (self.b_bank.val() == self.a_bank.val())
            & (self.b_page.val() != self.a_page.val())
            & (self.read_ports[1].held_count.val() >= self.yield_held.val());
        self.w_ok.next = false;
        self.w_pending.next = false;
        self.w_req.next = false;
        self.w_drain.next = false;
        self.w_addr.next = 0.into();
        self.w_size.next = 0.into();
        for s in 0..SLOTS {
            self.el_addr.next = self.streams[s].addr.val();
            self.el_size_m1.next =
                (bit_cast::<32, 1>(1.into()) << self.streams[s].size_code.val()) - 1;
            self.el_ok.next = true;
            if (self.el_addr.val() > self.vault_last.val())
                | ((self.vault_last.val() - self.el_addr.val()) < self.el_size_m1.val())
            {
                self.el_ok.next = false;
                if self.streams[s].valid.val() {
                    self.el_fault.next = 6.into();
                }
            } else if (self.el_addr.val() & self.el_size_m1.val()) != 0 {
                self.el_ok.next = false;
                if self.streams[s].valid.val() {
                    self.el_fault.next = 7.into();
                }
            }
            self.eligible.next = (self.fsm.q.val() == 3)
                & self.streams[s].valid.val()
                & self.el_ok.val()
                & (self.loaded.q.val() & self.slot_bit[s].val()).any();
            if self.slot_id[s].val() == 2 {
                // Write elements join the write queue without a request. The queue asks for its
                // bursts once an element finds it full (and its burst in none of its entries),
                // or once the stream has no more. After a fault the elements before it are
                // written all the same.
                self.w_addr.next = self.el_addr.val();
                self.w_size.next = self.streams[s].size_code.val();
                self.w_pending.next = self.eligible.val();
                self.w_ok.next = self.eligible.val() & self.w_valid.val();
                self.w_drain.next = ((self.fsm.q.val() == 3) & !self.streams[s].valid.val())
                    | (self.fsm.q.val() == 5);
                // The last entry of a drain does not chain a request for the next.
                self.eligible.next = (self.wq_count.q.val() != 0)
                    & ((self.push_left.q.val() == 0) | self.wq_chain.val())
                    & ((self.wq_draining.q.val() & (!self.wq_chain.val() | self.wq_more.val()))
                        | self.w_drain.val());
                self.w_req.next = self.eligible.val();
            } else {
                // A read element either merges (no memory request) or needs a burst slot.
                self.merge_v[s].next = self.eligible.val() & self.rp_merge_ok[s].val();
                if self.rp_merge_ok[s].val()
                    | !self.rp_request_ok[s].val()
                    | self.yield_v[s].val()
                    | self.wq_draining.q.val()
                {
                    self.eligible.next = false;
                }
            }
            self.rr_dist.next = self.slot_id[s].val() - self.rr.q.val();
            if self.slot_id[s].val() < self.rr.q.val() {
                self.rr_dist.next = self.slot_id[s].val() + 3 - self.rr.q.val();
            }
            if self.eligible.val()
                & (!self.g_found.val() | (self.rr_dist.val() < self.g_dist.val()))
            {
                self.g_found.next = true;
                self.g_dist.next = self.rr_dist.val();
                self.g_slot.next = self.slot_id[s].val();
                self.g_addr.next = self.el_addr.val();
                if self.slot_id[s].val() == 2 {
                    self.g_addr.next = self.wq_head_burst.val();
                    if self.wq_chain.val() {
                        self.g_addr.next = self.wq_second_burst.val();
                    }
                }
            }
        }
        if (self.fsm.q.val() == 3) & (self.el_fault.val() != 0) {
            self.fault_l.next = self.el_fault.val();
            self.g_found.next = false;
        }
        self.grant.next = self.g_found.val() & self.mem_req_ready.val();
        self.elem_add.next = 0.into();
        self.offset.next = self.g_addr.val() & self.burst_mask.val();
        self.mem_req_valid.next = self.g_found.val();
        self.mem_req_write.next = self.g_slot.val() == 2;
        self.mem_req_addr.next = self.g_addr.val() & !self.burst_mask.val();
        self.mem_req_tag.next = (bit_cast::<TAG_BITS, 2>(self.g_slot.val())
            << self.tag_slot_shift.val())
            | bit_cast::<TAG_BITS, 32>(self.offset.val());
        if self.grant.val() {
            self.rr.d.next = self.g_slot.val() + 1;
            if self.g_slot.val() == 2 {
                self.rr.d.next = 0.into();
                // The queue's oldest burst goes out beat by beat, and leaves the queue after its
                // last beat.
                self.push_left.d.next = self.burst_beats.val();
                self.push_beat.d.next = 0.into();
            }
        }

        // A write element joins the queue's entry of its burst, or a new entry behind the last.
        // The entry whose request may be going out now, and the one whose beats are leaving,
        // take no more elements: the beats read what the entry held when it asked.
        self.w_burst.next = self.w_addr.val() & !self.burst_mask.val();
        self.wq_head_closed.next = (self.push_left.q.val() != 0) | self.w_req.val();
        self.wq_second_closed.next = self.w_req.val() & self.wq_chain.val();
        self.w_hit.next = false;
        self.w_hit_index.next = 0.into();
        for e in 0..WRITE_QUEUE_BURSTS {
            if (self.wq_valid.q.val() & self.entry_bit[e].val()).any()
                & (self.wq_burst[e].q.val() == self.w_burst.val())
                & !((self.entry_id[e].val() == self.wq_head.q.val()) & self.wq_head_closed.val())
                & !((self.entry_id[e].val() == self.wq_second.val()) & self.wq_second_closed.val())
            {
                self.w_hit.next = true;
                self.w_hit_index.next = self.entry_id[e].val();
            }
        }
        self.w_room.next = (self.wq_count.q.val() != self.wq_full.val()) | self.wq_pop.val();
        self.w_take.next = self.w_ok.val() & (self.w_hit.val() | self.w_room.val());
        self.w_alloc.next = self.w_take.val() & !self.w_hit.val();
        self.w_index.next = self.wq_tail.val();
        if self.w_hit.val() {
            self.w_index.next = self.w_hit_index.val();
        }
        self.w_ready.next = self.w_take.val();
        self.w_offset.next = self.w_addr.val() & self.burst_mask.val();
        self.w_bytes.next = ((bit_cast::<MAX_BURST_BYTES, 1>(1.into())
            << (bit_cast::<MAX_BURST_BYTES, 1>(1.into()) << self.w_size.val()))
            - 1)
            << self.w_offset.val();
        self.w_shifted.next = self.w_data.val() << ((self.w_offset.val() & 3) << 3);
        if self.w_take.val() {
            self.elem_add.next = 1.into();
        }
        for e in 0..WRITE_QUEUE_BURSTS {
            self.wq_join[e].next =
                self.w_take.val() & (self.entry_id[e].val() == self.w_index.val());
            self.wq_open[e].next = self.wq_join[e].val() & !self.w_hit.val();
            if self.wq_join[e].val() {
                if self.wq_open[e].val() {
                    self.wq_mask[e].d.next = self.w_bytes.val();
                } else {
                    self.wq_mask[e].d.next = self.wq_mask[e].q.val() | self.w_bytes.val();
                }
            }
            if self.wq_open[e].val() {
                self.wq_burst[e].d.next = self.w_burst.val();
            }
        }
        for j in 0..self._burst_bytes {
            self.wq_bytes[j].clock.next = self.clock.val();
            self.wq_bytes[j].write_enable.next =
                self.w_take.val() & (self.w_bytes.val() & self.byte_bit[j].val()).any();
            self.wq_bytes[j].write_address.next = self.w_index.val();
            self.w_byte_l.next = self.w_shifted.val() >> self.byte_shift[j].val();
            self.wq_bytes[j].write_data.next = bit_cast::<8, 32>(self.w_byte_l.val());
            self.wq_bytes[j].read_address.next = self.wq_next_head.val();
        }

        // The ring: the head leaves after its last beat; a new entry goes behind the last.
        self.wq_target.next = self.wq_count.q.val();
        self.wq_head.d.next = self.wq_next_head.val();
        self.wq_valid_l.next = self.wq_valid.q.val();
        if self.wq_pop.val() {
            self.wq_count.d.next = self.wq_count.q.val() - 1;
            self.wq_target.next = self.wq_count.q.val() - 1;
            for e in 0..WRITE_QUEUE_BURSTS {
                if self.entry_id[e].val() == self.wq_head.q.val() {
                    self.wq_valid_l.next = self.wq_valid_l.val() & !self.entry_bit[e].val();
                }
            }
        }
        if self.w_alloc.val() {
            self.wq_count.d.next = self.wq_target.val() + 1;
            for e in 0..WRITE_QUEUE_BURSTS {
                if self.entry_id[e].val() == self.wq_tail.val() {
                    self.wq_valid_l.next = self.wq_valid_l.val() | self.entry_bit[e].val();
                }
            }
        }
        self.wq_valid.d.next = self.wq_valid_l.val();
        // A full queue drains when an element needs a new entry, or as soon as its oldest burst
        // is whole (nothing more can join it; a sequential stream need not wait for its next
        // burst). A drain sends the entries queued when it began and any whole bursts behind
        // them; entries still gathering wait for the next drain (a vector's lanes refill the
        // entries it frees one value at a time). At the end of the stream, all go.
        if self.wq_draining.q.val() {
            if self.wq_pop.val() {
                if self.wq_drain_left.q.val() != 0 {
                    self.wq_drain_left.d.next = self.wq_drain_left.q.val() - 1;
                }
                if !self.wq_more.val() {
                    self.wq_draining.d.next = false;
                }
            }
        } else if ((self.wq_count.q.val() == self.wq_full.val())
            & ((self.w_pending.val() & !self.w_hit.val())
                | (self.wq_head_mask.val() == self.whole_burst.val())))
            | (self.w_drain.val() & (self.wq_count.q.val() != 0))
        {
            self.wq_draining.d.next = true;
            self.wq_drain_left.d.next = self.wq_count.q.val();
        }

        // Write beats: the queue's oldest burst, each beat under its slice of the byte mask.
        self.mem_wd_valid.next = self.push_left.q.val() != 0;
        self.mem_wd_mask.next = bit_cast::<MASK_BITS, MAX_BURST_BYTES>(
            self.wq_head_mask.val()
                >> (bit_cast::<MAX_BURST_BYTES, 4>(self.push_beat.q.val())
                    << self.beat_shift.val()),
        );
        for w in 0..self._words {
            self.wd_word_l.next = 0.into();
            for j in 0..self._burst_bytes {
                self.wq_byte_l.next = self.wq_bytes[j].read_data.val();
                self.wq_byte_word_l.next = bit_cast::<32, 8>(self.wq_byte_l.val());
                if (self.byte_beat[j].val() == self.push_beat.q.val())
                    & (self.byte_lane[j].val() == self.word_id[w].val())
                {
                    self.wd_word_l.next = self.wd_word_l.val()
                        | (self.wq_byte_word_l.val() << self.byte_shift[j].val());
                }
            }
            self.mem_wd_data[w].next = self.wd_word_l.val();
        }
        // (A burst granted in its predecessor's last beat starts from its first.)
        if (self.push_left.q.val() != 0)
            & self.mem_wd_ready.val()
            & !(self.grant.val() & (self.g_slot.val() == 2))
        {
            self.push_left.d.next = self.push_left.q.val() - 1;
            self.push_beat.d.next = self.push_beat.q.val() + 1;
        }

        // Read responses go to their stream's read port, which hands out the elements.
        self.resp_beat_l.next = 0.into();
        for w in 0..self._words {
            self.resp_word_l.next = self.mem_resp_data[w].val();
            self.resp_beat_l.next = self.resp_beat_l.val()
                | (bit_cast::<BEAT_BITS, 32>(self.resp_word_l.val())
                    << self.beat_word_shift[w].val());
        }
        self.r_slot.next =
            bit_cast::<2, TAG_BITS>(self.mem_resp_tag.val() >> self.tag_slot_shift.val());
        for s in 0..READ_SLOTS {
            self.read_ports[s].clear.next = self.start_l.val();
            self.read_ports[s].resp_valid.next =
                self.mem_resp_valid.val() & (self.r_slot.val() == self.slot_id[s].val());
            self.read_ports[s].resp_last.next = self.mem_resp_last.val();
            self.read_ports[s].resp_beat.next = self.resp_beat.q.val();
            self.read_ports[s].resp_data.next = self.resp_beat_l.val();
            self.read_ports[s].do_request.next =
                self.grant.val() & (self.g_slot.val() == self.slot_id[s].val());
            self.read_ports[s].do_merge.next = self.merge_v[s].val();
            if self.read_ports[s].out_valid.val() {
                self.elem_add.next = self.elem_add.val() + 1;
            }
        }
        self.read_ports[0].space.next = self.a_space.val();
        self.read_ports[1].space.next = self.b_space.val();
        self.elem_count.d.next = self.elem_count.q.val() + self.elem_add.val();
        if self.mem_resp_valid.val() {
            self.resp_beat.d.next = self.resp_beat.q.val() + 1;
            if self.mem_resp_last.val() {
                self.resp_beat.d.next = 0.into();
            }
        }

        // Faults stop the program; start (re)runs it from word 0.
        if self.fault_l.val() != 0 {
            self.fsm.d.next = 5.into();
            self.err_code.d.next = self.fault_l.val();
            self.err_count.d.next = self.err_count.q.val() + 1;
        }
        if self.start.val()
            & (self.fsm.q.val() != 3)
            & (self.fsm.q.val() != 1)
            & (self.fsm.q.val() != 2)
        {
            self.fsm.d.next = 1.into();
            self.err_code.d.next = 0.into();
            self.loaded.d.next = 0.into();
            self.pc_n.next = 0.into();
        }
        self.pc.d.next = self.pc_n.val();
        self.prog_mem.read_address.next = self.pc_n.val();

        for s in 0..SLOTS {
            self.streams[s].clock.next = self.clock.val();
            self.streams[s].ld_en.next = self.ld_en_l.val()
                & (self.ld_slot_l.val() == self.slot_id[s].val())
                & (self.fault_l.val() == 0);
            self.streams[s].ld_field.next = 0.into();
            if self.fsm.q.val() == 2 {
                self.streams[s].ld_field.next = self.field.q.val();
            }
            self.streams[s].ld_data.next = self.word.val();
            self.streams[s].start.next =
                self.start_l.val() & (self.loaded.q.val() & self.slot_bit[s].val()).any();
            self.streams[s].advance.next = (self.grant.val()
                & (self.g_slot.val() == self.slot_id[s].val()))
                | self.merge_v[s].val();
            // The write stream's grants are the combining buffer's; its elements advance as
            // they join the buffer.
            if self.slot_id[s].val() == 2 {
                self.streams[s].advance.next = self.w_take.val();
            }
        }

        // A fault is reported once the writes before it are out of the combining buffer and the
        // write queue.
        self.w_flushing.next = (self.wq_count.q.val() != 0) | (self.push_left.q.val() != 0);
        self.busy.next = (self.fsm.q.val() == 1)
            | (self.fsm.q.val() == 2)
            | (self.fsm.q.val() == 3)
            | ((self.fsm.q.val() == 5) & self.w_flushing.val());
        self.done.next = self.fsm.q.val() == 4;
        self.error.next = (self.fsm.q.val() == 5) & !self.w_flushing.val();
        self.error_code.next = self.err_code.q.val();
        self.error_count.next = self.err_count.q.val();
        self.elements.next = self.elem_count.q.val();
        self.a_valid.next = self.read_ports[0].out_valid.val();
        self.a_data.next = self.read_ports[0].out_data.val();
        self.a_dest.next = self.streams[0].dest.val();
        self.a_tile.next = self.streams[0].tile.val();
        self.b_valid.next = self.read_ports[1].out_valid.val();
        self.b_data.next = self.read_ports[1].out_data.val();
        self.b_dest.next = self.streams[1].dest.val();
        self.b_tile.next = self.streams[1].tile.val();
    }
}
