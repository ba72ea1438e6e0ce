//! One read stream's memory side in the data-flow engine: it merges elements that fall in the
//! burst last requested (so a sequential stream costs one DRAM burst per burst, not one per
//! element), keeps the bursts that come back, and hands out the elements in order, one per
//! cycle, as the consumer has room.
//!
//! The engine asks, for its stream's next element, whether it can ride on the last requested
//! burst (`merge_ok`) or needs a request of its own (`request_ok`), and says which happened
//! (`do_merge`, `do_request`). Every element's byte offset joins the element queue; every
//! requested burst gets a slot that counts the elements it serves. Responses of this stream
//! arrive in request order (the vault controller serves column commands in order) and fill the
//! slots in turn; an element leaves when its burst has arrived and the consumer has `space`; a
//! slot is freed with its last element. A burst that is already being handed out takes no new
//! elements (they request the burst again), so no element is ever counted into a freed slot.
//!
//! The bursts are held in one memory per word of a beat (entry `slot * beats + beat`), which the
//! flow costs as SRAM; an element is one aligned word read, so it never straddles two words.

use crate::dataflow_engine::SPACE_BITS;
use crate::dram_config::MAX_BURST_BYTES;
use crate::memory::Memory;
use crate::requant::Requant;
use rust_hdl::prelude::*;

/// Bursts a read stream may hold or have in flight. A stream's bandwidth is at most this many
/// bursts per round trip to the DRAM, which row misses stretch to about 60 cycles at the
/// defaults: 8 bursts held a stream of 8-byte records to about half the vault's 8 bytes per
/// cycle; 16 let one stream use it all.
pub const READ_BURSTS: usize = 1 << SLOT_BITS;
/// Elements requested or merged but not yet handed out: how far a stream runs ahead of its
/// consumer. A stream asks for one element a cycle, as fast as the PE takes them, so it gains a
/// lead only while the PE waits; the lead then hides the next row misses. 128 rather than 64
/// took bench_conv's weight gradient from 88,027 to 84,981 cycles (its input is read one
/// sample at a time, and 16 samples share 16 banks).
pub const ELEMENT_QUEUE: usize = 128;
/// Address width of the burst memories (slots times beats per burst, up to 16 x 16).
const ENTRY_BITS: usize = 8;
const SLOT_BITS: usize = 4;
/// Width of the count of bursts held (0..=READ_BURSTS).
pub const HELD_BITS: usize = SLOT_BITS + 1;
const QUEUE_BITS: usize = ELEMENT_QUEUE.trailing_zeros() as usize;
// The queue's pointers wrap at its size.
const _: () = assert!(ELEMENT_QUEUE.is_power_of_two());
/// Counts of elements (queued, or served by one burst) up to the whole queue.
const COUNT_BITS: usize = QUEUE_BITS + 1;
/// Bits of an element's byte offset in its burst.
const OFFSET_BITS: usize = 5;
/// Width of a response beat inside this block (at most four 32-bit words).
pub const BEAT_BITS: usize = 128;

#[derive(LogicBlock)]
pub struct ReadPort {
    pub clock: Signal<In, Clock>,
    /// A new run starts: nothing may merge into bursts of the previous one.
    pub clear: Signal<In, Bit>,
    /// The stream's next element and its size code.
    pub addr: Signal<In, Bits<32>>,
    pub size_code: Signal<In, Bits<2>>,
    /// The stream's elements are master weights to hand out as MAC weights (4-byte elements).
    pub narrow: Signal<In, Bit>,
    pub merge_ok: Signal<Out, Bit>,
    pub request_ok: Signal<Out, Bit>,
    pub do_merge: Signal<In, Bit>,
    pub do_request: Signal<In, Bit>,
    /// A response beat of this stream.
    pub resp_valid: Signal<In, Bit>,
    pub resp_last: Signal<In, Bit>,
    pub resp_beat: Signal<In, Bits<4>>,
    /// The beat's words, word w in bits 32w+31..32w.
    pub resp_data: Signal<In, Bits<BEAT_BITS>>,
    /// Free places downstream.
    pub space: Signal<In, Bits<SPACE_BITS>>,
    pub out_valid: Signal<Out, Bit>,
    pub out_data: Signal<Out, Bits<32>>,
    /// No element queued, no burst held or in flight, nothing on the output.
    pub idle: Signal<Out, Bit>,
    /// The burst last requested, while it still has elements to hand out.
    pub last_addr: Signal<Out, Bits<32>>,
    pub last_live: Signal<Out, Bit>,
    /// Bursts requested and not yet handed out in full.
    pub held_count: Signal<Out, Bits<HELD_BITS>>,

    store: Vec<Memory<32, ENTRY_BITS>>,
    counts: Vec<DFF<Bits<COUNT_BITS>>>,
    arrived: Vec<DFF<Bit>>,
    queue: Vec<DFF<Bits<OFFSET_BITS>>>,
    /// Per queue entry: it takes the pushed element's offset (a named load condition, so that
    /// its clock gate's enable is a signal the activity simulation sees: docs/flow.md).
    queue_write: Vec<Signal<Local, Bit>>,
    q_wr: DFF<Bits<QUEUE_BITS>>,
    q_rd: DFF<Bits<QUEUE_BITS>>,
    q_count: DFF<Bits<COUNT_BITS>>,
    alloc_idx: DFF<Bits<SLOT_BITS>>,
    land_idx: DFF<Bits<SLOT_BITS>>,
    read_idx: DFF<Bits<SLOT_BITS>>,
    held: DFF<Bits<HELD_BITS>>,
    last_idx: DFF<Bits<SLOT_BITS>>,
    last_burst: DFF<Bits<32>>,
    last_valid: DFF<Bit>,
    out_valid_r: DFF<Bit>,
    out_word_r: DFF<Bits<2>>,
    out_shift_r: DFF<Bits<8>>,
    out_size_r: DFF<Bits<2>>,
    out_narrow_r: DFF<Bit>,
    /// A master weight's MAC weight: round half up and saturate, `G - F` bits.
    narrower: Requant,

    push: Signal<Local, Bit>,
    emit: Signal<Local, Bit>,
    pop_burst: Signal<Local, Bit>,
    head: Signal<Local, Bits<OFFSET_BITS>>,
    cur_arrived: Signal<Local, Bit>,
    cur_count: Signal<Local, Bits<COUNT_BITS>>,
    last_count: Signal<Local, Bits<COUNT_BITS>>,
    element: Signal<Local, Bits<32>>,
    master48: Signal<Local, Bits<48>>,
    out_element: Signal<Local, Bits<32>>,
    word_index: Signal<Local, Bits<8>>,
    beat_word: Signal<Local, Bits<BEAT_BITS>>,
    read_entry: Signal<Local, Bits<ENTRY_BITS>>,
    write_entry: Signal<Local, Bits<ENTRY_BITS>>,
    inc: Signal<Local, Bit>,
    dec: Signal<Local, Bit>,

    slot_id: Vec<Constant<Bits<SLOT_BITS>>>,
    queue_id: Vec<Constant<Bits<QUEUE_BITS>>>,
    word_id: Vec<Constant<Bits<2>>>,
    word_shift: Vec<Constant<Bits<8>>>,
    beats_log2: Constant<Bits<8>>,
    words_log2: Constant<Bits<8>>,
    word_mask: Constant<Bits<8>>,
    sext32_48: Constant<Bits<48>>,
    burst_mask: Constant<Bits<32>>,
    max_held: Constant<Bits<HELD_BITS>>,
    queue_full: Constant<Bits<COUNT_BITS>>,
    count_full: Constant<Bits<COUNT_BITS>>,
    _words: usize,
}

impl ReadPort {
    /// `words` 32-bit words per beat, `beats` beats per burst of `burst_bytes`; a narrowed
    /// element drops `narrow_shift` (G - F, at least 1) fraction bits.
    pub fn new(words: usize, beats: usize, burst_bytes: usize, narrow_shift: u32) -> ReadPort {
        assert!(words * 32 <= BEAT_BITS && burst_bytes <= MAX_BURST_BYTES);
        // Slots are laid out at a power-of-two pitch so an entry is a shift and an or.
        let beats = beats.next_power_of_two();
        assert!(words.is_power_of_two() && READ_BURSTS * beats <= 1 << ENTRY_BITS);
        ReadPort {
            clock: Default::default(),
            clear: Default::default(),
            addr: Default::default(),
            size_code: Default::default(),
            narrow: Default::default(),
            merge_ok: Default::default(),
            request_ok: Default::default(),
            do_merge: Default::default(),
            do_request: Default::default(),
            resp_valid: Default::default(),
            resp_last: Default::default(),
            resp_beat: Default::default(),
            resp_data: Default::default(),
            space: Default::default(),
            out_valid: Default::default(),
            out_data: Default::default(),
            idle: Default::default(),
            last_addr: Default::default(),
            last_live: Default::default(),
            held_count: Default::default(),
            store: (0..words)
                .map(|_| Memory::new(READ_BURSTS * beats))
                .collect(),
            counts: (0..READ_BURSTS).map(|_| Default::default()).collect(),
            arrived: (0..READ_BURSTS).map(|_| Default::default()).collect(),
            queue: (0..ELEMENT_QUEUE).map(|_| Default::default()).collect(),
            queue_write: (0..ELEMENT_QUEUE).map(|_| Default::default()).collect(),
            q_wr: Default::default(),
            q_rd: Default::default(),
            q_count: Default::default(),
            alloc_idx: Default::default(),
            land_idx: Default::default(),
            read_idx: Default::default(),
            held: Default::default(),
            last_idx: Default::default(),
            last_burst: Default::default(),
            last_valid: Default::default(),
            out_valid_r: Default::default(),
            out_word_r: Default::default(),
            out_shift_r: Default::default(),
            out_size_r: Default::default(),
            out_narrow_r: Default::default(),
            narrower: Requant::new(narrow_shift),
            push: Default::default(),
            emit: Default::default(),
            pop_burst: Default::default(),
            head: Default::default(),
            cur_arrived: Default::default(),
            cur_count: Default::default(),
            last_count: Default::default(),
            element: Default::default(),
            master48: Default::default(),
            out_element: Default::default(),
            word_index: Default::default(),
            beat_word: Default::default(),
            read_entry: Default::default(),
            write_entry: Default::default(),
            inc: Default::default(),
            dec: Default::default(),
            slot_id: (0..READ_BURSTS)
                .map(|i| Constant::new(bits(i as u64)))
                .collect(),
            queue_id: (0..ELEMENT_QUEUE)
                .map(|i| Constant::new(bits(i as u64)))
                .collect(),
            word_id: (0..words).map(|w| Constant::new(bits(w as u64))).collect(),
            word_shift: (0..words)
                .map(|w| Constant::new(bits(32 * w as u64)))
                .collect(),
            beats_log2: Constant::new(bits(beats.trailing_zeros() as u64)),
            words_log2: Constant::new(bits(words.trailing_zeros() as u64)),
            word_mask: Constant::new(bits(words as u64 - 1)),
            sext32_48: Constant::new(bits(0xFFFF_0000_0000)),
            burst_mask: Constant::new(bits(burst_bytes as u64 - 1)),
            max_held: Constant::new(bits(READ_BURSTS as u64)),
            queue_full: Constant::new(bits(ELEMENT_QUEUE as u64)),
            count_full: Constant::new(bits((1 << COUNT_BITS) - 1)),
            _words: words,
        }
    }
}

impl Logic for ReadPort {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            q_wr,
            q_rd,
            q_count,
            alloc_idx,
            land_idx,
            read_idx,
            held,
            last_idx,
            last_burst,
            last_valid,
            out_valid_r,
            out_word_r,
            out_shift_r,
            out_size_r,
            out_narrow_r
        );

        // The burst being handed out, and the count of the last requested one.
        self.cur_arrived.next = false;
        self.cur_count.next = 0.into();
        self.last_count.next = 0.into();
        for i in 0..READ_BURSTS {
            if self.read_idx.q.val() == self.slot_id[i].val() {
                self.cur_arrived.next = self.arrived[i].q.val();
                self.cur_count.next = self.counts[i].q.val();
            }
            if self.last_idx.q.val() == self.slot_id[i].val() {
                self.last_count.next = self.counts[i].q.val();
            }
        }
        self.head.next = 0.into();
        for i in 0..ELEMENT_QUEUE {
            self.queue[i].clock.next = self.clock.val();
            self.queue[i].d.next = self.queue[i].q.val();
            if self.q_rd.q.val() == self.queue_id[i].val() {
                self.head.next = self.queue[i].q.val();
            }
        }

        self.last_addr.next = self.last_burst.q.val();
        self.last_live.next = self.last_valid.q.val();
        self.held_count.next = self.held.q.val();
        // Issue side: merge into the last burst, or ask for a new one.
        self.merge_ok.next = self.last_valid.q.val()
            & ((self.addr.val() & !self.burst_mask.val()) == self.last_burst.q.val())
            & (self.q_count.q.val() != self.queue_full.val())
            & (self.last_count.val() != self.count_full.val())
            & !((self.last_idx.q.val() == self.read_idx.q.val())
                & self.cur_arrived.val()
                & (self.cur_count.val() == 1));
        self.request_ok.next = (self.held.q.val() != self.max_held.val())
            & (self.q_count.q.val() != self.queue_full.val());
        self.push.next = self.do_merge.val() | self.do_request.val();
        if self.do_request.val() {
            self.last_idx.d.next = self.alloc_idx.q.val();
            self.last_burst.d.next = self.addr.val() & !self.burst_mask.val();
            self.last_valid.d.next = true;
            self.alloc_idx.d.next = self.alloc_idx.q.val() + 1;
        }

        // Hand out the head element when its burst is in and the consumer has room.
        self.emit.next =
            (self.q_count.q.val() != 0) & self.cur_arrived.val() & (self.space.val() != 0);
        self.pop_burst.next = self.emit.val() & (self.cur_count.val() == 1);
        // The head element's word: burst slot, beat, word of the beat. The memories read it at the
        // edge; the output stage picks the word and the bytes.
        self.word_index.next = bit_cast::<8, OFFSET_BITS>(self.head.val()) >> 2;
        self.read_entry.next = (bit_cast::<ENTRY_BITS, SLOT_BITS>(self.read_idx.q.val())
            << self.beats_log2.val())
            | bit_cast::<ENTRY_BITS, 8>(self.word_index.val() >> self.words_log2.val());
        self.out_valid_r.d.next = self.emit.val();
        self.out_word_r.d.next = bit_cast::<2, 8>(self.word_index.val() & self.word_mask.val());
        self.out_shift_r.d.next = bit_cast::<8, OFFSET_BITS>(self.head.val() & 3) << 3;
        self.out_size_r.d.next = self.size_code.val();
        self.out_narrow_r.d.next = self.narrow.val();
        if self.emit.val() {
            self.q_rd.d.next = self.q_rd.q.val() + 1;
        }
        if self.pop_burst.val() {
            self.read_idx.d.next = self.read_idx.q.val() + 1;
            if self.last_idx.q.val() == self.read_idx.q.val() {
                self.last_valid.d.next = false;
            }
        }
        if self.push.val() & !self.emit.val() {
            self.q_count.d.next = self.q_count.q.val() + 1;
        }
        if !self.push.val() & self.emit.val() {
            self.q_count.d.next = self.q_count.q.val() - 1;
        }
        if self.do_request.val() & !self.pop_burst.val() {
            self.held.d.next = self.held.q.val() + 1;
        }
        if !self.do_request.val() & self.pop_burst.val() {
            self.held.d.next = self.held.q.val() - 1;
        }
        for i in 0..ELEMENT_QUEUE {
            self.queue_write[i].next =
                self.push.val() & (self.q_wr.q.val() == self.queue_id[i].val());
            if self.queue_write[i].val() {
                self.queue[i].d.next =
                    bit_cast::<OFFSET_BITS, 32>(self.addr.val() & self.burst_mask.val());
            }
        }
        if self.push.val() {
            self.q_wr.d.next = self.q_wr.q.val() + 1;
        }

        // Responses land in their slot, beat by beat, one word per memory.
        self.write_entry.next = (bit_cast::<ENTRY_BITS, SLOT_BITS>(self.land_idx.q.val())
            << self.beats_log2.val())
            | bit_cast::<ENTRY_BITS, 4>(self.resp_beat.val());
        self.element.next = 0.into();
        for w in 0..self._words {
            self.store[w].clock.next = self.clock.val();
            self.store[w].write_enable.next = self.resp_valid.val();
            self.store[w].write_address.next = self.write_entry.val();
            self.beat_word.next = self.resp_data.val() >> self.word_shift[w].val();
            self.store[w].write_data.next = self.beat_word.val().get_bits::<32>(0);
            self.store[w].read_address.next = self.read_entry.val();
            if self.out_word_r.q.val() == self.word_id[w].val() {
                self.element.next = self.store[w].read_data.val() >> self.out_shift_r.q.val();
            }
        }
        if self.out_size_r.q.val() == 0 {
            self.element.next = self.element.val() & 0xFF;
        }
        if self.out_size_r.q.val() == 1 {
            self.element.next = self.element.val() & 0xFFFF;
        }
        for i in 0..READ_BURSTS {
            self.counts[i].clock.next = self.clock.val();
            self.arrived[i].clock.next = self.clock.val();
            self.counts[i].d.next = self.counts[i].q.val();
            self.arrived[i].d.next = self.arrived[i].q.val();
            if self.resp_valid.val()
                & self.resp_last.val()
                & (self.land_idx.q.val() == self.slot_id[i].val())
            {
                self.arrived[i].d.next = true;
            }
            self.dec.next = self.emit.val() & (self.read_idx.q.val() == self.slot_id[i].val());
            self.inc.next = self.do_merge.val() & (self.last_idx.q.val() == self.slot_id[i].val());
            if self.dec.val() & !self.inc.val() {
                self.counts[i].d.next = self.counts[i].q.val() - 1;
            }
            if self.inc.val() & !self.dec.val() {
                self.counts[i].d.next = self.counts[i].q.val() + 1;
            }
            if self.dec.val() & self.pop_burst.val() {
                self.arrived[i].d.next = false;
            }
            if self.do_request.val() & (self.alloc_idx.q.val() == self.slot_id[i].val()) {
                self.counts[i].d.next = 1.into();
                self.arrived[i].d.next = false;
            }
        }
        if self.resp_valid.val() & self.resp_last.val() {
            self.land_idx.d.next = self.land_idx.q.val() + 1;
        }
        if self.clear.val() {
            self.last_valid.d.next = false;
        }

        // A narrowed element is a master weight: its MAC weight, zero-extended as a 2-byte
        // element is.
        self.master48.next = bit_cast::<48, 32>(self.element.val());
        if self.element.val().get_bit(31) {
            self.master48.next = self.master48.val() | self.sext32_48.val();
        }
        self.narrower.x.next = self.master48.val();
        self.out_element.next = self.element.val();
        if self.out_narrow_r.q.val() {
            self.out_element.next = bit_cast::<32, 16>(self.narrower.q.val());
        }

        self.out_valid.next = self.out_valid_r.q.val();
        self.out_data.next = self.out_element.val();
        self.idle.next =
            (self.q_count.q.val() == 0) & (self.held.q.val() == 0) & !self.out_valid_r.q.val();
    }
}
