//! The PE feeder: the tile's glue between the data-flow engine's streams and the PE.
//!
//! The engine delivers one element at a time; a PE beat needs a broadcast operand and one operand
//! per lane. The feeder holds the per-lane operands in two lane buffers (buffer A: 16-bit
//! operands such as weight rows or errors; buffer B: 32-bit biases or stored outputs), so that a
//! value fetched from DRAM once serves many beats, and turns stream b into beats:
//!
//! | feed | stream a | stream b | a beat |
//! |---|---|---|---|
//! | `fill_a` / `fill_b` | element k to lane `k % lanes`, entry `k / lanes` | unused | none |
//! | the same after `by_lane(s)` | element k to lane `k / (R - s)`, entry `s + k % (R - s)` | unused | none |
//! | `fill_a` by lane after `split_fill` | the even lanes' entries, lane by lane | the odd lanes' | none |
//! | `compute` | unused | one beat per element: the broadcast operand | opa from buffer A, opb from buffer B |
//! | `compute` with `fill_a` | fills buffer A as `fill_a` does | the same | the same |
//! | `elementwise` | one operand per lane | one operand per lane | every `lanes` pairs |
//! | `fill_b` after `opb_buffer` | element k to the PE's reuse buffer, entry k | unused | none |
//! | `compute` after `opb_buffer(m)` | unused (or `fill_a`) | unused: the broadcast operand from the reuse buffer | m reductions |
//! | the same after `opb_across(rows)` | the same | the same, held term by term | the same |
//! | the same after `window` words | maps into the reuse buffer's halves in turn | unused: each reduction a window out of a map | m reductions |
//!
//! In `compute`, beat n is term `r = n % reduce` of reduction `n / reduce` (`first` at r = 0,
//! `last` at r = reduce - 1); opa is buffer A at `opa_base` plus `r` (`opa_wrap`; plus
//! `r * blocks + (n / reduce) % blocks` after an `opa_blocks(blocks)` word) or plus `n`, opb
//! is buffer B at the reduction index (`opb_step`) or at 0. Select beats (max pooling backward)
//! each complete a result vector whatever `reduce` says, and read buffer A at `opa_base` plus
//! the reduction index: every term of a reduction (a window's positions) takes its entries
//! (the window's stored position and error) in both buffers. Results leave on the write-back port one
//! lane at a time, lanes 0 to `lanes - 1`: the narrow result (sign-extended) for forward, backward
//! and select, the wide one for gradient and for update (the new master weight: its MAC weight
//! is derived where it is read, by a narrowed stream, docs/dataflow.md), and for max the index
//! of the maximum then the maximum.
//!
//! A fill by lane (R the shape's `reduce`) writes each lane's entries in one run of the stream, so
//! a lane's operands that lie side by side in DRAM (a weight row) arrive as one sequential stream
//! rather than one element per row in turn; `s` lets a second run continue the lanes' entries.
//! The operation word ends it.
//!
//! A split fill of buffer A by lane takes two elements a cycle, one from each stream, into two
//! lanes (each lane buffer has one write port): stream a fills lanes 0, 2, 4, ... and stream b
//! lanes 1, 3, 5, ..., each lane's entries in turn. The split-fill word comes after the by-lane
//! word, which ends the split of the run before.
//!
//! A window compute (a convolution's forward or weight gradient) holds two maps in the reuse
//! buffer, one in each half: stream a fills one half while the beats read windows out of the
//! other, the fill waiting while both halves hold maps not yet computed and the beats while
//! their map is not yet complete. A term's entry is an affine function of three term counters
//! and two reduction counters (`FeedSetting::Window`), kept as running sums (the first entry of
//! the term's middle and outer runs, of the reduction's row) so that no multiplier is needed.
//!
//! A compute with `fill_a` loads buffer A for the next run while this one reads it: the program
//! keeps the two apart (the compute reads from `opa_base`, the fill writes from the entry a
//! `fill_start` word gives), so that a product's next operands arrive while it computes. A plain
//! fill starts at entry 0, or at `s` after `fill_start(s)`.
//!
//! Settings arrive as `pe` instructions of the engine's program ([`FeedSetting`]); the engine
//! waits for `busy` to fall before it takes the next instruction after a `run`.

use crate::config::{Config, LANE_BUFFER_ADDR_BITS as LB, OPERAND_BUFFER_ADDR_BITS as RB};
use crate::dataflow_engine::{PE_CFG_BITS, SPACE_BITS};
use crate::flit_fifo::FlitFifo;
use crate::memory::Memory;
use crate::ops::{ActFn, PeMode, MODE_BITS};
use anyhow::Result;
use rust_hdl::prelude::*;

/// Elements each stream FIFO holds (the engine keeps its requests in flight below the free space).
pub const STREAM_FIFO_DEPTH: usize = 16;
/// Result vectors held for the write-back port; beats that produce results wait for a free one.
pub const RESULT_BANKS: usize = 2;
/// Width of the lane count field (lanes up to 64).
pub const LANES_BITS: usize = 7;
/// Width of the reduction length field.
pub const REDUCE_BITS: usize = 16;
/// A window compute's fields, each a settings word of its own.
const WINDOW_FIELDS: usize = WindowField::ALL.len();

/// Field positions of a `pe` instruction's payload.
pub mod field {
    /// Bits 27:26 say which setting the word carries.
    pub const KIND_SHIFT: u32 = 26;
    pub const KIND_OP: u32 = 0;
    pub const KIND_SHAPE: u32 = 1;
    pub const KIND_ETA: u32 = 2;
    pub const KIND_BY_LANE: u32 = 3;
    // Operation word (the feeder's logic decodes these positions as literals: keep both in step).
    pub const MODE_SHIFT: u32 = 0;
    pub const MODE_MASK: u32 = (1 << crate::ops::MODE_BITS) - 1;
    pub const ACT_SHIFT: u32 = 3;
    pub const FEED_SHIFT: u32 = 6;
    pub const OPB_STEP_BIT: u32 = 8;
    pub const OPA_WRAP_BIT: u32 = 9;
    pub const FILL_A_BIT: u32 = 10;
    pub const OPA_BASE_SHIFT: u32 = 16;
    // A fill-start word is a by-lane word with this bit set.
    pub const PLAIN_FILL_BIT: u32 = 16;
    // A fill-start word with this bit set makes its plain fills take two lanes an element.
    pub const PAIRS_BIT: u32 = 18;
    // An opa-blocks word is a by-lane word with this bit set (and its block count less one in
    // bits 9:0).
    pub const OPA_BLOCKS_BIT: u32 = 17;
    // An opb-buffer word is a by-lane word with this bit set.
    pub const OPB_BUFFER_BIT: u32 = 19;
    /// Its reduction count, in bits 15:0.
    pub const OPB_REDUCTIONS_BITS: u32 = 16;
    // A split-fill word is a by-lane word with this bit set.
    pub const SPLIT_FILL_BIT: u32 = 20;
    // An opb-across word is a by-lane word with this bit set (and its row count in bits 9:0).
    pub const OPB_ACROSS_BIT: u32 = 21;
    // A window word is a by-lane word with this bit set, its field in bits 15:12 and its value
    // in bits 11:0 (the feeder keeps OPERAND_BUFFER_ADDR_BITS of it).
    pub const WINDOW_BIT: u32 = 22;
    pub const WINDOW_FIELD_SHIFT: u32 = 12;
    pub const WINDOW_VALUE_BITS: u32 = 12;
    // Shape word.
    pub const REDUCE_SHIFT: u32 = 0;
    pub const LANES_SHIFT: u32 = 16;
}

/// PE modes as the operation word encodes them (`PeMode` order).
pub mod mode {
    pub const FORWARD: u8 = 0;
    pub const BACKWARD: u8 = 1;
    pub const GRADIENT: u8 = 2;
    pub const UPDATE: u8 = 3;
    pub const MAX: u8 = 4;
    pub const SELECT: u8 = 5;
}

/// How the feeder uses the streams (see the module documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feed {
    FillA = 0,
    FillB = 1,
    Compute = 2,
    Elementwise = 3,
}

impl Feed {
    pub const ALL: [Feed; 4] = [Feed::FillA, Feed::FillB, Feed::Compute, Feed::Elementwise];
    pub fn name(self) -> &'static str {
        match self {
            Feed::FillA => "fill_a",
            Feed::FillB => "fill_b",
            Feed::Compute => "compute",
            Feed::Elementwise => "elementwise",
        }
    }
}

/// One `pe` instruction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedSetting {
    /// PE mode (`PeMode` order: 0 forward .. 3 update, 4 max, 5 select), activation code, feed
    /// and buffer addressing.
    Op {
        mode: u8,
        act: u8,
        feed: Feed,
        opb_step: bool,
        opa_wrap: bool,
        /// Compute only: stream a fills buffer A meanwhile, as a plain fill does.
        fill_a: bool,
        /// Compute only: the buffer A entry that index 0 reads.
        opa_base: u32,
    },
    /// Terms per reduction and lanes in use (results per vector).
    Shape { reduce: u32, lanes: u32 },
    /// Learning rate (16 fraction bits) of update beats.
    Eta(u16),
    /// The fills until the next operation word go lane by lane, from entry `start` of lane 0 to
    /// entry `reduce - 1` of each lane.
    ByLane { start: u32 },
    /// The fills (plain order) until the next operation word start at entry `start`; with
    /// `pairs`, each 32-bit element carries two 16-bit operands, the low one for an even lane and
    /// the high one for the lane after it, so that a fill of neighbouring values in DRAM takes
    /// two entries a cycle.
    FillStart { start: u32, pairs: bool },
    /// Until the next operation word, an `opa_wrap` compute reads buffer A at `opa_base` plus
    /// `term * blocks + reduction % blocks`: reductions over the same terms of `blocks` blocks
    /// of operands held interleaved (entry `term * blocks + block`), so that a fill takes each
    /// term's blocks, side by side in DRAM, together.
    OpaBlocks { blocks: u32 },
    /// Until the next operation word, the broadcast operand lives in the PE's reuse buffer: a
    /// `fill_b` writes stream a's elements (their low 16 bits) to its entries 0, 1, 2, ...; a
    /// compute reads no stream b but makes `reductions` reductions, taking for term `r` of
    /// reduction `m` the entry `(m / blocks) * reduce + r` (`blocks` from an opa-blocks word,
    /// else 1), so that operands a run needs again for every block come from DRAM once per
    /// segment.
    OpbBuffer { reductions: u32 },
    /// Until the next operation word, a compute from the reuse buffer reads term `r` of
    /// reduction `m` at entry `m / blocks + r * rows` rather than `(m / blocks) * reduce + r`:
    /// operands held term by term, `rows` of them a term, as they lie in DRAM (a chunk's errors
    /// of one sample side by side), so that no step puts them row by row first. It comes before
    /// the opb-buffer word, with which the beats start.
    OpbAcross { rows: u32 },
    /// Until the next by-lane or operation word, a fill of buffer A by lane also takes stream
    /// b: stream a fills the even lanes and stream b the odd ones, two entries a cycle.
    SplitFill,
    /// One field of a window compute (all ten come before the opb-buffer word, see
    /// [`WindowField`]): the reuse buffer holds two maps, one in each half, that stream a fills
    /// in turn while the compute reads the other; term `(tz, ty, tx)` of reduction `(ry, rx)`
    /// (the first fastest) reads entry `tz * term_z_step + ty * term_y_step + tx * term_x_step +
    /// ry * red_y_step + rx * red_x_step` of its map's half, and `per_map` reductions use up a
    /// map. A convolution's forward: terms are a window's taps (kernel column, row, channel),
    /// reductions its output pixels, a map a sample's input; its weight gradient: terms are
    /// the output pixels of every sample, reductions a channel's taps, a map a channel's input
    /// over the samples.
    Window { field: WindowField, value: u32 },
}

/// The fields of a window compute (`FeedSetting::Window`), in encoding order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WindowField {
    /// Terms along the innermost term loop, and the entries from one to the next.
    TermX = 0,
    TermXStep = 1,
    /// Runs of the innermost loop along the middle one, and the entries from one to the next.
    TermY = 2,
    TermYStep = 3,
    /// Entries from one run of the middle loop to the next (the outermost term loop; the
    /// reduction's length ends it).
    TermZStep = 4,
    /// Reductions along the inner reduction loop, and the entries from one to the next.
    RedX = 5,
    RedXStep = 6,
    /// Entries from one run of the inner reduction loop to the next.
    RedYStep = 7,
    /// Reductions a map serves.
    PerMap = 8,
    /// Entries of a map (elements stream a fills into a half).
    Map = 9,
}

impl WindowField {
    pub const ALL: [WindowField; 10] = [
        WindowField::TermX,
        WindowField::TermXStep,
        WindowField::TermY,
        WindowField::TermYStep,
        WindowField::TermZStep,
        WindowField::RedX,
        WindowField::RedXStep,
        WindowField::RedYStep,
        WindowField::PerMap,
        WindowField::Map,
    ];

    pub fn name(self) -> &'static str {
        match self {
            WindowField::TermX => "term_x",
            WindowField::TermXStep => "term_x_step",
            WindowField::TermY => "term_y",
            WindowField::TermYStep => "term_y_step",
            WindowField::TermZStep => "term_z_step",
            WindowField::RedX => "red_x",
            WindowField::RedXStep => "red_x_step",
            WindowField::RedYStep => "red_y_step",
            WindowField::PerMap => "per_map",
            WindowField::Map => "map",
        }
    }
}

impl FeedSetting {
    /// The 28-bit payload.
    pub fn encode(&self) -> u32 {
        use field::*;
        match *self {
            FeedSetting::Op {
                mode,
                act,
                feed,
                opb_step,
                opa_wrap,
                fill_a,
                opa_base,
            } => {
                KIND_OP << KIND_SHIFT
                    | (mode as u32) << MODE_SHIFT
                    | (act as u32) << ACT_SHIFT
                    | (feed as u32) << FEED_SHIFT
                    | (opb_step as u32) << OPB_STEP_BIT
                    | (opa_wrap as u32) << OPA_WRAP_BIT
                    | (fill_a as u32) << FILL_A_BIT
                    | opa_base << OPA_BASE_SHIFT
            }
            FeedSetting::Shape { reduce, lanes } => {
                KIND_SHAPE << KIND_SHIFT | reduce << REDUCE_SHIFT | lanes << LANES_SHIFT
            }
            FeedSetting::Eta(e) => KIND_ETA << KIND_SHIFT | e as u32,
            FeedSetting::ByLane { start } => KIND_BY_LANE << KIND_SHIFT | start,
            FeedSetting::FillStart { start, pairs } => {
                KIND_BY_LANE << KIND_SHIFT
                    | 1 << PLAIN_FILL_BIT
                    | (pairs as u32) << PAIRS_BIT
                    | start
            }
            FeedSetting::OpaBlocks { blocks } => {
                KIND_BY_LANE << KIND_SHIFT | 1 << OPA_BLOCKS_BIT | (blocks - 1)
            }
            FeedSetting::OpbBuffer { reductions } => {
                KIND_BY_LANE << KIND_SHIFT | 1 << OPB_BUFFER_BIT | reductions
            }
            FeedSetting::SplitFill => KIND_BY_LANE << KIND_SHIFT | 1 << SPLIT_FILL_BIT,
            FeedSetting::OpbAcross { rows } => {
                KIND_BY_LANE << KIND_SHIFT | 1 << OPB_ACROSS_BIT | rows
            }
            FeedSetting::Window { field, value } => {
                KIND_BY_LANE << KIND_SHIFT
                    | 1 << WINDOW_BIT
                    | (field as u32) << WINDOW_FIELD_SHIFT
                    | value
            }
        }
    }

    pub fn decode(p: u32) -> Result<FeedSetting> {
        use field::*;
        Ok(match p >> KIND_SHIFT & 3 {
            KIND_OP => FeedSetting::Op {
                mode: (p >> MODE_SHIFT & MODE_MASK) as u8,
                act: (p >> ACT_SHIFT & 7) as u8,
                feed: Feed::ALL[(p >> FEED_SHIFT & 3) as usize],
                opb_step: p >> OPB_STEP_BIT & 1 == 1,
                opa_wrap: p >> OPA_WRAP_BIT & 1 == 1,
                fill_a: p >> FILL_A_BIT & 1 == 1,
                opa_base: p >> OPA_BASE_SHIFT & ((1 << LB) - 1),
            },
            KIND_SHAPE => FeedSetting::Shape {
                reduce: p >> REDUCE_SHIFT & ((1 << REDUCE_BITS) - 1),
                lanes: p >> LANES_SHIFT & ((1 << LANES_BITS) - 1),
            },
            KIND_ETA => FeedSetting::Eta(p as u16),
            _ if p >> WINDOW_BIT & 1 == 1 => {
                let index = (p >> WINDOW_FIELD_SHIFT & 15) as usize;
                FeedSetting::Window {
                    field: *WindowField::ALL
                        .get(index)
                        .ok_or_else(|| anyhow::anyhow!("window field {index} is not one"))?,
                    value: p & ((1 << WINDOW_VALUE_BITS) - 1),
                }
            }
            _ if p >> OPB_ACROSS_BIT & 1 == 1 => FeedSetting::OpbAcross {
                rows: p & ((1 << RB) - 1),
            },
            _ if p >> OPB_BUFFER_BIT & 1 == 1 => FeedSetting::OpbBuffer {
                reductions: p & ((1 << OPB_REDUCTIONS_BITS) - 1),
            },
            _ if p >> SPLIT_FILL_BIT & 1 == 1 => FeedSetting::SplitFill,
            _ if p >> OPA_BLOCKS_BIT & 1 == 1 => FeedSetting::OpaBlocks {
                blocks: (p & ((1 << LB) - 1)) + 1,
            },
            _ if p >> PLAIN_FILL_BIT & 1 == 1 => FeedSetting::FillStart {
                start: p & ((1 << LB) - 1),
                pairs: p >> PAIRS_BIT & 1 == 1,
            },
            _ => FeedSetting::ByLane {
                start: p & ((1 << PLAIN_FILL_BIT) - 1),
            },
        })
    }
}

#[derive(LogicBlock)]
pub struct PeFeeder {
    pub clock: Signal<In, Clock>,
    pub cfg_valid: Signal<In, Bit>,
    pub cfg_data: Signal<In, Bits<PE_CFG_BITS>>,
    pub a_valid: Signal<In, Bit>,
    pub a_data: Signal<In, Bits<32>>,
    pub a_space: Signal<Out, Bits<SPACE_BITS>>,
    pub b_valid: Signal<In, Bit>,
    pub b_data: Signal<In, Bits<32>>,
    pub b_space: Signal<Out, Bits<SPACE_BITS>>,
    pub w_valid: Signal<Out, Bit>,
    pub w_data: Signal<Out, Bits<32>>,
    pub w_ready: Signal<In, Bit>,
    pub busy: Signal<Out, Bit>,
    // The PE's beat.
    pub beat_valid: Signal<Out, Bit>,
    pub beat_first: Signal<Out, Bit>,
    pub beat_last: Signal<Out, Bit>,
    pub beat_mode: Signal<Out, PeMode>,
    pub beat_act: Signal<Out, ActFn>,
    pub beat_eta: Signal<Out, Bits<16>>,
    pub beat_bcast: Signal<Out, Bits<16>>,
    pub beat_opa: Vec<Signal<Out, Bits<32>>>,
    pub beat_opb: Vec<Signal<Out, Bits<32>>>,
    /// The beat's broadcast operand is the PE's reuse buffer entry `beat_buffer_address`.
    pub beat_from_buffer: Signal<Out, Bit>,
    pub beat_buffer_address: Signal<Out, Bits<RB>>,
    // The PE's reuse buffer's write port.
    pub buffer_write_enable: Signal<Out, Bit>,
    pub buffer_write_address: Signal<Out, Bits<RB>>,
    pub buffer_write_data: Signal<Out, Bits<16>>,
    // The PE's results.
    pub res_valid: Signal<In, Bit>,
    pub res_wide: Vec<Signal<In, Bits<32>>>,
    pub res_narrow: Vec<Signal<In, Bits<16>>>,

    fifo_a: FlitFifo<32>,
    fifo_b: FlitFifo<32>,
    buf_a: Vec<Memory<16, LB>>,
    buf_b: Vec<Memory<32, LB>>,
    areg: Vec<DFF<Bits<32>>>,
    /// Per lane: an elementwise beat loads its operands. With `capture0` and `capture1` (a
    /// result vector goes into bank 0, 1), named load conditions, so that a clock gate's enable
    /// is a signal the activity simulation sees (docs/flow.md).
    ew_load: Vec<Signal<Local, Bit>>,
    capture0: Signal<Local, Bit>,
    capture1: Signal<Local, Bit>,
    /// A settings word loads the operation (`set_op`), the reduction's shape, a window field
    /// (`set_window[k]`: field k), the reuse buffer's rows or a fill's base: named load
    /// conditions of settings registers that load once a run, for the same reason.
    set_op: Signal<Local, Bit>,
    set_shape: Signal<Local, Bit>,
    /// A settings word of kind `KIND_BY_LANE`: a fill's start, a run's blocks, a window field
    /// or how the reuse buffer is read.
    buffer_word: Signal<Local, Bit>,
    window_word: Signal<Local, Bit>,
    set_window: Vec<Signal<Local, Bit>>,
    /// Field k's code (`WindowField`), for `set_window[k]`.
    window_field: Vec<Constant<Bits<4>>>,
    set_rows: Signal<Local, Bit>,
    set_fill: Signal<Local, Bit>,
    breg: Vec<DFF<Bits<32>>>,
    // The two result banks (bank 0 and bank 1), one entry per lane.
    bank0_wide: Vec<DFF<Bits<32>>>,
    bank0_narrow: Vec<DFF<Bits<16>>>,
    bank1_wide: Vec<DFF<Bits<32>>>,
    bank1_narrow: Vec<DFF<Bits<16>>>,

    mode: DFF<Bits<MODE_BITS>>,
    act: DFF<Bits<3>>,
    feed: DFF<Bits<2>>,
    opb_step: DFF<Bit>,
    opa_wrap: DFF<Bit>,
    fill_a: DFF<Bit>,
    opa_base: DFF<Bits<LB>>,
    /// Blocks less one (0 until an opa-blocks word: one block, whose entry is the term).
    blocks_m1: DFF<Bits<LB>>,
    /// The block of the reduction in progress, and its beat's entry (`term * blocks + block`).
    block: DFF<Bits<LB>>,
    blk_entry: DFF<Bits<LB>>,
    /// An opb-buffer word came: the broadcast operand lives in the reuse buffer.
    opb_buffer: DFF<Bit>,
    /// The reuse buffer's next entry a fill writes, the entry of the reduction in progress's
    /// first term, and the beat's entry.
    rb_fill: DFF<Bits<RB>>,
    rb_row: DFF<Bits<RB>>,
    s1_rb: DFF<Bits<RB>>,
    /// An opb-across word came: its row count, the step from a term's entry to the next; and
    /// the beat's entry past its reduction's first.
    rb_across: DFF<Bit>,
    rb_rows: DFF<Bits<RB>>,
    rb_term: DFF<Bits<RB>>,
    /// Reductions left to a compute from the reuse buffer.
    rb_left: DFF<Bits<16>>,
    /// A window word came (`FeedSetting::Window`): its fields (counts less one), the fill's
    /// place (entry in the map, half), the compute's (term counters, the first entry of the
    /// term's middle run and outer run; reduction counter, reduction in the map, the first
    /// entry of its row; half), and the maps filled but not yet computed (0 to 2).
    win: DFF<Bit>,
    w_tx_m1: DFF<Bits<RB>>,
    w_tx_step: DFF<Bits<RB>>,
    w_ty_m1: DFF<Bits<RB>>,
    w_ty_step: DFF<Bits<RB>>,
    w_tz_step: DFF<Bits<RB>>,
    w_rx_m1: DFF<Bits<RB>>,
    w_rx_step: DFF<Bits<RB>>,
    w_ry_step: DFF<Bits<RB>>,
    w_per_map_m1: DFF<Bits<RB>>,
    w_map_m1: DFF<Bits<RB>>,
    w_fill_entry: DFF<Bits<RB>>,
    w_fill_half: DFF<Bit>,
    w_tx: DFF<Bits<RB>>,
    w_ty: DFF<Bits<RB>>,
    w_ty_start: DFF<Bits<RB>>,
    w_tz_start: DFF<Bits<RB>>,
    w_rx: DFF<Bits<RB>>,
    w_red: DFF<Bits<RB>>,
    w_ry_start: DFF<Bits<RB>>,
    w_rd_half: DFF<Bit>,
    w_ahead: DFF<Bits<2>>,
    reduce_m1: DFF<Bits<REDUCE_BITS>>,
    lanes_m1: DFF<Bits<LANES_BITS>>,
    eta: DFF<Bits<16>>,
    fill_lane: DFF<Bits<LANES_BITS>>,
    fill_addr: DFF<Bits<LB>>,
    /// A split fill, and stream b's lane and entry.
    split: DFF<Bit>,
    fill_lane_b: DFF<Bits<LANES_BITS>>,
    fill_addr_b: DFF<Bits<LB>>,
    by_lane: DFF<Bit>,
    pairs: DFF<Bit>,
    fill_base: DFF<Bits<LB>>,
    term: DFF<Bits<REDUCE_BITS>>,
    reduction: DFF<Bits<LB>>,
    beat: DFF<Bits<LB>>,
    s1_valid: DFF<Bit>,
    s1_first: DFF<Bit>,
    s1_last: DFF<Bit>,
    s1_ew: DFF<Bit>,
    s1_bcast: DFF<Bits<16>>,
    wr_bank: DFF<Bit>,
    rd_bank: DFF<Bit>,
    stored: DFF<Bits<2>>,
    pending: DFF<Bits<3>>,
    ser_lane: DFF<Bits<LANES_BITS>>,
    ser_half: DFF<Bit>,

    fill_go: Signal<Local, Bit>,
    fill_go_b: Signal<Local, Bit>,
    /// From a lane to the next of a fill by lane: 2 split (the streams take every other lane).
    lane_step: Signal<Local, Bits<LANES_BITS>>,
    beat_go: Signal<Local, Bit>,
    ew_go: Signal<Local, Bit>,
    result_beat: Signal<Local, Bit>,
    /// The beat is its reduction's last term (a select beat completes a result vector anyway).
    term_end: Signal<Local, Bit>,
    issue_result: Signal<Local, Bit>,
    ser_done: Signal<Local, Bit>,
    ser_word: Signal<Local, Bits<32>>,
    ser_narrow: Signal<Local, Bits<16>>,
    ser_wide: Signal<Local, Bits<32>>,
    capture: Signal<Local, Bit>,
    two_words: Signal<Local, Bit>,
    opa16: Signal<Local, Bits<16>>,
    opa_index: Signal<Local, Bits<LB>>,
    /// A fill element's low half, and what an odd lane takes: its high half in a pair fill.
    fill_lo: Signal<Local, Bits<16>>,
    fill_odd: Signal<Local, Bits<16>>,
    opa_addr: Signal<Local, Bits<LB>>,
    /// Terms per reduction, as a reuse buffer offset.
    rb_reduce: Signal<Local, Bits<RB>>,
    opa_l: Signal<Local, Bits<32>>,
    opb_l: Signal<Local, Bits<32>>,
    space_a: Signal<Local, Bits<SPACE_BITS>>,
    space_b: Signal<Local, Bits<SPACE_BITS>>,
    /// A window compute: this fill writes its map's last entry (and so completes the map); this
    /// beat ends the map's last reduction.
    w_fill_end: Signal<Local, Bit>,
    w_map_done: Signal<Local, Bit>,
    w_map_used: Signal<Local, Bit>,

    lane_id: Vec<Constant<Bits<LANES_BITS>>>,
    /// Each lane's even neighbour (itself for an even lane): the lane a pair fill addresses.
    pair_id: Vec<Constant<Bits<LANES_BITS>>>,
    /// All ones for an odd lane, which takes a pair fill's high half.
    odd_mask: Vec<Constant<Bits<16>>>,
    fifo_depth: Constant<Bits<SPACE_BITS>>,
    /// The reuse buffer's second half's first entry.
    rb_half: Constant<Bits<RB>>,
    _lanes: usize,
}

impl PeFeeder {
    pub fn new(config: &Config) -> PeFeeder {
        let lanes = config.pe.lanes;
        let depth = config.pe.lane_buffer_depth;
        PeFeeder {
            clock: Default::default(),
            cfg_valid: Default::default(),
            cfg_data: Default::default(),
            a_valid: Default::default(),
            a_data: Default::default(),
            a_space: Default::default(),
            b_valid: Default::default(),
            b_data: Default::default(),
            b_space: Default::default(),
            w_valid: Default::default(),
            w_data: Default::default(),
            w_ready: Default::default(),
            busy: Default::default(),
            beat_valid: Default::default(),
            beat_first: Default::default(),
            beat_last: Default::default(),
            beat_mode: Default::default(),
            beat_act: Default::default(),
            beat_eta: Default::default(),
            beat_bcast: Default::default(),
            beat_opa: (0..lanes).map(|_| Default::default()).collect(),
            beat_opb: (0..lanes).map(|_| Default::default()).collect(),
            beat_from_buffer: Default::default(),
            beat_buffer_address: Default::default(),
            buffer_write_enable: Default::default(),
            buffer_write_address: Default::default(),
            buffer_write_data: Default::default(),
            res_valid: Default::default(),
            res_wide: (0..lanes).map(|_| Default::default()).collect(),
            res_narrow: (0..lanes).map(|_| Default::default()).collect(),
            fifo_a: FlitFifo::new(STREAM_FIFO_DEPTH),
            fifo_b: FlitFifo::new(STREAM_FIFO_DEPTH),
            buf_a: (0..lanes).map(|_| Memory::new(depth)).collect(),
            buf_b: (0..lanes).map(|_| Memory::new(depth)).collect(),
            areg: (0..lanes).map(|_| Default::default()).collect(),
            ew_load: (0..lanes).map(|_| Default::default()).collect(),
            breg: (0..lanes).map(|_| Default::default()).collect(),
            bank0_wide: (0..lanes).map(|_| Default::default()).collect(),
            bank0_narrow: (0..lanes).map(|_| Default::default()).collect(),
            bank1_wide: (0..lanes).map(|_| Default::default()).collect(),
            bank1_narrow: (0..lanes).map(|_| Default::default()).collect(),
            mode: Default::default(),
            act: Default::default(),
            feed: Default::default(),
            opb_step: Default::default(),
            opa_wrap: Default::default(),
            fill_a: Default::default(),
            opa_base: Default::default(),
            blocks_m1: Default::default(),
            block: Default::default(),
            blk_entry: Default::default(),
            opb_buffer: Default::default(),
            rb_fill: Default::default(),
            rb_row: Default::default(),
            s1_rb: Default::default(),
            rb_across: Default::default(),
            rb_rows: Default::default(),
            rb_term: Default::default(),
            rb_left: Default::default(),
            win: Default::default(),
            w_tx_m1: Default::default(),
            w_tx_step: Default::default(),
            w_ty_m1: Default::default(),
            w_ty_step: Default::default(),
            w_tz_step: Default::default(),
            w_rx_m1: Default::default(),
            w_rx_step: Default::default(),
            w_ry_step: Default::default(),
            w_per_map_m1: Default::default(),
            w_map_m1: Default::default(),
            w_fill_entry: Default::default(),
            w_fill_half: Default::default(),
            w_tx: Default::default(),
            w_ty: Default::default(),
            w_ty_start: Default::default(),
            w_tz_start: Default::default(),
            w_rx: Default::default(),
            w_red: Default::default(),
            w_ry_start: Default::default(),
            w_rd_half: Default::default(),
            w_ahead: Default::default(),
            reduce_m1: Default::default(),
            lanes_m1: Default::default(),
            eta: Default::default(),
            fill_lane: Default::default(),
            fill_addr: Default::default(),
            split: Default::default(),
            fill_lane_b: Default::default(),
            fill_addr_b: Default::default(),
            by_lane: Default::default(),
            pairs: Default::default(),
            fill_base: Default::default(),
            term: Default::default(),
            reduction: Default::default(),
            beat: Default::default(),
            s1_valid: Default::default(),
            s1_first: Default::default(),
            s1_last: Default::default(),
            s1_ew: Default::default(),
            s1_bcast: Default::default(),
            wr_bank: Default::default(),
            rd_bank: Default::default(),
            stored: Default::default(),
            pending: Default::default(),
            ser_lane: Default::default(),
            ser_half: Default::default(),
            fill_go: Default::default(),
            fill_go_b: Default::default(),
            lane_step: Default::default(),
            beat_go: Default::default(),
            ew_go: Default::default(),
            result_beat: Default::default(),
            term_end: Default::default(),
            issue_result: Default::default(),
            ser_done: Default::default(),
            ser_word: Default::default(),
            ser_narrow: Default::default(),
            ser_wide: Default::default(),
            capture: Default::default(),
            capture0: Default::default(),
            capture1: Default::default(),
            set_op: Default::default(),
            set_shape: Default::default(),
            buffer_word: Default::default(),
            window_word: Default::default(),
            set_window: (0..WINDOW_FIELDS).map(|_| Default::default()).collect(),
            window_field: WindowField::ALL
                .iter()
                .map(|&f| Constant::new((f as u64).to_bits()))
                .collect(),
            set_rows: Default::default(),
            set_fill: Default::default(),
            two_words: Default::default(),
            opa16: Default::default(),
            opa_index: Default::default(),
            fill_lo: Default::default(),
            fill_odd: Default::default(),
            opa_addr: Default::default(),
            rb_reduce: Default::default(),
            opa_l: Default::default(),
            opb_l: Default::default(),
            space_a: Default::default(),
            space_b: Default::default(),
            w_fill_end: Default::default(),
            w_map_done: Default::default(),
            w_map_used: Default::default(),
            lane_id: (0..lanes).map(|l| Constant::new(bits(l as u64))).collect(),
            pair_id: (0..lanes)
                .map(|l| Constant::new(bits((l & !1) as u64)))
                .collect(),
            odd_mask: (0..lanes)
                .map(|l| Constant::new(bits(0xFFFF * (l % 2) as u64)))
                .collect(),
            fifo_depth: Constant::new(bits(STREAM_FIFO_DEPTH as u64)),
            rb_half: Constant::new(bits(config.pe.operand_buffer_depth as u64 / 2)),
            _lanes: lanes,
        }
    }
}

impl Logic for PeFeeder {
    #[hdl_gen]
    fn update(&mut self) {
        dff_setup!(
            self,
            clock,
            mode,
            act,
            feed,
            opb_step,
            opa_wrap,
            fill_a,
            opa_base,
            blocks_m1,
            block,
            blk_entry,
            opb_buffer,
            rb_fill,
            rb_row,
            s1_rb,
            rb_across,
            rb_rows,
            rb_term,
            rb_left,
            win,
            w_tx_m1,
            w_tx_step,
            w_ty_m1,
            w_ty_step,
            w_tz_step,
            w_rx_m1,
            w_rx_step,
            w_ry_step,
            w_per_map_m1,
            w_map_m1,
            w_fill_entry,
            w_fill_half,
            w_tx,
            w_ty,
            w_ty_start,
            w_tz_start,
            w_rx,
            w_red,
            w_ry_start,
            w_rd_half,
            w_ahead,
            reduce_m1,
            lanes_m1,
            eta,
            fill_lane,
            fill_addr,
            split,
            fill_lane_b,
            fill_addr_b,
            by_lane,
            pairs,
            fill_base,
            term,
            reduction,
            beat,
            s1_valid,
            s1_first,
            s1_last,
            s1_ew,
            s1_bcast,
            wr_bank,
            rd_bank,
            stored,
            pending,
            ser_lane,
            ser_half
        );
        self.fifo_a.clock.next = self.clock.val();
        self.fifo_b.clock.next = self.clock.val();
        self.fifo_a.push.next = self.a_valid.val();
        self.fifo_a.push_tail.next = false;
        self.fifo_a.push_data.next = self.a_data.val();
        self.fifo_b.push.next = self.b_valid.val();
        self.fifo_b.push_tail.next = false;
        self.fifo_b.push_data.next = self.b_data.val();

        // Settings. The engine sends them only while the feeder is idle.
        self.set_op.next = self.cfg_valid.val() & (self.cfg_data.val().get_bits::<2>(26) == 0);
        self.set_shape.next = self.cfg_valid.val() & (self.cfg_data.val().get_bits::<2>(26) == 1);
        self.buffer_word.next = self.cfg_valid.val() & (self.cfg_data.val().get_bits::<2>(26) == 3);
        self.set_rows.next = self.buffer_word.val() & self.cfg_data.val().get_bit(21);
        self.set_fill.next = self.buffer_word.val()
            & !self.cfg_data.val().get_bit(21)
            & !self.cfg_data.val().get_bit(19)
            & !self.cfg_data.val().get_bit(17)
            & !self.cfg_data.val().get_bit(20)
            & !self.cfg_data.val().get_bit(22);
        self.window_word.next = self.buffer_word.val() & self.cfg_data.val().get_bit(22);
        for k in 0..WINDOW_FIELDS {
            self.set_window[k].next = self.window_word.val()
                & (self.cfg_data.val().get_bits::<4>(12) == self.window_field[k].val());
        }
        // Each condition includes cfg_valid, so that a named one is its registers' whole enable.
        if self.set_op.val() {
            self.mode.d.next = self.cfg_data.val().get_bits::<MODE_BITS>(0);
            self.act.d.next = self.cfg_data.val().get_bits::<3>(3);
            self.feed.d.next = self.cfg_data.val().get_bits::<2>(6);
            self.opb_step.d.next = self.cfg_data.val().get_bit(8);
            self.opa_wrap.d.next = self.cfg_data.val().get_bit(9);
            self.fill_a.d.next = self.cfg_data.val().get_bit(10);
            self.opa_base.d.next = self.cfg_data.val().get_bits::<LB>(16);
            self.blocks_m1.d.next = 0.into();
            self.block.d.next = 0.into();
            self.blk_entry.d.next = 0.into();
            self.opb_buffer.d.next = false;
            self.rb_fill.d.next = 0.into();
            self.rb_row.d.next = 0.into();
            self.rb_across.d.next = false;
            self.rb_term.d.next = 0.into();
            self.win.d.next = false;
            self.w_fill_entry.d.next = 0.into();
            self.w_fill_half.d.next = false;
            self.w_tx.d.next = 0.into();
            self.w_ty.d.next = 0.into();
            self.w_ty_start.d.next = 0.into();
            self.w_tz_start.d.next = 0.into();
            self.w_rx.d.next = 0.into();
            self.w_red.d.next = 0.into();
            self.w_ry_start.d.next = 0.into();
            self.w_rd_half.d.next = false;
            self.w_ahead.d.next = 0.into();
            self.fill_lane.d.next = 0.into();
            self.fill_addr.d.next = 0.into();
            self.split.d.next = false;
            self.by_lane.d.next = false;
            self.pairs.d.next = false;
            self.term.d.next = 0.into();
            self.reduction.d.next = 0.into();
            self.beat.d.next = 0.into();
        }
        if self.set_shape.val() {
            self.reduce_m1.d.next = self.cfg_data.val().get_bits::<REDUCE_BITS>(0) - 1;
            self.lanes_m1.d.next = self.cfg_data.val().get_bits::<LANES_BITS>(16) - 1;
        }
        if self.cfg_valid.val() & (self.cfg_data.val().get_bits::<2>(26) == 2) {
            self.eta.d.next = self.cfg_data.val().get_bits::<16>(0);
        }
        if self.window_word.val() {
            self.win.d.next = true;
        }
        if self.set_window[0].val() {
            self.w_tx_m1.d.next = self.cfg_data.val().get_bits::<RB>(0) - 1;
        }
        if self.set_window[1].val() {
            self.w_tx_step.d.next = self.cfg_data.val().get_bits::<RB>(0);
        }
        if self.set_window[2].val() {
            self.w_ty_m1.d.next = self.cfg_data.val().get_bits::<RB>(0) - 1;
        }
        if self.set_window[3].val() {
            self.w_ty_step.d.next = self.cfg_data.val().get_bits::<RB>(0);
        }
        if self.set_window[4].val() {
            self.w_tz_step.d.next = self.cfg_data.val().get_bits::<RB>(0);
        }
        if self.set_window[5].val() {
            self.w_rx_m1.d.next = self.cfg_data.val().get_bits::<RB>(0) - 1;
        }
        if self.set_window[6].val() {
            self.w_rx_step.d.next = self.cfg_data.val().get_bits::<RB>(0);
        }
        if self.set_window[7].val() {
            self.w_ry_step.d.next = self.cfg_data.val().get_bits::<RB>(0);
        }
        if self.set_window[8].val() {
            self.w_per_map_m1.d.next = self.cfg_data.val().get_bits::<RB>(0) - 1;
        }
        if self.set_window[9].val() {
            self.w_map_m1.d.next = self.cfg_data.val().get_bits::<RB>(0) - 1;
        }
        if self.set_rows.val() {
            self.rb_across.d.next = true;
            self.rb_rows.d.next = self.cfg_data.val().get_bits::<RB>(0);
        }
        if self.buffer_word.val()
            & !self.cfg_data.val().get_bit(21)
            & self.cfg_data.val().get_bit(19)
        {
            self.opb_buffer.d.next = true;
            self.rb_left.d.next = self.cfg_data.val().get_bits::<16>(0);
        }
        if self.buffer_word.val()
            & !self.cfg_data.val().get_bit(21)
            & !self.cfg_data.val().get_bit(19)
            & self.cfg_data.val().get_bit(17)
        {
            self.blocks_m1.d.next = self.cfg_data.val().get_bits::<LB>(0);
        }
        if self.buffer_word.val()
            & !self.cfg_data.val().get_bit(21)
            & !self.cfg_data.val().get_bit(19)
            & !self.cfg_data.val().get_bit(17)
            & self.cfg_data.val().get_bit(20)
        {
            self.split.d.next = true;
            self.fill_lane_b.d.next = 1.into();
            self.fill_addr_b.d.next = self.fill_base.q.val();
        }
        if self.set_fill.val() {
            self.by_lane.d.next = !self.cfg_data.val().get_bit(16);
            self.split.d.next = false;
            self.pairs.d.next = self.cfg_data.val().get_bit(16) & self.cfg_data.val().get_bit(18);
            self.fill_lane.d.next = 0.into();
            self.fill_base.d.next = self.cfg_data.val().get_bits::<LB>(0);
            self.fill_addr.d.next = self.cfg_data.val().get_bits::<LB>(0);
        }

        // What moves this cycle. A beat that completes a result vector needs a free bank.
        // A window compute fills the reuse buffer's other half while it holds a map not yet
        // computed.
        self.fill_go.next = ((self.feed.q.val() < 2)
            | ((self.feed.q.val() == 2) & (self.fill_a.q.val() | self.win.q.val())))
            & self.fifo_a.valid.val()
            & !(self.win.q.val() & (self.w_ahead.q.val() == 2));
        self.fill_go_b.next = (self.feed.q.val() == 0)
            & self.split.q.val()
            & self.by_lane.q.val()
            & self.fifo_b.valid.val();
        self.term_end.next = self.term.q.val() == self.reduce_m1.q.val();
        self.result_beat.next = self.term_end.val() | (self.mode.q.val() == 5);
        if self.feed.q.val() == 3 {
            self.result_beat.next = bit_cast::<REDUCE_BITS, LANES_BITS>(self.fill_lane.q.val())
                == bit_cast::<REDUCE_BITS, LANES_BITS>(self.lanes_m1.q.val());
        }
        self.issue_result.next = false;
        self.beat_go.next = false;
        self.ew_go.next = false;
        if !self.result_beat.val() | (self.pending.q.val() < 2) {
            self.beat_go.next = (self.feed.q.val() == 2)
                & ((self.fifo_b.valid.val() & !self.opb_buffer.q.val())
                    | (self.opb_buffer.q.val() & (self.rb_left.q.val() != 0)))
                & !(self.win.q.val() & (self.w_ahead.q.val() == 0));
            self.ew_go.next =
                (self.feed.q.val() == 3) & self.fifo_a.valid.val() & self.fifo_b.valid.val();
        }
        self.issue_result.next = (self.beat_go.val() | self.ew_go.val()) & self.result_beat.val();
        self.fifo_a.pop.next = self.fill_go.val() | self.ew_go.val();
        self.fifo_b.pop.next = (self.beat_go.val() & !self.opb_buffer.q.val())
            | self.ew_go.val()
            | self.fill_go_b.val();
        // A fill of the reuse buffer, and the entry of a beat's broadcast operand.
        self.buffer_write_enable.next = self.fill_go.val()
            & self.opb_buffer.q.val()
            & ((self.feed.q.val() == 1) | ((self.feed.q.val() == 2) & self.win.q.val()));
        self.buffer_write_address.next = self.rb_fill.q.val();
        self.buffer_write_data.next = self.fifo_a.head_data.val().get_bits::<16>(0);
        self.w_fill_end.next = self.w_fill_entry.q.val() == self.w_map_m1.q.val();
        self.w_map_done.next =
            self.buffer_write_enable.val() & self.win.q.val() & self.w_fill_end.val();
        if self.buffer_write_enable.val() {
            self.rb_fill.d.next = self.rb_fill.q.val() + 1;
            if self.win.q.val() {
                self.w_fill_entry.d.next = self.w_fill_entry.q.val() + 1;
            }
            // A window compute's map ends: the next goes into the other half.
            if self.w_map_done.val() {
                self.w_fill_entry.d.next = 0.into();
                self.w_fill_half.d.next = !self.w_fill_half.q.val();
                self.rb_fill.d.next = 0.into();
                if !self.w_fill_half.q.val() {
                    self.rb_fill.d.next = self.rb_half.val();
                }
            }
        }
        self.rb_reduce.next = bit_cast::<RB, REDUCE_BITS>(self.reduce_m1.q.val()) + 1;

        self.opa_index.next = self.beat.q.val();
        if self.opa_wrap.q.val() {
            self.opa_index.next = self.blk_entry.q.val();
        }
        // A select reduction's terms all take its own entry: one stored position for a window.
        if self.mode.q.val() == 5 {
            self.opa_index.next = self.reduction.q.val();
        }
        self.opa_addr.next = self.opa_base.q.val() + self.opa_index.val();
        self.fill_lo.next = self.fifo_a.head_data.val().get_bits::<16>(0);
        self.fill_odd.next = self.fill_lo.val();
        if self.pairs.q.val() {
            self.fill_odd.next = self.fifo_a.head_data.val().get_bits::<16>(16);
        }
        // Fills and element-wise operands: element k goes to lane k % lanes (fills by lane: see
        // the module documentation).
        for l in 0..self._lanes {
            self.buf_a[l].clock.next = self.clock.val();
            self.buf_b[l].clock.next = self.clock.val();
            self.buf_b[l].write_address.next = self.fill_addr.q.val();
            self.buf_b[l].write_data.next = self.fifo_a.head_data.val();
            if self.fill_go_b.val() & (self.fill_lane_b.q.val() == self.lane_id[l].val()) {
                self.buf_a[l].write_address.next = self.fill_addr_b.q.val();
                self.buf_a[l].write_data.next = self.fifo_b.head_data.val().get_bits::<16>(0);
                self.buf_a[l].write_enable.next = true;
            } else {
                self.buf_a[l].write_address.next = self.fill_addr.q.val();
                self.buf_a[l].write_data.next = (self.fill_lo.val() & !self.odd_mask[l].val())
                    | (self.fill_odd.val() & self.odd_mask[l].val());
                self.buf_a[l].write_enable.next = self.fill_go.val()
                    & (self.feed.q.val() != 1)
                    & !self.win.q.val()
                    & ((!self.pairs.q.val() & (self.fill_lane.q.val() == self.lane_id[l].val()))
                        | (self.pairs.q.val() & (self.fill_lane.q.val() == self.pair_id[l].val())));
            }
            self.buf_b[l].write_enable.next = self.fill_go.val()
                & (self.feed.q.val() == 1)
                & !self.opb_buffer.q.val()
                & (self.fill_lane.q.val() == self.lane_id[l].val());
            self.areg[l].clock.next = self.clock.val();
            self.breg[l].clock.next = self.clock.val();
            self.areg[l].d.next = self.areg[l].q.val();
            self.breg[l].d.next = self.breg[l].q.val();
            self.ew_load[l].next =
                self.ew_go.val() & (self.fill_lane.q.val() == self.lane_id[l].val());
            if self.ew_load[l].val() {
                self.areg[l].d.next = self.fifo_a.head_data.val();
                self.breg[l].d.next = self.fifo_b.head_data.val();
            }
            // Buffer reads for the beat issued now; the data arrive with stage 1.
            self.buf_a[l].read_address.next = self.opa_addr.val();
            self.buf_b[l].read_address.next = 0.into();
            if self.opb_step.q.val() {
                self.buf_b[l].read_address.next = self.reduction.q.val();
            }
        }
        self.lane_step.next = 1.into();
        if self.split.q.val() {
            self.lane_step.next = 2.into();
        }
        if self.fill_go.val() & self.by_lane.q.val() {
            if bit_cast::<REDUCE_BITS, LB>(self.fill_addr.q.val()) == self.reduce_m1.q.val() {
                self.fill_addr.d.next = self.fill_base.q.val();
                self.fill_lane.d.next = self.fill_lane.q.val() + self.lane_step.val();
            } else {
                self.fill_addr.d.next = self.fill_addr.q.val() + 1;
            }
        }
        if (self.fill_go.val() & !self.by_lane.q.val() & !self.pairs.q.val()) | self.ew_go.val() {
            if self.fill_lane.q.val() == self.lanes_m1.q.val() {
                self.fill_lane.d.next = 0.into();
                self.fill_addr.d.next = self.fill_addr.q.val() + 1;
            } else {
                self.fill_lane.d.next = self.fill_lane.q.val() + 1;
            }
        }
        if self.fill_go_b.val() {
            if bit_cast::<REDUCE_BITS, LB>(self.fill_addr_b.q.val()) == self.reduce_m1.q.val() {
                self.fill_addr_b.d.next = self.fill_base.q.val();
                self.fill_lane_b.d.next = self.fill_lane_b.q.val() + 2;
            } else {
                self.fill_addr_b.d.next = self.fill_addr_b.q.val() + 1;
            }
        }
        if self.fill_go.val() & self.pairs.q.val() {
            if self.fill_lane.q.val() + 1 == self.lanes_m1.q.val() {
                self.fill_lane.d.next = 0.into();
                self.fill_addr.d.next = self.fill_addr.q.val() + 1;
            } else {
                self.fill_lane.d.next = self.fill_lane.q.val() + 2;
            }
        }
        if self.beat_go.val() {
            self.beat.d.next = self.beat.q.val() + 1;
            if self.term_end.val() {
                self.term.d.next = 0.into();
                self.reduction.d.next = self.reduction.q.val() + 1;
                self.block.d.next = self.block.q.val() + 1;
                self.blk_entry.d.next = self.block.q.val() + 1;
                self.rb_term.d.next = 0.into();
                if self.block.q.val() == self.blocks_m1.q.val() {
                    self.block.d.next = 0.into();
                    self.blk_entry.d.next = 0.into();
                    self.rb_row.d.next = self.rb_row.q.val() + self.rb_reduce.val();
                    if self.rb_across.q.val() {
                        self.rb_row.d.next = self.rb_row.q.val() + 1;
                    }
                }
                if self.opb_buffer.q.val() {
                    self.rb_left.d.next = self.rb_left.q.val() - 1;
                }
                // A window compute: the next reduction's first entry, in the other half after
                // the map's last.
                if self.win.q.val() {
                    self.w_tx.d.next = 0.into();
                    self.w_ty.d.next = 0.into();
                    self.w_ty_start.d.next = 0.into();
                    self.w_tz_start.d.next = 0.into();
                    self.w_rx.d.next = self.w_rx.q.val() + 1;
                    self.w_red.d.next = self.w_red.q.val() + 1;
                    self.rb_row.d.next = self.rb_row.q.val() + self.w_rx_step.q.val();
                    if self.w_rx.q.val() == self.w_rx_m1.q.val() {
                        self.w_rx.d.next = 0.into();
                        self.w_ry_start.d.next = self.w_ry_start.q.val() + self.w_ry_step.q.val();
                        self.rb_row.d.next = self.w_ry_start.q.val() + self.w_ry_step.q.val();
                    }
                    if self.w_red.q.val() == self.w_per_map_m1.q.val() {
                        self.w_rx.d.next = 0.into();
                        self.w_red.d.next = 0.into();
                        self.w_rd_half.d.next = !self.w_rd_half.q.val();
                        self.w_ry_start.d.next = 0.into();
                        self.rb_row.d.next = 0.into();
                        if !self.w_rd_half.q.val() {
                            self.w_ry_start.d.next = self.rb_half.val();
                            self.rb_row.d.next = self.rb_half.val();
                        }
                    }
                }
            } else {
                self.term.d.next = self.term.q.val() + 1;
                self.blk_entry.d.next = self.blk_entry.q.val() + self.blocks_m1.q.val() + 1;
                self.rb_term.d.next = self.rb_term.q.val() + 1;
                if self.rb_across.q.val() {
                    self.rb_term.d.next = self.rb_term.q.val() + self.rb_rows.q.val();
                }
                // A window compute's terms: along the inner loop, then the middle, then the
                // outer.
                if self.win.q.val() {
                    self.w_tx.d.next = self.w_tx.q.val() + 1;
                    self.rb_term.d.next = self.rb_term.q.val() + self.w_tx_step.q.val();
                    if self.w_tx.q.val() == self.w_tx_m1.q.val() {
                        self.w_tx.d.next = 0.into();
                        self.w_ty.d.next = self.w_ty.q.val() + 1;
                        self.w_ty_start.d.next = self.w_ty_start.q.val() + self.w_ty_step.q.val();
                        self.rb_term.d.next = self.w_ty_start.q.val() + self.w_ty_step.q.val();
                        if self.w_ty.q.val() == self.w_ty_m1.q.val() {
                            self.w_ty.d.next = 0.into();
                            self.w_tz_start.d.next =
                                self.w_tz_start.q.val() + self.w_tz_step.q.val();
                            self.w_ty_start.d.next =
                                self.w_tz_start.q.val() + self.w_tz_step.q.val();
                            self.rb_term.d.next = self.w_tz_start.q.val() + self.w_tz_step.q.val();
                        }
                    }
                }
            }
        }
        self.w_map_used.next = self.beat_go.val()
            & self.win.q.val()
            & self.term_end.val()
            & (self.w_red.q.val() == self.w_per_map_m1.q.val());
        if self.w_map_done.val() & !self.w_map_used.val() {
            self.w_ahead.d.next = self.w_ahead.q.val() + 1;
        }
        if !self.w_map_done.val() & self.w_map_used.val() {
            self.w_ahead.d.next = self.w_ahead.q.val() - 1;
        }

        // Stage 1: the beat, with the buffers' read data, goes to the PE.
        self.s1_valid.d.next = self.beat_go.val() | (self.ew_go.val() & self.result_beat.val());
        self.s1_ew.d.next = self.ew_go.val();
        self.s1_first.d.next = self.term.q.val() == 0;
        self.s1_last.d.next = self.result_beat.val();
        self.s1_bcast.d.next = self.fifo_b.head_data.val().get_bits::<16>(0);
        self.s1_rb.d.next = self.rb_row.q.val() + self.rb_term.q.val();
        self.beat_from_buffer.next = self.opb_buffer.q.val();
        self.beat_buffer_address.next = self.s1_rb.q.val();
        self.beat_valid.next = self.s1_valid.q.val();
        self.beat_first.next = self.s1_first.q.val();
        self.beat_last.next = self.s1_last.q.val();
        self.beat_bcast.next = self.s1_bcast.q.val();
        self.beat_eta.next = self.eta.q.val();
        self.beat_mode.next = PeMode::Forward;
        if self.mode.q.val() == 1 {
            self.beat_mode.next = PeMode::Backward;
        }
        if self.mode.q.val() == 2 {
            self.beat_mode.next = PeMode::Gradient;
        }
        if self.mode.q.val() == 3 {
            self.beat_mode.next = PeMode::Update;
        }
        if self.mode.q.val() == 4 {
            self.beat_mode.next = PeMode::Max;
        }
        if self.mode.q.val() == 5 {
            self.beat_mode.next = PeMode::Select;
        }
        self.beat_act.next = ActFn::Identity;
        if self.act.q.val() == 1 {
            self.beat_act.next = ActFn::Relu;
        }
        if self.act.q.val() == 2 {
            self.beat_act.next = ActFn::LeakyRelu;
        }
        if self.act.q.val() == 3 {
            self.beat_act.next = ActFn::Sigmoid;
        }
        if self.act.q.val() == 4 {
            self.beat_act.next = ActFn::Tanh;
        }
        for l in 0..self._lanes {
            self.opa16.next = self.buf_a[l].read_data.val();
            self.opa_l.next = bit_cast::<32, 16>(self.opa16.val());
            self.opb_l.next = self.buf_b[l].read_data.val();
            if self.s1_ew.q.val() {
                self.opa_l.next = self.areg[l].q.val();
                self.opb_l.next = self.breg[l].q.val();
            }
            self.beat_opa[l].next = self.opa_l.val();
            self.beat_opb[l].next = self.opb_l.val();
        }

        // Results: a vector per result beat into a bank, then out one lane at a time.
        self.capture.next = self.res_valid.val();
        self.capture0.next = self.capture.val() & !self.wr_bank.q.val();
        self.capture1.next = self.capture.val() & self.wr_bank.q.val();
        for l in 0..self._lanes {
            self.bank0_wide[l].clock.next = self.clock.val();
            self.bank0_narrow[l].clock.next = self.clock.val();
            self.bank1_wide[l].clock.next = self.clock.val();
            self.bank1_narrow[l].clock.next = self.clock.val();
            self.bank0_wide[l].d.next = self.bank0_wide[l].q.val();
            self.bank0_narrow[l].d.next = self.bank0_narrow[l].q.val();
            self.bank1_wide[l].d.next = self.bank1_wide[l].q.val();
            self.bank1_narrow[l].d.next = self.bank1_narrow[l].q.val();
            if self.capture0.val() {
                self.bank0_wide[l].d.next = self.res_wide[l].val();
                self.bank0_narrow[l].d.next = self.res_narrow[l].val();
            }
            if self.capture1.val() {
                self.bank1_wide[l].d.next = self.res_wide[l].val();
                self.bank1_narrow[l].d.next = self.res_narrow[l].val();
            }
        }
        if self.capture.val() {
            self.wr_bank.d.next = !self.wr_bank.q.val();
        }
        self.ser_wide.next = 0.into();
        self.ser_narrow.next = 0.into();
        for l in 0..self._lanes {
            if self.ser_lane.q.val() == self.lane_id[l].val() {
                if self.rd_bank.q.val() {
                    self.ser_wide.next = self.bank1_wide[l].q.val();
                    self.ser_narrow.next = self.bank1_narrow[l].q.val();
                } else {
                    self.ser_wide.next = self.bank0_wide[l].q.val();
                    self.ser_narrow.next = self.bank0_narrow[l].q.val();
                }
            }
        }
        self.ser_word.next = bit_cast::<32, 16>(self.ser_narrow.val());
        if self.ser_narrow.val().get_bit(15) {
            self.ser_word.next = bit_cast::<32, 16>(self.ser_narrow.val()) | 0xFFFF_0000_u64;
        }
        // Gradient and update write the wide word; max writes two words per lane, the wide one
        // first. An update's MAC weight is not written: reads derive it from the master.
        self.two_words.next = self.mode.q.val() == 4;
        if (self.mode.q.val() == 2)
            | (self.mode.q.val() == 3)
            | (self.two_words.val() & !self.ser_half.q.val())
        {
            self.ser_word.next = self.ser_wide.val();
        }
        self.w_valid.next = self.stored.q.val() != 0;
        self.w_data.next = self.ser_word.val();
        self.ser_done.next = false;
        if (self.stored.q.val() != 0) & self.w_ready.val() {
            if self.two_words.val() & !self.ser_half.q.val() {
                self.ser_half.d.next = true;
            } else {
                self.ser_half.d.next = false;
                if self.ser_lane.q.val() == self.lanes_m1.q.val() {
                    self.ser_lane.d.next = 0.into();
                    self.ser_done.next = true;
                    self.rd_bank.d.next = !self.rd_bank.q.val();
                } else {
                    self.ser_lane.d.next = self.ser_lane.q.val() + 1;
                }
            }
        }
        if self.capture.val() & !self.ser_done.val() {
            self.stored.d.next = self.stored.q.val() + 1;
        }
        if !self.capture.val() & self.ser_done.val() {
            self.stored.d.next = self.stored.q.val() - 1;
        }
        if self.issue_result.val() & !self.ser_done.val() {
            self.pending.d.next = self.pending.q.val() + 1;
        }
        if !self.issue_result.val() & self.ser_done.val() {
            self.pending.d.next = self.pending.q.val() - 1;
        }

        // Free places for the engine: the FIFO's, less one for an element on its way in.
        self.space_a.next = 0.into();
        self.space_b.next = 0.into();
        if self.fifo_a.occupancy.val() < self.fifo_depth.val() {
            self.space_a.next = self.fifo_depth.val() - self.fifo_a.occupancy.val() - 1;
        }
        if self.fifo_b.occupancy.val() < self.fifo_depth.val() {
            self.space_b.next = self.fifo_depth.val() - self.fifo_b.occupancy.val() - 1;
        }
        self.a_space.next = self.space_a.val();
        self.b_space.next = self.space_b.val();
        self.busy.next = self.fifo_a.valid.val()
            | self.fifo_b.valid.val()
            | self.s1_valid.q.val()
            | (self.pending.q.val() != 0)
            | (self.fill_lane.q.val() != 0) & (self.feed.q.val() == 3)
            | self.opb_buffer.q.val() & (self.feed.q.val() == 2) & (self.rb_left.q.val() != 0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn op_words_round_trip_every_mode_activation_and_feed() {
        for (mode, _) in PeMode::ALL.iter().enumerate() {
            for (act, _) in ActFn::ALL.iter().enumerate() {
                for feed in Feed::ALL {
                    for (opb_step, opa_wrap, fill_a, opa_base) in
                        [(false, true, true, 0), (true, false, false, (1 << LB) - 1)]
                    {
                        let s = FeedSetting::Op {
                            mode: mode as u8,
                            act: act as u8,
                            feed,
                            opb_step,
                            opa_wrap,
                            fill_a,
                            opa_base,
                        };
                        assert_eq!(FeedSetting::decode(s.encode()).unwrap(), s);
                        assert!(s.encode() < 1 << PE_CFG_BITS);
                    }
                }
            }
        }
        for s in [
            FeedSetting::ByLane { start: 0 },
            FeedSetting::ByLane { start: 1023 },
            FeedSetting::FillStart {
                start: 0,
                pairs: false,
            },
            FeedSetting::FillStart {
                start: 1023,
                pairs: true,
            },
            FeedSetting::OpaBlocks { blocks: 1 },
            FeedSetting::OpaBlocks { blocks: 1024 },
            FeedSetting::OpbBuffer { reductions: 0 },
            FeedSetting::OpbBuffer { reductions: 65535 },
            FeedSetting::OpbAcross { rows: 1 },
            FeedSetting::OpbAcross { rows: 2047 },
            FeedSetting::Window {
                field: WindowField::TermX,
                value: 1,
            },
            FeedSetting::Window {
                field: WindowField::Map,
                value: 4095,
            },
        ] {
            assert_eq!(FeedSetting::decode(s.encode()).unwrap(), s);
        }
    }
}
