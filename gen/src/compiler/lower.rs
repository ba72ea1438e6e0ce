//! Lowering of a network to segments (see [`super`] for the execution model): the memory layout
//! of every layer, then the phases layer by layer. Fully connected and Elman recurrent layers are
//! lowered here; convolutions in [`super::conv`], max pooling in [`super::pool`].
//!
//! Both are matrix products on the PE; per chunk of `K` outputs (lanes):
//! - forward: buffer A <- MAC weight rows (entry i of lane k holds `W[j0+k][i]`), buffer B <-
//!   biases; stream b = the input vector of each sample, one reduction per sample;
//! - output error: buffer A <- `y, t` pairs per sample, buffer B <- `y`; stream b = `+1, -1` per
//!   sample; a backward-mode reduction of two terms gives `q(sat16(y - t) * f'(y))`;
//! - error at the layer's input (lanes over the inputs): buffer A <- `W[j][i0+k]` read across
//!   the rows (the transpose is the stride order), buffer B <- the stored input values (for the
//!   derivative); stream b = the errors of each sample;
//! - gradient (fully connected): lanes over a block of inputs, buffer A <- `x[b][i0+k]`; stream
//!   b = the errors of one output across the batch, for each output of the chunk: one reduction
//!   over the batch per weight (lanes over the outputs where that program is too long, see
//!   [`fc_gradient_by_inputs`]); bias gradients with buffer A <- the chunk's errors and stream
//!   b = the constant 1.0;
//! - update: element-wise, stream a = master weights, stream b = gradients; the new master and
//!   MAC weight go back into the records; then each tile receives the MAC weights of the
//!   columns its backward product reads across the rows (see [`exchange_columns`]).
//!
//! An Elman layer keeps, per sample and step s, the vector `u_s = [x_s, h_s]` contiguous in
//! DRAM (`h_0 = 0`), so that step s is one product with the concatenated rows `[W_x W_h]` (two
//! buffer fills, one reduction of `n + H` terms), and its result `h_{s+1}` is written straight
//! into `u_{s+1}`. The first step's reductions stop after its `n` inputs, since `h_0` adds
//! nothing. The weight gradient of `[W_x W_h]` is one reduction over batch and steps, without
//! the first step's terms for `W_h`. Backpropagation through time runs the input-error product
//! with `W_h` once per step.
//!
//! Convolutions and pools partition by channel (one channel per lane), with the same chunks, so
//! that a pool finds its input, and a convolution its routed error, in its own vault. An rnn after
//! a feature map reads its `x_s` straight from the producer, which writes its output into the
//! rnn's `[x_s, h_s]` rows; the rnn's input error `W_x^T delta_s` (lanes over features, one
//! reduction per sample and step, the derivative of the activation before the map) is written
//! step by step in the feature order, which is the map's error layout for that consumer.

use super::conv::{self, ConvLayout};
use super::image::{alloc_error, alloc_output, ImageView, RnnRows};
use super::memory_map::{MemoryMap, RECORD_BYTES};
use super::mesh_rounds;
use super::partition::{chunks, deal_order, of_tile, Chunk};
use super::pool::{self, PoolLayout, WINDOW};
use super::program::{self, mode, op, shape, Access};
use super::{
    GoldenRef, MacCopy, ParamKind, ParamPlaces, ParamRef, Phase, Plan, Segment, TensorCheck,
};
use super::{ACT, GRAD};
use anyhow::{bail, Result};
use nt_hdl::config::Config;
use nt_hdl::dataflow_program::encode;
use nt_hdl::dataflow_program::{Dest, Instr, Slot, MAX_ELEMENT_BYTES};
use nt_hdl::dram_config::DramConfig;
use nt_hdl::host_interface::PROGRAM_WINDOW;
use nt_hdl::pe_feeder::{Feed, FeedSetting, WindowField};
use nt_testbench::golden::Activation;
use nt_testbench::network::{Layer, Network, Shape};

pub const CONST_REGION: &str = "const";
/// The constants are 1.0 and -1.0 (output error and bias gradients), then the pool window
/// positions 0..3 (the broadcast operand of routing), which start here, then a 32-bit zero (a
/// bias of nothing).
const KONST_POSITIONS: u64 = 2 * ACT;
const KONST_ZERO: u64 = KONST_POSITIONS + WINDOW as u64 * ACT;

/// Activations of a batch: element `(b, i)` at `base + b * sample + 2 * i`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct View {
    pub base: u64,
    pub sample: u64,
    pub n: usize,
}

impl View {
    fn at(&self, b: usize, i: usize) -> u64 {
        self.base + b as u64 * self.sample + ACT * i as u64
    }
    /// Elements `start..start+len` of every sample, element fastest.
    fn block(&self, start: usize, len: usize, batch: usize) -> Access {
        Access::new(
            self.base + ACT * start as u64,
            ACT as u32,
            &[(len, ACT as i64), (batch, self.sample as i64)],
        )
    }
    /// Every sample's vector, one after another.
    fn samples(&self, batch: usize) -> Access {
        self.block(0, self.n, batch)
    }
}

/// One layer as lowered.
struct Lowered {
    name: String,
    kind: Kind,
    /// Where the layer's output lives (what the next layer reads).
    out: View,
    /// Where the error at the layer's output is written.
    err: View,
    act: u8,
    chunks: Vec<Chunk>,
    /// Weight and bias records.
    w: u64,
    b: u64,
    gw: u64,
    gb: u64,
    /// The MAC weights as the backward products read them across the rows (see
    /// [`ColumnExchange::copy`]), for layers that have such products over at least
    /// [`MAC_COPY_MIN_ROWS`] rows.
    wc: Option<u64>,
    /// The layer computes the error at its input.
    input_error: bool,
}

enum Kind {
    Fc {
        n_in: usize,
        /// The errors at the output transposed for the weight gradient: `dt[o][b]`.
        dt: u64,
    },
    Rnn {
        n: usize,
        hidden: usize,
        steps: usize,
        /// `u[b][s] = [x_s, h_s]` for s = 0..=steps.
        u: u64,
        /// Errors of `h_1..h_T`: `d[b][s][j]`.
        d: u64,
        /// The errors transposed for the weight gradient: `dt[j][b * steps + s]`.
        dt: u64,
    },
    Conv(ConvLayout),
    Pool(PoolLayout),
}

impl Lowered {
    /// The output as an image (convolutions and pools).
    fn image_out(&self) -> Option<ImageView> {
        match &self.kind {
            Kind::Conv(c) => Some(c.y),
            Kind::Pool(p) => Some(p.y),
            _ => None,
        }
    }

    /// The error at the output as an image (convolutions and pools).
    fn image_err(&self) -> Option<ImageView> {
        match &self.kind {
            Kind::Conv(c) => Some(c.d),
            Kind::Pool(p) => Some(p.e),
            _ => None,
        }
    }
}

/// Where a compute's broadcast operand comes from.
#[derive(Clone, Copy)]
pub(super) enum Broadcast<'a> {
    /// Stream b, an element a beat.
    Stream(&'a Access),
    /// The PE's reuse buffer (see `FeedSetting::OpbBuffer`), for so many reductions; held term
    /// by term, so many rows a term, where `across` (`FeedSetting::OpbAcross`).
    Buffer {
        reductions: usize,
        across: Option<usize>,
    },
    /// The reuse buffer, each reduction a window out of the maps stream a brings ([`Windows`]).
    Window(&'a Windows),
}

/// A window compute (`FeedSetting::Window`): its ten words, the maps stream a brings into the
/// reuse buffer's halves while the compute reads them, and the compute's reductions.
pub(super) struct Windows {
    pub(super) fields: [(WindowField, usize); 10],
    pub(super) maps: Access,
    pub(super) reductions: usize,
}

/// A fill run takes two streams only where its DRAM bursts, back to back, take at most this share
/// (numerator, denominator) of the cycles one stream takes, an element a cycle: nearer the
/// DRAM's bandwidth a second stream would add row conflicts more than speed.
const SPLIT_FILL_DRAM_SHARE: (u64, u64) = (3, 4);

/// Builds one segment from per-tile programs.
#[derive(Clone)]
pub(super) struct SegmentBuilder {
    pub(super) seg: Segment,
    /// The vault's DRAM: its bursts are the unit a fill's two element orders are costed in, and
    /// its banks decide whether a fill may take two streams.
    dram: DramConfig,
}

/// Whether a fill of buffer A by `a` is a pair fill: its elements hold two 16-bit operands.
fn is_pairs(a: &Access) -> bool {
    a.size as u64 == 2 * ACT && !a.narrow
}

fn nest(a: &Access) -> String {
    let loops: Vec<String> = a.loops.iter().map(|(c, s)| format!("{c}x{s:+}")).collect();
    let narrow = if a.narrow { " as MAC" } else { "" };
    format!("@{:#x} {}B{narrow} [{}]", a.base, a.size, loops.join(" "))
}

impl SegmentBuilder {
    pub(super) fn new(
        label: String,
        layer: usize,
        tiles: usize,
        dram: &DramConfig,
    ) -> SegmentBuilder {
        SegmentBuilder {
            seg: Segment {
                label,
                layer,
                programs: vec![vec![]; tiles],
                macs: 0,
                bytes_read: 0,
                bytes_written: 0,
                noc_elements: 0,
                nests: vec![],
            },
            dram: dram.clone(),
        }
    }

    pub(super) fn push(&mut self, tile: usize, i: Instr) {
        self.seg.programs[tile].push(i);
    }

    /// Fills buffer A or B with the accesses (lanes innermost: element k of a part to lane
    /// `k % lanes`), one run each, entries continuing across them. Where taking each lane's
    /// entries in turn costs fewer DRAM bursts (a lane's entries side by side in DRAM, the lanes
    /// apart), the runs go lane by lane instead, and those of buffer A take two streams where
    /// the DRAM can serve them (see [`SegmentBuilder::split`]).
    pub(super) fn fill(&mut self, tile: usize, buffer_b: bool, lanes: usize, parts: &[Access]) {
        let what = if buffer_b { "fill B" } else { "fill A" };
        let feed = if buffer_b { Feed::FillB } else { Feed::FillA };
        self.push(tile, program::fill_op(feed));
        self.seg.bytes_read += parts.iter().map(Access::bytes).sum::<u64>();
        if let Some(by_lane) = self.by_lane(lanes, parts) {
            let mut start = 0;
            for a in &by_lane {
                let entries = a.elements() as usize / lanes;
                self.push(tile, shape(start + entries, lanes));
                self.push(tile, program::by_lane(start));
                match self.split(a).filter(|_| !buffer_b) {
                    Some((even, odd)) => {
                        self.push(tile, program::split_fill());
                        self.push(tile, even.stream(Slot::A, Dest::Pe));
                        self.push(tile, odd.stream(Slot::B, Dest::Pe));
                        let text = format!("{what} by lane {} and {}", nest(&even), nest(&odd));
                        self.seg.nests.push((tile, text));
                    }
                    None => {
                        self.push(tile, a.stream(Slot::A, Dest::Pe));
                        let text = format!("{what} by lane {}", nest(a));
                        self.seg.nests.push((tile, text));
                    }
                }
                self.push(tile, Instr::Run);
                start += entries;
            }
            return;
        }
        self.push(tile, shape(1, lanes));
        // Buffer A's operands are 16-bit: parts of 4-byte elements fill two lanes an element.
        // 16-bit parts whose neighbours lie side by side go so too, two entries a cycle (an
        // element's halves are consecutive elements, so for an even number of lanes they land
        // where one element each would).
        let widened: Vec<Access> = parts.iter().map(|a| a.widened(2 * ACT as u32)).collect();
        let parts = if !buffer_b && lanes.is_multiple_of(2) && widened.iter().all(is_pairs) {
            &widened[..]
        } else {
            parts
        };
        if !buffer_b && parts.iter().all(is_pairs) {
            self.push(tile, program::pair_fill_start(0));
        }
        for a in parts {
            self.push(tile, a.stream(Slot::A, Dest::Pe));
            self.push(tile, Instr::Run);
            self.seg.nests.push((tile, format!("{what} {}", nest(a))));
        }
    }

    /// A fill run by lane (`a`, its lanes' loop the last) split between streams a and b, two
    /// entries a cycle: the even lanes' on stream a, the odd lanes' on stream b. Only where the
    /// DRAM serves both: the run's bursts, back to back, take at most [`SPLIT_FILL_DRAM_SHARE`]
    /// of the cycles of one stream, and neighbouring lanes start in different banks (or in one
    /// row), which the two streams keep apart as they go on side by side.
    fn split(&self, a: &Access) -> Option<(Access, Access)> {
        let d = &self.dram;
        let burst = d.burst_bytes() as u64;
        let beats = burst / d.bytes_per_cycle as u64;
        let (most, of) = SPLIT_FILL_DRAM_SHARE;
        let &(lanes, stride) = a.loops.last()?;
        if lanes < 2 || a.bursts(burst) * beats * of > a.elements() * most {
            return None;
        }
        let lanes_of = |first: usize| {
            let mut half = a.clone();
            half.base = (a.base as i64 + first as i64 * stride) as u64;
            *half.loops.last_mut().expect("a lanes' loop") =
                ((lanes - first).div_ceil(2), 2 * stride);
            half
        };
        let (even, odd) = (lanes_of(0), lanes_of(1));
        let row = d.row_bytes as u64;
        let apart =
            d.bank_of(even.base) != d.bank_of(odd.base) || even.base / row == odd.base / row;
        apart.then_some((even, odd))
    }

    /// The parts in lane-by-lane order (each part's lane loop outermost), if that costs fewer
    /// DRAM bursts than the parts as they are.
    fn by_lane(&self, lanes: usize, parts: &[Access]) -> Option<Vec<Access>> {
        if lanes < 2
            || parts
                .iter()
                .any(|a| a.loops.len() < 2 || a.loops[0].0 != lanes)
        {
            return None;
        }
        let by_lane: Vec<Access> = parts
            .iter()
            .map(|a| {
                let mut loops = a.loops[1..].to_vec();
                loops.push(a.loops[0]);
                Access { loops, ..a.clone() }
            })
            .collect();
        let burst = self.dram.burst_bytes() as u64;
        let cost = |v: &[Access]| v.iter().map(|a| a.bursts(burst)).sum::<u64>();
        (cost(&by_lane) < cost(parts)).then_some(by_lane)
    }

    pub(super) fn read(&mut self, tile: usize, slot: Slot, dest: Dest, a: &Access) {
        self.push(tile, a.stream(slot, dest));
        self.seg.bytes_read += a.bytes();
        let text = match dest {
            Dest::Tile(t) => {
                self.seg.noc_elements += a.elements();
                format!("send to tile {t} {}", nest(a))
            }
            _ => format!(
                "stream {} {}",
                if slot == Slot::A { "a" } else { "b" },
                nest(a)
            ),
        };
        self.seg.nests.push((tile, text));
    }

    pub(super) fn write(&mut self, tile: usize, a: &Access) {
        self.push(tile, a.stream(Slot::W, Dest::Dram));
        self.seg.bytes_written += a.bytes();
        self.seg.nests.push((tile, format!("write {}", nest(a))));
    }

    /// A compute run: settings, stream b, write-back.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn compute(
        &mut self,
        tile: usize,
        pe_mode: u8,
        act: u8,
        opb_step: bool,
        opa_wrap: bool,
        reduce: usize,
        lanes: usize,
        b: &Access,
        w: &Access,
    ) {
        let order = (opb_step, opa_wrap);
        let opa = (0, 1);
        self.compute_filling(
            tile,
            pe_mode,
            act,
            order,
            (reduce, lanes),
            opa,
            None,
            Broadcast::Stream(b),
            w,
        );
    }

    /// A compute run whose buffer A operands start at entry `opa_base` (with `opa_wrap` and more
    /// than one of `blocks`, held interleaved: term r of block j at entry `r * blocks + j`) and
    /// which, with `fill` (the stream and the entry it starts at), fills buffer A meanwhile for
    /// the next run, in plain order over the same lanes (two a 4-byte element: a pair fill).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn compute_filling(
        &mut self,
        tile: usize,
        pe_mode: u8,
        act: u8,
        order: (bool, bool),
        (reduce, lanes): (usize, usize),
        (opa_base, blocks): (usize, usize),
        fill: Option<(&Access, usize)>,
        b: Broadcast,
        w: &Access,
    ) {
        let op = program::compute_op(pe_mode, act, order, opa_base, fill.is_some());
        self.push(tile, op);
        self.push(tile, shape(reduce, lanes));
        if order.1 && blocks > 1 {
            self.push(tile, program::opa_blocks(blocks));
        }
        if let Broadcast::Buffer { reductions, across } = b {
            // The beats start with the opb-buffer word: the reading order comes first.
            if let Some(rows) = across {
                self.push(tile, program::opb_across(rows));
            }
            self.push(tile, program::opb_buffer(reductions));
        }
        if let Broadcast::Window(w) = b {
            for (field, value) in w.fields {
                self.push(tile, program::window(field, value));
            }
            self.push(tile, program::opb_buffer(w.reductions));
            self.read_to_pe(tile, &w.maps, "the input maps into the reuse buffer");
        }
        if let Some((a, start)) = fill {
            let word = if is_pairs(a) {
                program::pair_fill_start(start)
            } else {
                program::fill_start(start)
            };
            self.push(tile, word);
            let what = format!("while computing: fill A from entry {start}");
            self.read_to_pe(tile, a, &what);
        }
        if let Broadcast::Stream(b) = b {
            self.read(tile, Slot::B, Dest::Pe, b);
        }
        self.write(tile, w);
        self.push(tile, Instr::Run);
    }

    /// Loads the PE's reuse buffer from entry 0 with `a` (16-bit elements).
    fn fill_reuse_buffer(&mut self, tile: usize, a: &Access) {
        self.push(tile, program::fill_op(Feed::FillB));
        self.push(tile, program::opb_buffer(0));
        self.read_to_pe(tile, a, "fill the reuse buffer");
        self.push(tile, Instr::Run);
    }

    /// Stream a to the PE by `a`, listed in the plan as `what` and its loop nest.
    fn read_to_pe(&mut self, tile: usize, a: &Access, what: &str) {
        self.push(tile, a.stream(Slot::A, Dest::Pe));
        self.seg.bytes_read += a.bytes();
        self.seg.nests.push((tile, format!("{what} {}", nest(a))));
    }

    /// One run of a gather or exchange: tile `tile` sends `send` to tile `dst` and writes what
    /// arrives by `receive`.
    fn transfer_run(
        &mut self,
        tile: usize,
        dst: usize,
        send: Option<&Access>,
        receive: Option<&Access>,
    ) {
        if let Some(a) = send {
            self.read(tile, Slot::A, Dest::Tile(dst as u8), a);
        }
        if let Some(a) = receive {
            self.write(tile, a);
        }
        self.push(tile, Instr::Run);
    }

    /// A gradient run: each lane reduces `reduce` products of its buffer A entries (from the
    /// first again for every reduction) with stream `b`; the G-bit sums are written by `w`.
    pub(super) fn gradient(
        &mut self,
        tile: usize,
        reduce: usize,
        lanes: usize,
        b: &Access,
        w: &Access,
    ) {
        self.compute(tile, mode::GRADIENT, 0, false, true, reduce, lanes, b, w);
    }

    /// The forward product of chunk `c` with its outputs on the lanes: its weight rows (`rows`,
    /// one reduction's terms a lane) fill buffer A and its bias records (at `b`) buffer B, and
    /// each reduction takes a sample's inputs from `x`, applying `act` as `y` writes it. A
    /// reduction takes as many terms as `x` gives a sample (`y` writes `c.len` outputs a sample):
    /// the rows' first terms only, where `x` leaves out inputs known to be zero (an Elman
    /// layer's first step, where `h_0 = 0`), and the rows stay whole for the next products.
    pub(super) fn forward_rows(
        &mut self,
        c: &Chunk,
        rows: &[Access],
        (b, act): (u64, u8),
        x: &Access,
        y: &Access,
    ) {
        let samples = y.elements() as usize / c.len;
        let reduce = x.elements() as usize / samples;
        debug_assert!(reduce * c.len <= rows.iter().map(Access::elements).sum::<u64>() as usize);
        self.fill(c.tile, false, c.len, rows);
        self.fill(c.tile, true, c.len, &[bias_records(b, c)]);
        self.compute(c.tile, mode::FORWARD, act, false, true, reduce, c.len, x, y);
    }

    /// The bias gradients of chunk `c`: `reduce` errors (already in buffer A) times the constant
    /// 1.0 at `konst`, aligned to G bits, written to the chunk's entries at `gb`.
    pub(super) fn bias_gradient(&mut self, c: &Chunk, konst: u64, reduce: usize, gb: u64) {
        self.gradient(
            c.tile,
            reduce,
            c.len,
            &Access::new(konst, ACT as u32, &[(reduce, 0)]),
            &Access::new(
                gb + c.start as u64 * GRAD,
                GRAD as u32,
                &[(c.len, GRAD as i64)],
            ),
        );
    }

    pub(super) fn finish(mut self) -> Segment {
        for p in &mut self.seg.programs {
            p.push(Instr::End);
        }
        self.seg
    }
}

/// Chunk `c`'s rows of a weight-gradient matrix at `base` (`[output][cols]`, G-bit words, rows
/// `pitch` bytes apart): where a gradient run writes them.
pub(super) fn gradient_rows(base: u64, c: &Chunk, cols: usize, pitch: u64) -> Access {
    Access::new(
        base + c.start as u64 * pitch,
        GRAD as u32,
        &[(c.len, pitch as i64), (cols, GRAD as i64)],
    )
}

/// All-gather: every tile's `pieces` end up in every vault, one round per segment. Each round
/// every tile sends to one tile and receives from one, so its write stream takes the arriving
/// elements in order. The rounds go by the tiles' places in `order` (the chunks' deal order,
/// [`deal_order`]): with a power-of-two number of tiles they double what each tile
/// holds (place v swaps with place v ^ 2^k everything of its group of 2^k places): log2(tiles)
/// rounds. Otherwise a ring of `tiles - 1` rounds passes every tile's own pieces on.
pub(super) fn gather(
    label: &str,
    layer: usize,
    pieces: &[Vec<Access>],
    (dram, order): (&DramConfig, &[usize]),
) -> Vec<Segment> {
    let tiles = pieces.len();
    assert_eq!(order.len(), tiles, "one place per tile");
    let mut place = vec![0; tiles];
    for (v, &t) in order.iter().enumerate() {
        place[t] = v;
    }
    let rounds = gather_rounds(tiles);
    // Sender and receiver take a piece in the same order: memory order, the pieces of
    // neighbouring chunks (neighbouring places) as one. Compacted first, so that chunks of
    // channels of a 1 x 1 map, whose unit loops hide that they carry on, join too (a run
    // apiece, bench_conv's last gather round of its second pool took 2,994 cycles).
    let held = |owners: std::ops::Range<usize>| -> Vec<Access> {
        program::join_adjacent(
            owners
                .flat_map(|u| &pieces[order[u]])
                .map(|a| a.in_memory_order().compacted()),
        )
    };
    let rounds: Vec<ExchangeRound> = (0..rounds)
        .map(|r| {
            (0..tiles)
                .map(|t| {
                    let (dst, src, owners) = gather_round(tiles, r, place[t]);
                    // Sender and receiver widen a piece alike, so their elements match.
                    let widened = |v: Vec<Access>| -> Vec<Access> {
                        v.iter().map(|a| a.widened(MAX_ELEMENT_BYTES)).collect()
                    };
                    ExchangeLeg {
                        dst: order[dst],
                        sends: widened(held(owners)),
                        receives: widened(held(gather_round(tiles, r, src).2)),
                    }
                })
                .collect()
        })
        .collect();
    exchange_segments(label, layer, &rounds, tiles, dram)
}

/// Rounds of a gather over `tiles` places: log2(tiles) with a power of two, else a ring's.
fn gather_rounds(tiles: usize) -> usize {
    if tiles.is_power_of_two() {
        tiles.trailing_zeros() as usize
    } else {
        tiles - 1
    }
}

/// Round `r` (from 0) of a gather over `tiles` places, for place `t`: the place it sends to, the
/// place it receives from, and the places whose pieces it sends.
fn gather_round(tiles: usize, r: usize, t: usize) -> (usize, usize, std::ops::Range<usize>) {
    if tiles.is_power_of_two() {
        let group = t >> r << r;
        (t ^ 1 << r, t ^ 1 << r, group..group + (1 << r))
    } else {
        let d = r + 1;
        ((t + d) % tiles, (t + tiles - d) % tiles, t..t + 1)
    }
}

/// A record block's MAC weights, rows dealt to their owners (the layer's chunks), to be read
/// across the rows by `readers` (chunks of columns).
struct ColumnExchange {
    /// Where the records are. Readers without a copy get the master records themselves, and
    /// derive the MAC weights as they read them.
    records: BlockPlaces,
    owners: Vec<Chunk>,
    readers: Vec<Chunk>,
    /// Where the readers keep the values, if not in the records: per reader chunk q, its columns
    /// over all rows as a dense row-major `rows x q.len` block of 16-bit values at
    /// `copy + q.start * rows * 2` (see [`mac_copy`]). Values on their way stop over in other
    /// vaults at the same places.
    copy: Option<u64>,
}

impl ColumnExchange {
    fn rows(&self) -> usize {
        self.owners
            .iter()
            .map(|r| r.start + r.len)
            .max()
            .unwrap_or(0)
    }

    /// What tile `dst` needs of what tile `src` owns: each of `src`'s rows over each of `dst`'s
    /// column chunks, row by row; as the owner holds it (`at_owner`) or as any other vault does:
    /// MAC weights in a copy (narrowed from the owner's records), else the records themselves.
    fn piece(&self, src: usize, dst: usize, at_owner: bool) -> Vec<Access> {
        let mut out = vec![];
        for r in of_tile(&self.owners, src) {
            for q in of_tile(&self.readers, dst) {
                let records = Access::new(
                    self.records.at(r.start, q.start),
                    RECORD_BYTES as u32,
                    &[
                        (q.len, RECORD_BYTES as i64),
                        (r.len, self.records.pitch as i64),
                    ],
                );
                out.push(match self.copy {
                    Some(copy) if !at_owner => Access::new(
                        mac_copy_base(copy, &q, self.rows()) + (r.start * q.len) as u64 * ACT,
                        ACT as u32,
                        &[(r.len * q.len, ACT as i64)],
                    ),
                    Some(_) => Access::mac_weights(records.base, &records.loops),
                    None => records,
                });
            }
        }
        out
    }
}

/// (index, byte address) of reader chunk `q`'s copy of a `rows x cols` block whose parameters
/// start at index `index0`, in memory order.
fn mac_copy_places(
    copy: u64,
    q: &Chunk,
    rows: usize,
    cols: usize,
    index0: usize,
) -> Vec<(usize, u64)> {
    let base = mac_copy_base(copy, q, rows);
    (0..rows)
        .flat_map(|j| (0..q.len).map(move |k| (j, k)))
        .enumerate()
        .map(|(e, (j, k))| (index0 + j * cols + q.start + k, base + e as u64 * ACT))
        .collect()
}

/// Where reader chunk `q` keeps its columns of a block with a copy (see [`ColumnExchange::copy`]).
fn mac_copy_base(copy: u64, q: &Chunk, rows: usize) -> u64 {
    copy + (q.start * rows) as u64 * ACT
}

/// A backward product's buffer A: reader chunk `c`'s columns over the block's `rows`, from its
/// copy, a lane per column: in 4-byte elements (pair fills) where the lanes pair up aligned.
fn mac_copy(copy: u64, c: &Chunk, rows: usize) -> Access {
    Access::new(
        mac_copy_base(copy, c, rows),
        ACT as u32,
        &[(c.len, ACT as i64), (rows, (c.len as u64 * ACT) as i64)],
    )
    .widened(MAX_ELEMENT_BYTES)
}

/// A backward product's buffer A: columns `c` of a `rows x cols` block of MAC weights, from the
/// reader's copy where the layer keeps one, else across the records (a transpose).
fn mac_across((records, copy): (u64, Option<u64>), c: &Chunk, rows: usize, cols: usize) -> Access {
    match copy {
        Some(copy) => mac_copy(copy, c, rows),
        None => Access::mac_weights(
            records + c.start as u64 * RECORD_BYTES,
            &[
                (c.len, RECORD_BYTES as i64),
                (rows, (cols as u64 * RECORD_BYTES) as i64),
            ],
        ),
    }
}

/// Pieces of `blocks`, each as tile `from` reads it and as tile `to` writes it, both in elements
/// of the widest size both allow (a flit carries one element).
fn moved(blocks: &[ColumnExchange], pieces: &[(usize, usize)], from: usize, to: usize) -> Moved {
    let mut keyed = vec![];
    for &(s, d) in pieces {
        for b in blocks {
            let key = b.piece(s, d, true);
            let at = |holder: usize| b.piece(s, d, holder == s);
            for ((k, f), t) in key.iter().zip(at(from)).zip(at(to)) {
                let wire = f
                    .widened(MAX_ELEMENT_BYTES)
                    .value_bytes()
                    .min(t.widened(MAX_ELEMENT_BYTES).value_bytes());
                keyed.push((k.base, f.widened(wire), t.widened(wire)));
            }
        }
    }
    // Memory order of the records, the same on both sides whatever each holds.
    keyed.sort_by_key(|(k, _, _)| *k);
    keyed.into_iter().map(|(_, f, t)| (f, t)).unzip()
}

/// What one tile reads and what another writes of the same pieces.
type Moved = (Vec<Access>, Vec<Access>);

/// What a tile's part of an exchange round costs: each of its runs (a piece sent and one
/// received: the streams start, the first reads return, the last writes drain), and each
/// element it sends or receives (one flit each, narrowed from a record or not), in hundredths
/// of a cycle, and more for each further transfer of the round on the busiest link. Fitted to
/// the rounds of the default module's benchmarks (`ntgen train --progress`, batch 16): ring
/// rounds of one run of 256 elements (bench_fc's fc1) take about 420 cycles where no two
/// transfers share a link and 690 where two do, of 196 (bench_rnn's Elman layer) 356 and 570,
/// of 20 (bench_rnn's fc1) about 110; a halving round of 8 runs of 14 elements about 900. The
/// estimates choose an exchange's schedule.
const EXCHANGE_RUN_CYCLES: u64 = 85;
const EXCHANGE_ELEMENT_CENTICYCLES: u64 = 131;
const EXCHANGE_SHARED_CENTICYCLES: u64 = 105;

/// Hundredths of a cycle an element of an exchange or gather round takes where `load`
/// transfers of the round share its busiest link.
fn element_centicycles(load: u64) -> u64 {
    EXCHANGE_ELEMENT_CENTICYCLES + load.saturating_sub(1) * EXCHANGE_SHARED_CENTICYCLES
}

/// Rows from which a layer keeps a copy of its MAC weights for the backward products (see
/// [`ColumnExchange::copy`]): the copy costs a run of the update segment (a few hundred cycles)
/// and saves the backward fill about half its elements and a row miss every fourth burst, which
/// for fewer rows is less (the small examples' steps took 3 to 4 percent longer with copies).
const MAC_COPY_MIN_ROWS: usize = 64;

/// Sends every block's columns to their readers, an all-to-all that moves each MAC value to the
/// vaults that read it and to no other (the owner's part is in place already). Each round every
/// tile sends to one tile and receives from one, so its write stream takes the arriving elements
/// in order. Three schedules, the one estimated faster is taken:
/// - a ring of `tiles - 1` rounds, tile t sending `t + d` its part in round d: each value moves
///   once;
/// - rounds in which no two transfers share a link ([`mesh_rounds::disjoint_pairs`], meshes of
///   up to 16 tiles): each value moves once, in a round or two more than the ring's;
/// - with a power-of-two number of tiles, log2(tiles) rounds, tile t swapping with `t ^ 2^k`
///   whatever it holds for the readers across bit k (values stop over in the vaults between,
///   at their own addresses, which those vaults never read): each value moves up to log2(tiles)
///   times, but there are fewer rounds to pay for.
fn exchange_columns(
    label: &str,
    layer: usize,
    blocks: &[ColumnExchange],
    (rows, cols): (usize, usize),
    dram: &DramConfig,
) -> Vec<Segment> {
    let tiles = rows * cols;
    let mut schedules = vec![ring_rounds(blocks, tiles)];
    if let Some(rounds) = mesh_rounds::disjoint_pairs(rows, cols) {
        schedules.push(pair_rounds(blocks, &rounds, tiles));
    }
    if tiles.is_power_of_two() && tiles > 2 {
        schedules.push(halving_rounds(blocks, tiles));
    }
    let best = schedules
        .into_iter()
        .min_by_key(|r| exchange_cycles(r, cols))
        .expect("the ring is always a schedule");
    exchange_segments(label, layer, &best, tiles, dram)
}

/// The estimated cycles of an exchange's rounds: each lasts as long as its busiest tile's part,
/// whose elements go slower the more transfers share a link of the round.
fn exchange_cycles(rounds: &[ExchangeRound], cols: usize) -> u64 {
    let part = |x: &ExchangeLeg, load: u64| {
        let runs = x.sends.len().max(x.receives.len()) as u64;
        let elements = |v: &[Access]| v.iter().map(Access::elements).sum::<u64>();
        let most = elements(&x.sends).max(elements(&x.receives));
        runs * EXCHANGE_RUN_CYCLES + most * element_centicycles(load) / 100
    };
    rounds
        .iter()
        .map(|r| {
            let pairs = r.iter().enumerate().filter(|(_, x)| !x.sends.is_empty());
            let load = mesh_rounds::link_load(pairs.map(|(t, x)| (t, x.dst)), cols).max(1);
            r.iter().map(|x| part(x, load as u64)).max().unwrap_or(0)
        })
        .sum()
}

/// One tile's part of a gather or exchange round: the tile it sends to and what, in order, and
/// what it writes of what arrives, in the order its one sender sends it.
struct ExchangeLeg {
    dst: usize,
    sends: Vec<Access>,
    receives: Vec<Access>,
}

/// Per tile, its leg of the round.
type ExchangeRound = Vec<ExchangeLeg>;

/// Each round's pairs (source, destination): the source sends the destination its part.
fn pair_rounds(
    blocks: &[ColumnExchange],
    rounds: &[Vec<(usize, usize)>],
    tiles: usize,
) -> Vec<ExchangeRound> {
    rounds
        .iter()
        .map(|pairs| {
            let mut legs: ExchangeRound = (0..tiles)
                .map(|t| ExchangeLeg {
                    dst: t,
                    sends: vec![],
                    receives: vec![],
                })
                .collect();
            for &(s, d) in pairs {
                let (sends, receives) = moved(blocks, &[(s, d)], s, d);
                legs[s].dst = d;
                legs[s].sends = sends;
                legs[d].receives = receives;
            }
            legs
        })
        .collect()
}

/// Round d (from 1): tile t sends tile `t + d` its part.
fn ring_rounds(blocks: &[ColumnExchange], tiles: usize) -> Vec<ExchangeRound> {
    (1..tiles)
        .map(|d| {
            (0..tiles)
                .map(|t| {
                    let (dst, src) = ((t + d) % tiles, (t + tiles - d) % tiles);
                    ExchangeLeg {
                        dst,
                        sends: moved(blocks, &[(t, dst)], t, dst).0,
                        receives: moved(blocks, &[(src, t)], src, t).1,
                    }
                })
                .collect()
        })
        .collect()
}

/// Round k (from 0, tiles a power of two): tile t swaps with `t ^ 2^k`. Before it, t holds the
/// parts from the owners that share its bits from k up, for the readers that share its bits
/// below k; it sends those whose reader differs from it at bit k.
fn halving_rounds(blocks: &[ColumnExchange], tiles: usize) -> Vec<ExchangeRound> {
    let pieces = |t: usize, k: usize| -> Vec<(usize, usize)> {
        let low = (1 << k) - 1;
        (0..tiles)
            .filter(|s| s >> k == t >> k)
            .flat_map(|s| {
                (0..tiles)
                    .filter(move |d| d & low == t & low && (d ^ t) >> k & 1 == 1)
                    .map(move |d| (s, d))
            })
            .collect()
    };
    (0..tiles.trailing_zeros() as usize)
        .map(|k| {
            (0..tiles)
                .map(|t| {
                    let p = t ^ 1 << k;
                    ExchangeLeg {
                        dst: p,
                        sends: moved(blocks, &pieces(t, k), t, p).0,
                        receives: moved(blocks, &pieces(p, k), p, t).1,
                    }
                })
                .collect()
        })
        .collect()
}

/// The segments of a gather or an exchange: one per round, more where a round's programs would
/// overflow the program memory (split at the same piece on both sides of every pair).
fn exchange_segments(
    label: &str,
    layer: usize,
    rounds: &[ExchangeRound],
    tiles: usize,
    dram: &DramConfig,
) -> Vec<Segment> {
    let mut segments = vec![];
    for (i, round) in rounds.iter().enumerate() {
        let runs = round
            .iter()
            .map(|x| x.sends.len().max(x.receives.len()))
            .max()
            .unwrap_or(0);
        // Words of a run at most: two streams (a header, a base and two words a loop), then
        // RUN; the program ends with END.
        let loops = round
            .iter()
            .flat_map(|x| x.sends.iter().chain(&x.receives))
            .map(|a| a.loops.len())
            .max()
            .unwrap_or(0);
        let runs_per_segment = (PROGRAM_WINDOW as usize - 1) / (2 * (2 + 2 * loops) + 1);
        let parts = runs.div_ceil(runs_per_segment);
        for p in 0..parts {
            let name = if parts > 1 {
                format!("{label} round {} part {}", i + 1, p + 1)
            } else {
                format!("{label} round {}", i + 1)
            };
            let mut s = SegmentBuilder::new(name, layer, tiles, dram);
            for (t, leg) in round.iter().enumerate() {
                for j in p * runs_per_segment..(p + 1) * runs_per_segment {
                    let (send, receive) = (leg.sends.get(j), leg.receives.get(j));
                    if send.is_none() && receive.is_none() {
                        break;
                    }
                    s.transfer_run(t, leg.dst, send, receive);
                }
            }
            segments.push(s.finish());
        }
    }
    segments
}

/// Where a block of records or gradients keeps element (j, i): `base + j * pitch + i * stride`,
/// index `index0 + j * cols + i` of its golden tensor.
#[derive(Clone, Copy)]
struct BlockPlaces {
    base: u64,
    stride: u64,
    cols: usize,
    index0: usize,
    pitch: u64,
}

impl BlockPlaces {
    /// Rows of `cols` elements side by side.
    fn rows(base: u64, stride: u64, cols: usize, index0: usize) -> BlockPlaces {
        BlockPlaces {
            base,
            stride,
            cols,
            index0,
            pitch: cols as u64 * stride,
        }
    }

    /// The byte address of element (j, i).
    fn at(&self, j: usize, i: usize) -> u64 {
        self.base + j as u64 * self.pitch + i as u64 * self.stride
    }

    /// (index, byte address) of rows `rows` over columns `columns`, row by row.
    fn places(
        &self,
        rows: std::ops::Range<usize>,
        columns: std::ops::Range<usize>,
    ) -> Vec<(usize, u64)> {
        let mut e = vec![];
        for j in rows {
            for i in columns.clone() {
                e.push((self.index0 + j * self.cols + i, self.at(j, i)));
            }
        }
        e
    }
}

/// The pieces of `view` each tile owns (its chunks), for a gather.
fn view_pieces(view: &View, ch: &[Chunk], tiles: usize, batch: usize) -> Vec<Vec<Access>> {
    (0..tiles)
        .map(|t| {
            of_tile(ch, t)
                .iter()
                .map(|c| view.block(c.start, c.len, batch))
                .collect()
        })
        .collect()
}

/// The channels of `view` each tile owns (its chunks, in channels), for a gather.
fn image_pieces(view: &ImageView, ch: &[Chunk], tiles: usize, batch: usize) -> Vec<Vec<Access>> {
    (0..tiles)
        .map(|t| {
            of_tile(ch, t)
                .iter()
                .map(|c| view.channels(c.start, c.len, batch))
                .collect()
        })
        .collect()
}

/// A check of an image tensor: the chunks' channels in their owners' vaults, or in every one of
/// `gathered_to` vaults where the tensor was gathered to all.
fn image_check(
    phase: &'static str,
    name: String,
    golden: GoldenRef,
    view: &ImageView,
    ch: &[Chunk],
    gathered_to: Option<usize>,
    batch: usize,
) -> TensorCheck {
    let mut places = vec![];
    for c in ch {
        let vaults: Vec<usize> = match gathered_to {
            Some(tiles) => (0..tiles).collect(),
            None => vec![c.tile],
        };
        for v in vaults {
            places.push((v, view.places(c.start, c.len, batch)));
        }
    }
    TensorCheck {
        phase,
        name,
        golden,
        width: ACT as usize,
        places,
    }
}

/// MAC weights of chunk `c`'s rows of master records (each row `cols` records long).
fn mac_rows(base: u64, c: &Chunk, cols: usize) -> Access {
    Access::mac_weights(
        base + (c.start * cols) as u64 * RECORD_BYTES,
        &[
            (c.len, (cols as u64 * RECORD_BYTES) as i64),
            (cols, RECORD_BYTES as i64),
        ],
    )
}

/// A run's cost beyond its elements (start, the DRAM's first access, the write-back's drain), as
/// the plan estimates it.
const RUN_CYCLES: u64 = 100;

/// Whether a fully connected forward product takes the samples on the lanes (buffer A holds
/// each sample's inputs, stream b each output's MAC weights, a reduction an output for every
/// sample) rather than the outputs (buffer A holds the chunk's weight rows, stream b each
/// sample's inputs). Estimated from the busiest tile's fills, beats and runs: with few outputs a
/// tile, the outputs on the lanes leave most lanes idle through `batch` reductions of `n_in`
/// beats (bench_conv's 16-output layer took 4,855 cycles on one lane a tile, and takes 2,638).
fn samples_on_lanes(
    ch: &[Chunk],
    tiles: usize,
    (n_in, batch, lanes): (usize, usize, usize),
) -> bool {
    if batch > lanes {
        return false;
    }
    let busiest = |cost: &dyn Fn(&Chunk) -> u64, once: u64| {
        (0..tiles)
            .map(|t| {
                let own = of_tile(ch, t);
                let each: u64 = own.iter().map(cost).sum();
                if own.is_empty() {
                    0
                } else {
                    once + each
                }
            })
            .max()
            .unwrap_or(0)
    };
    // Fills take two entries a cycle (by lane on two streams); a beat is a cycle.
    let outputs_on_lanes = busiest(
        &|c| (n_in * c.len / 2 + n_in * batch) as u64 + 3 * RUN_CYCLES,
        0,
    );
    let samples = busiest(
        &|c| (n_in * c.len) as u64 + 2 * RUN_CYCLES,
        (n_in * batch / 2) as u64 + RUN_CYCLES,
    );
    samples < outputs_on_lanes
}

/// The bias records of chunk `c` of a layer whose biases are at `b`, one a lane.
fn bias_records(b: u64, c: &Chunk) -> Access {
    Access::new(
        b + c.start as u64 * RECORD_BYTES,
        4,
        &[(c.len, RECORD_BYTES as i64)],
    )
}

/// Records of one chunk's rows in a weight block, for the update.
struct UpdateBlock {
    /// Records of the block, its gradient, its columns and the parameters' flat index offset.
    w: u64,
    g: u64,
    cols: usize,
    /// Bytes from one row of the records, and of the gradients, to the next, if not `cols`
    /// words (a convolution's, see [`conv::row_pitch`]).
    pitch: Option<u64>,
    index0: usize,
    kind: ParamKind,
    /// Who reads the block across its rows in backward: per chunk, a tile and its columns.
    readers: Vec<Chunk>,
    /// Where the readers keep their columns (see [`ColumnExchange::copy`]), if not in place.
    copy: Option<u64>,
}

impl UpdateBlock {
    /// Chunk `c`'s rows of the records (`base` = `w`) or of the gradients (`g`, words as
    /// records are), in memory order: one loop where the rows lie side by side.
    fn rows_of(&self, base: u64, c: &Chunk) -> Access {
        let word = RECORD_BYTES;
        match self.pitch.filter(|&p| p != self.cols as u64 * word) {
            Some(pitch) => Access::new(
                base + c.start as u64 * pitch,
                word as u32,
                &[(self.cols, word as i64), (c.len, pitch as i64)],
            ),
            None => Access::new(
                base + (c.start * self.cols) as u64 * word,
                word as u32,
                &[(c.len * self.cols, word as i64)],
            ),
        }
    }

    /// Where the records keep their masters.
    fn records(&self) -> BlockPlaces {
        let dense = BlockPlaces::rows(self.w, RECORD_BYTES, self.cols, self.index0);
        BlockPlaces {
            pitch: self.pitch.unwrap_or(dense.pitch),
            ..dense
        }
    }
}

/// The chunks of layer `l`'s inputs that its backward product puts on the lanes (the error at
/// its input), and whether those errors must then be gathered to every vault. The previous
/// layer's own chunks, so that each error lands in its owner's vault; for a fully connected
/// layer after a feature map, the map's channel chunks as chunks of input neurons (at most
/// `lanes` a chunk) where that is estimated faster than spreading the neurons over every tile
/// and gathering their errors (a gather is log2(tiles) rounds of a few hundred cycles each:
/// 3,655 cycles of bench_conv's backward phase went to one that its channel owners did not need).
fn input_chunks(
    lw: &[Lowered],
    l: usize,
    n_in: usize,
    (order, lanes): (&[usize], usize),
    (batch, dram): (usize, &DramConfig),
) -> (Vec<Chunk>, bool) {
    let prev = &lw[l - 1];
    let Some(map) = prev.image_out() else {
        return (prev.chunks.clone(), false);
    };
    let spread = chunks(n_in, order, lanes);
    if !matches!(lw[l].kind, Kind::Fc { .. }) {
        return (spread, true);
    }
    let aligned: Vec<Chunk> = column_chunks(&prev.chunks, map.h * map.w)
        .iter()
        .flat_map(|c| {
            let pieces = c.len.div_ceil(lanes);
            (0..pieces).map(move |k| {
                let start = k * c.len / pieces;
                Chunk {
                    tile: c.tile,
                    start: c.start + start,
                    len: (k + 1) * c.len / pieces - start,
                }
            })
        })
        .collect();
    let n_out = lw[l].out.n;
    let tiles = order.len();
    let rounds = gather_rounds(tiles) as u64;
    // Each round one run; the errors move as 4-byte elements, two to an element, on links that
    // two transfers share in some rounds.
    let received = (n_in * batch) as u64 * ACT * (tiles as u64 - 1) / tiles as u64;
    let elements = received / MAX_ELEMENT_BYTES as u64;
    let gather = rounds * EXCHANGE_RUN_CYCLES + elements * element_centicycles(2) / 100;
    let product = |ch: &[Chunk]| {
        backward_product_cycles(ch, tiles, n_out, batch, dram.bytes_per_cycle as u64)
    };
    if product(&aligned) <= product(&spread) + gather {
        (aligned, false)
    } else {
        (spread, true)
    }
}

/// Estimated cycles of a fully connected backward product over input chunks `ch` on its busiest
/// tile: per chunk, its MAC weights across `n_out` rows and its outputs' derivatives filled at
/// the vault's bytes a cycle, then `n_out` beats per sample.
fn backward_product_cycles(
    ch: &[Chunk],
    tiles: usize,
    n_out: usize,
    batch: usize,
    bytes_per_cycle: u64,
) -> u64 {
    (0..tiles)
        .map(|t| {
            of_tile(ch, t)
                .iter()
                .map(|c| {
                    let fill = ((n_out + batch) * c.len) as u64 * ACT / bytes_per_cycle;
                    fill + (n_out * batch) as u64
                })
                .sum::<u64>()
        })
        .max()
        .unwrap_or(0)
}

/// Chunks of channels as chunks of weight columns, `per` columns a channel.
fn column_chunks(ch: &[Chunk], per: usize) -> Vec<Chunk> {
    ch.iter()
        .map(|c| Chunk {
            tile: c.tile,
            start: c.start * per,
            len: c.len * per,
        })
        .collect()
}

/// A weight gradient `dW[o][i] = sum over terms t of e[t][o] * x[t][i]`: the terms are the
/// batch (fully connected) or the batch's steps (Elman, `t = b * steps + s`).
struct GradientTerms {
    terms: usize,
    /// Term t's errors at `err + t * err_stride` (the chunk's outputs side by side).
    err: u64,
    err_stride: u64,
    /// The errors transposed, `dt[o][t]`: an output's errors over the terms side by side.
    dt: u64,
    /// Loops over the terms of an input row (innermost first, in the order of t).
    x_terms: Vec<(usize, i64)>,
}

/// One matrix of a weight gradient: term 0's inputs at `x`, `cols` of them; rows at `gw`. Its
/// inputs are zero at the first `skip` places of the terms' innermost loop (an Elman layer's
/// recurrent weights pair the first step's errors with `h_0 = 0`): its runs leave those terms out.
struct GradientMatrix {
    x: u64,
    cols: usize,
    gw: u64,
    skip: usize,
}

/// The terms a matrix's runs take: how many, and the loops over them of its input rows (from
/// the first input's term 0), with the byte offset of the first term taken.
struct TakenTerms {
    count: usize,
    x_offset: i64,
    x_loops: Vec<(usize, i64)>,
}

impl GradientTerms {
    /// The terms without the first `skip` of the innermost loop.
    fn taken(&self, skip: usize) -> TakenTerms {
        let (inner, stride) = self.x_terms[0];
        let mut x_loops = self.x_terms.clone();
        x_loops[0].0 = inner - skip;
        TakenTerms {
            count: self.terms / inner * (inner - skip),
            x_offset: skip as i64 * stride,
            x_loops,
        }
    }

    /// The same terms where term t lies `t * stride` bytes from term 0 (an output's errors in
    /// `dt`, a sample's in the errors as they lie): the byte offset of the first taken, and the
    /// loops over them.
    fn term_loops(&self, skip: usize, stride: i64) -> (i64, Vec<(usize, i64)>) {
        let inner = self.x_terms[0].0;
        let mut loops = vec![(inner - skip, stride)];
        if self.terms > inner {
            loops.push((self.terms / inner, inner as i64 * stride));
        }
        (skip as i64 * stride, loops)
    }
}

/// The first step of a weight gradient: each chunk's errors transposed into `dt`. Per group of
/// up to `lanes` terms: buffer A <- the group's errors (a lane per term, filled lane by lane),
/// buffer B <- zero biases; a forward beat per output, with the broadcast 1.0, hands out that
/// output's errors, one per lane.
fn transpose_errors(
    s: &mut SegmentBuilder,
    chunks: &[Chunk],
    g: &GradientTerms,
    konst: u64,
    lanes: usize,
) {
    for c in chunks {
        for t0 in (0..g.terms).step_by(lanes) {
            let nt = lanes.min(g.terms - t0);
            let rows = Access::new(
                g.err + t0 as u64 * g.err_stride + c.start as u64 * ACT,
                ACT as u32,
                &[(nt, g.err_stride as i64), (c.len, ACT as i64)],
            );
            s.fill(c.tile, false, nt, &[rows]);
            s.fill(
                c.tile,
                true,
                nt,
                &[Access::new(konst + KONST_ZERO, GRAD as u32, &[(nt, 0)])],
            );
            s.compute(
                c.tile,
                mode::FORWARD,
                0,
                false,
                false,
                1,
                nt,
                &Access::new(konst, ACT as u32, &[(c.len, 0)]),
                &Access::new(
                    g.dt + (c.start * g.terms + t0) as u64 * ACT,
                    ACT as u32,
                    &[(nt, ACT as i64), (c.len, (g.terms as u64 * ACT) as i64)],
                ),
            );
        }
    }
}

/// What a run boundary costs a weight gradient beyond its beats: the PE drains, the run's last
/// writes reach the vault and the next run's first reads return. Fitted on bench_fc's 256 x 256
/// layers on the default module (`ntgen train`, batch 16, one segment each): 8 blocks of inputs
/// a run took 6,865 cycles, 4 blocks 6,529 and 2 blocks 6,131: halving the run saved 336 and
/// 398 cycles where the first fill shrank by 512 and 256 and 2 and 4 boundaries were added, so
/// a boundary costs well under 100 cycles. With [`blocks_per_run`] it sets how many blocks of
/// inputs one run takes.
const GRADIENT_RUN_CYCLES: u64 = 40;

/// Blocks of inputs per gradient run, of `blocks` in a segment, best estimate first. A run's
/// compute takes `terms` beats for each block and each of the chunk's `outputs`; its fill
/// (`terms` entries of every lane a block, two a cycle with an even number of lanes) runs
/// during the run before. So the first fill waits alone where the runs outlast their fills,
/// and the last compute where the fills outlast the runs: more blocks a run lengthen that, and
/// save run boundaries. Two runs' inputs must fit a lane buffer; one block a run where two
/// blocks' do not. Fewer blocks a run take more program words: the caller takes the first that
/// fits as few segments as any.
fn blocks_per_run(
    blocks: usize,
    (terms, outputs): (usize, usize),
    lanes: usize,
    depth: usize,
) -> Vec<usize> {
    let most = depth / (2 * terms);
    let per_cycle = if lanes.is_multiple_of(2) { 2 } else { 1 };
    let mut choices: Vec<usize> = (1..=most.max(1)).collect();
    choices.sort_by_key(|&j| {
        let (compute, fill) = (j * terms * outputs, j * terms * lanes / per_cycle);
        blocks.div_ceil(j) as u64 * GRADIENT_RUN_CYCLES + compute.min(fill) as u64
    });
    choices
}

/// Weight gradients of blocks of up to `lanes` inputs (`i0..` of matrix `m`), one chunk's, lanes
/// over the inputs: buffer A <- `x[t][i0 + k]`, read in memory order; the broadcast operand =
/// each of the chunk's outputs' errors over the terms, from the reuse buffer (loaded as they
/// lie) where they fit it, else on stream b from `dt` (also in memory order); one reduction per
/// weight. A run takes several neighbouring blocks of a matrix ([`blocks_per_run`]), held
/// interleaved in buffer A (term r of block j at entry `r * blocks + j`, `opa_blocks`), so that
/// the fill reads each term's inputs over the whole run side by side, a DRAM row opened once
/// for them rather than once per block; stream b gives an output's errors once for each block
/// (a burst the read port keeps), and an output's gradients over the run's inputs are written
/// as one row. Where two runs' inputs fit a
/// lane buffer, a run's compute fills the next run's inputs into the other half of buffer A (runs
/// of the same width), so that only the first run waits for its fill.
fn gradient_blocks(
    s: &mut SegmentBuilder,
    c: &Chunk,
    g: &GradientTerms,
    blocks: &[(&GradientMatrix, usize)],
    (lanes, depth, reuse, per_run): (usize, usize, usize, usize),
) {
    let halves = 2 * per_run * g.terms <= depth;
    // Runs: (matrix, first input, lanes in use, blocks), the blocks of one matrix side by side
    // and of one width.
    let mut runs: Vec<(&GradientMatrix, usize, usize, usize)> = vec![];
    for &(m, i0) in blocks {
        let w = lanes.min(m.cols - i0);
        match runs.last_mut() {
            Some((rm, r0, rw, j))
                if std::ptr::eq(*rm, m) && *rw == w && *r0 + *j * lanes == i0 && *j < per_run =>
            {
                *j += 1
            }
            _ => runs.push((m, i0, w, 1)),
        }
    }
    // An even number of lanes takes its inputs two a cycle (pair fills) where they lie in
    // aligned 4-byte pairs: a run's fill then takes half as long as its compute, not as long.
    let inputs = |&(m, i0, w, j): &(&GradientMatrix, usize, usize, usize)| {
        let TakenTerms {
            x_offset,
            x_loops: x_terms,
            ..
        } = g.taken(m.skip);
        let base = m.x.wrapping_add_signed(x_offset) + i0 as u64 * ACT;
        let aligned = base.is_multiple_of(2 * ACT)
            && x_terms
                .iter()
                .all(|&(_, stride)| stride % (2 * ACT as i64) == 0);
        let per = if w.is_multiple_of(2) && aligned { 2 } else { 1 };
        let mut x_loops = vec![(w / per, (per as u64 * ACT) as i64)];
        if j > 1 {
            x_loops.push((j, (lanes as u64 * ACT) as i64));
        }
        x_loops.extend(&x_terms);
        Access::new(base, (per as u64 * ACT) as u32, &x_loops)
    };
    // An output's errors over the terms the matrix takes, once per block of a run of `j`.
    let errors = |skip: usize, j: usize| {
        let (offset, mut loops) = g.term_loops(skip, ACT as i64);
        let dt = (g.dt + (c.start * g.terms) as u64 * ACT).wrapping_add_signed(offset);
        if j > 1 {
            loops.push((j, 0));
        }
        loops.push((c.len, (g.terms as u64 * ACT) as i64));
        // Loops that carry on one another are one loop (all the terms of every output).
        Access::new(dt, ACT as u32, &loops).compacted()
    };
    // Every run takes each output's errors once per block: where the chunk's errors fit the
    // PE's reuse buffer, they come from DRAM once, and write drains no longer hold up the beats.
    // The buffer holds them as they lie in DRAM, term by term (the chunk's outputs side by side),
    // those of one choice of terms (`skip`) at a time.
    let held = g.terms * c.len <= reuse;
    let by_term = |skip: usize| {
        let (offset, terms) = g.term_loops(skip, g.err_stride as i64);
        let mut loops = vec![(c.len, ACT as i64)];
        loops.extend(terms);
        let first = (g.err + c.start as u64 * ACT).wrapping_add_signed(offset);
        Access::new(first, ACT as u32, &loops)
    };
    let mut in_reuse: Option<usize> = None;
    // Where the run's inputs are in buffer A, when the previous run's compute filled them.
    let mut filled: Option<usize> = None;
    for (k, run) in runs.iter().enumerate() {
        let &(m, i0, w, j) = run;
        let terms = g.taken(m.skip).count;
        if held && in_reuse != Some(m.skip) {
            s.fill_reuse_buffer(c.tile, &by_term(m.skip));
            in_reuse = Some(m.skip);
        }
        let base = filled.unwrap_or_else(|| {
            s.fill(c.tile, false, w, std::slice::from_ref(&inputs(run)));
            0
        });
        let next = runs
            .get(k + 1)
            .filter(|&&(_, _, w_next, _)| halves && w_next == w)
            .map(inputs);
        let other = if base == 0 { per_run * g.terms } else { 0 };
        let b = errors(m.skip, j);
        s.compute_filling(
            c.tile,
            mode::GRADIENT,
            0,
            (false, true),
            (terms, w),
            (base, j),
            next.as_ref().map(|a| (a, other)),
            if held {
                Broadcast::Buffer {
                    reductions: j * c.len,
                    across: Some(c.len),
                }
            } else {
                Broadcast::Stream(&b)
            },
            &Access::new(
                m.gw + (c.start * m.cols + i0) as u64 * GRAD,
                GRAD as u32,
                &[(j * w, GRAD as i64), (c.len, (m.cols as u64 * GRAD) as i64)],
            ),
        );
        filled = next.map(|_| other);
    }
}

/// A layer's weight and bias gradients as segments: the errors transposed first (where some
/// chunk's do not fit the reuse buffer and are streamed), then the
/// matrices' input blocks, spread over as few segments as have programs that fit the program
/// memory (with the END each segment adds), then the bias gradients (buffer A <- the chunk's
/// errors, stream b = 1.0). `macs` are shared out by the blocks' products. The segments are left
/// open for the caller to finish.
#[allow(clippy::too_many_arguments)]
fn weight_gradients(
    label: &str,
    (l, tiles, dram): (usize, usize, &DramConfig),
    chunks: &[Chunk],
    g: &GradientTerms,
    matrices: &[GradientMatrix],
    (konst, gb): (u64, u64),
    (lanes, depth, reuse): (usize, usize, usize),
    macs: u64,
) -> Result<Vec<SegmentBuilder>> {
    let blocks: Vec<(&GradientMatrix, usize)> = matrices
        .iter()
        .flat_map(|m| (0..m.cols).step_by(lanes).map(move |i0| (m, i0)))
        .collect();
    // A block's share of the MACs: its inputs times the terms its matrix takes.
    let share =
        |&(m, i0): &(&GradientMatrix, usize)| lanes.min(m.cols - i0) * g.taken(m.skip).count;
    let total: usize = blocks.iter().map(share).sum();
    let outputs = chunks.iter().map(|c| c.len).max().unwrap_or(1);
    let tries = (1..=blocks.len()).flat_map(|parts| {
        let widest = blocks.len().div_ceil(parts);
        let choices = blocks_per_run(widest, (g.terms, outputs), lanes, depth);
        choices.into_iter().map(move |per_run| (parts, per_run))
    });
    for (parts, per_run) in tries {
        let mut segs = vec![];
        let mut given = 0;
        for p in 0..parts {
            let name = if parts == 1 {
                label.to_string()
            } else {
                format!("{label} part {}", p + 1)
            };
            let mut s = SegmentBuilder::new(name, l, tiles, dram);
            // Errors streamed read `dt`; those the reuse buffer holds come as they lie.
            if p == 0 && chunks.iter().any(|c| g.terms * c.len > reuse) {
                transpose_errors(&mut s, chunks, g, konst, lanes);
            }
            let range = &blocks[p * blocks.len() / parts..(p + 1) * blocks.len() / parts];
            for c in chunks {
                gradient_blocks(&mut s, c, g, range, (lanes, depth, reuse, per_run));
            }
            let part: usize = range.iter().map(share).sum();
            // The last part takes what the shares' rounding left.
            s.seg.macs = if p + 1 == parts {
                macs - given
            } else {
                macs * part as u64 / total as u64
            };
            given += s.seg.macs;
            if p + 1 == parts {
                for c in chunks {
                    let errors = Access::new(
                        g.err + c.start as u64 * ACT,
                        ACT as u32,
                        &[(c.len, ACT as i64), (g.terms, g.err_stride as i64)],
                    );
                    s.fill(c.tile, false, c.len, &[errors]);
                    s.bias_gradient(c, konst, g.terms, gb);
                }
            }
            segs.push(s);
        }
        let fits = segs.iter().all(|s| {
            s.seg
                .programs
                .iter()
                .all(|p| (encode(p).len() as u64) < PROGRAM_WINDOW)
        });
        if fits {
            return Ok(segs);
        }
    }
    bail!(
        "layer {l}: the weight gradient of one block of inputs does not fit a tile's program memory ({PROGRAM_WINDOW} words)"
    )
}

pub fn compile(net: &Network, batch: usize, eta: u16, config: &Config) -> Result<Plan> {
    let shapes = net.shapes()?;
    let costs = net.costs()?;
    let tiles = config.array.rows * config.array.cols;
    let order = deal_order(config.array.rows, config.array.cols);
    let lanes = config.pe.lanes;
    let depth = config.pe.lane_buffer_depth;
    let dram = &config.dram;
    let nl = net.layers.len();
    if batch == 0 {
        bail!("batch size 0");
    }
    if 2 * batch > depth {
        bail!(
            "batch {batch}: the output error holds 2 x batch values per lane, more than pe.lane_buffer_depth = {depth}"
        );
    }

    let mut map = MemoryMap::default();
    let konst_values: Vec<i16> = [
        1i16 << config.format.frac_bits,
        -(1i16 << config.format.frac_bits),
    ]
    .into_iter()
    .chain((0..WINDOW).map(|r| r as i16))
    .chain([0, 0])
    .collect();
    let konst = map.alloc(CONST_REGION, konst_values.len() as u64 * ACT);
    let in_len = shapes[0].input.len();
    // The layer after `l` and its shapes: who reads layer l's output.
    let consumer = |l: usize| net.layers.get(l + 1).map(|ly| (ly, &shapes[l + 1]));
    let image_dims = |s: Shape| match s {
        Shape::Image { c, h, w } => (c, h, w),
        _ => unreachable!("validated: an image"),
    };

    // Layout: every layer's records, outputs and errors.
    let mut lw: Vec<Lowered> = vec![];
    let mut input = View {
        base: 0,
        sample: 0,
        n: in_len,
    };
    let mut input_addrs = vec![];
    // Rows `[x_s, h_s]` that a feature map's producer allocated for the rnn after it.
    let mut rnn_rows: Option<RnnRows> = None;
    for (l, (layer, s)) in net.layers.iter().zip(&shapes).enumerate() {
        let name = format!("{}{l}", layer.type_name());
        let n_out = s.output.len();
        let check = |what: &str, v: usize| -> Result<()> {
            if v > depth {
                bail!(
                    "layer {l} ({}): {what} of {v} terms does not fit pe.lane_buffer_depth = {depth}",
                    layer.type_name()
                );
            }
            Ok(())
        };
        // Weight records and gradients: rows of a convolution's output channels at a pitch that
        // spreads them over the banks, else side by side.
        let (row_pitch, w_bytes) = match *layer {
            Layer::Conv { out_channels, .. } => {
                let pitch = conv::row_pitch(s.weights / out_channels, lanes, &config.dram);
                (pitch, out_channels as u64 * pitch)
            }
            _ => (0, s.weights as u64 * RECORD_BYTES),
        };
        let w = map.alloc(&format!("{name}.w"), w_bytes);
        let b = map.alloc(&format!("{name}.b"), s.biases as u64 * RECORD_BYTES);
        let gw = map.alloc(&format!("{name}.gw"), w_bytes);
        let gb = map.alloc(&format!("{name}.gb"), s.biases as u64 * GRAD);
        let input_error = Network::needs_input_error(&shapes, l);
        // Rows of the MAC weights a backward product reads across, if any: from a copy where
        // there are enough of them to pay for the copy's upkeep.
        let rows_across = match *layer {
            Layer::Fc { .. } if input_error => n_out,
            Layer::Rnn { hidden, steps } if input_error || steps > 1 => hidden,
            _ => 0,
        };
        let copied = rows_across >= MAC_COPY_MIN_ROWS;
        let wc = copied.then(|| map.alloc(&format!("{name}.wc"), s.weights as u64 * ACT));
        // The input of an image layer: the network input (laid out for this layer) or the
        // previous layer's output (laid out for this layer by its producer).
        let mut image_input = |map: &mut MemoryMap| -> ImageView {
            if l > 0 {
                return lw[l - 1]
                    .image_out()
                    .expect("an image input comes from an image layer");
            }
            let (v, _) = alloc_output(
                map,
                "input",
                batch,
                image_dims(s.input),
                Some((layer, s)),
                &config.dram,
            );
            let (c, h, w) = image_dims(s.input);
            input_addrs = (0..batch)
                .flat_map(|bb| {
                    (0..c).flat_map(move |cc| {
                        (0..h).flat_map(move |y| {
                            (0..w).map(move |x| v.at(bb, cc, y as i64, x as i64))
                        })
                    })
                })
                .collect();
            v
        };
        // A flat view of an image output or error (what fc and rnn code reads).
        let flat = |v: &ImageView| View {
            base: v.base,
            sample: v.sample,
            n: v.len(),
        };
        let next_layer = net.layers.get(l + 1);
        // An image layer's output, in the layout the next layer reads.
        let image_output = |map: &mut MemoryMap, dims| {
            alloc_output(
                map,
                &format!("{name}.y"),
                batch,
                dims,
                consumer(l),
                &config.dram,
            )
        };
        let (kind, out, err, act, ch) = match *layer {
            Layer::Fc { act, .. } => {
                if l == 0 {
                    let base = map.alloc("input", (batch * in_len) as u64 * ACT);
                    input = View {
                        base,
                        sample: in_len as u64 * ACT,
                        n: in_len,
                    };
                    input_addrs = (0..batch * in_len)
                        .map(|k| input.at(k / in_len, k % in_len))
                        .collect();
                }
                check("a forward reduction", s.input.len())?;
                if input_error {
                    check("a backward reduction", n_out)?;
                }
                let dense = |base: u64| View {
                    base,
                    sample: n_out as u64 * ACT,
                    n: n_out,
                };
                let y = map.alloc(&format!("{name}.y"), (batch * n_out) as u64 * ACT);
                let d = map.alloc(&format!("{name}.d"), (batch * n_out) as u64 * ACT);
                let dt = map.alloc(&format!("{name}.dt"), (batch * n_out) as u64 * ACT);
                (
                    Kind::Fc {
                        n_in: s.input.len(),
                        dt,
                    },
                    dense(y),
                    dense(d),
                    act.code(),
                    chunks(n_out, &order, lanes),
                )
            }
            Layer::Rnn { hidden, steps } => {
                let Some((t_steps, n)) = s.input.as_sequence() else {
                    bail!("layer {l} (rnn): its input is not a sequence");
                };
                debug_assert_eq!(t_steps, steps);
                check("a forward reduction", n + hidden)?;
                check("a backward reduction", hidden)?;
                check("a gradient reduction (batch x steps)", batch * steps)?;
                if input_error {
                    check(
                        "an input error's derivatives (batch x steps)",
                        batch * steps,
                    )?;
                }
                let row = (n + hidden) as u64 * ACT;
                let sample = row * (steps + 1) as u64;
                let u = if l == 0 {
                    let u = map.alloc(&format!("{name}.u"), batch as u64 * sample);
                    input = View {
                        base: u,
                        sample,
                        n: n + hidden,
                    };
                    input_addrs = (0..batch * steps * n)
                        .map(|k| {
                            let (bb, rest) = (k / (steps * n), k % (steps * n));
                            u + bb as u64 * sample
                                + (rest / n) as u64 * row
                                + ACT * (rest % n) as u64
                        })
                        .collect();
                    u
                } else {
                    let Some(rows) = rnn_rows.take() else {
                        bail!(
                            "layer {l} (rnn): its input must be the network input or a feature map"
                        );
                    };
                    debug_assert_eq!((rows.row, rows.sample), (row, sample));
                    rows.base
                };
                let d = map.alloc(&format!("{name}.d"), (batch * steps * hidden) as u64 * ACT);
                let dt = map.alloc(&format!("{name}.dt"), (batch * steps * hidden) as u64 * ACT);
                let out = View {
                    base: u + steps as u64 * row + n as u64 * ACT,
                    sample,
                    n: hidden,
                };
                let err = View {
                    base: d + ((steps - 1) * hidden) as u64 * ACT,
                    sample: (steps * hidden) as u64 * ACT,
                    n: hidden,
                };
                (
                    Kind::Rnn {
                        n,
                        hidden,
                        steps,
                        u,
                        d,
                        dt,
                    },
                    out,
                    err,
                    Activation::Tanh.code(),
                    chunks(hidden, &order, lanes),
                )
            }
            Layer::Conv {
                act,
                kernel,
                stride,
                padding,
                out_channels,
            } => {
                // The error at the input reads the error map padded by kernel - 1 - padding.
                let margin = if input_error {
                    if stride != 1 {
                        bail!(
                            "layer {l} (conv): the error at a convolution's input (a transposed convolution) is compiled for stride 1 only, got stride {stride}"
                        );
                    }
                    if padding >= kernel {
                        bail!(
                            "layer {l} (conv): the error at a convolution's input is compiled for padding below the kernel size, got padding {padding} with kernel {kernel}"
                        );
                    }
                    if !matches!(next_layer, Some(Layer::Maxpool {} | Layer::Conv { .. })) {
                        bail!(
                            "layer {l} (conv): the error at a convolution's input needs its error map zero-padded, which only a following maxpool or conv writes"
                        );
                    }
                    check(
                        "a backward reduction (out_channels x kernel^2)",
                        out_channels * kernel * kernel,
                    )?;
                    kernel - 1 - padding
                } else {
                    0
                };
                let geo = net.conv_geometry(l, s.input).expect("validated conv");
                let x = image_input(&mut map);
                let dims = image_dims(s.output);
                let (y, rows) = image_output(&mut map, dims);
                rnn_rows = rows;
                let d = alloc_error(
                    &mut map,
                    &format!("{name}.d"),
                    batch,
                    dims,
                    next_layer,
                    margin,
                    &config.dram,
                );
                let e = if input_error {
                    lw[l - 1].image_err()
                } else {
                    None
                };
                let cv = ConvLayout {
                    geo,
                    x,
                    y,
                    d,
                    e,
                    row_pitch,
                };
                check(
                    "a forward reduction (in_channels x kernel^2)",
                    cv.forward_terms(),
                )?;
                check(
                    "a gradient reduction (batch x output pixels)",
                    cv.gradient_terms(batch),
                )?;
                (
                    Kind::Conv(cv),
                    flat(&y),
                    flat(&d),
                    act.code(),
                    chunks(geo.out_c, &order, lanes),
                )
            }
            Layer::Maxpool {} => {
                let x = image_input(&mut map);
                let dims = image_dims(s.output);
                let (y, rows) = image_output(&mut map, dims);
                rnn_rows = rows;
                // Positions mirror the output's strides, so that one write stores both.
                // In other banks than the outputs: the forward writes each output and its
                // position in turn.
                let arg = ImageView {
                    base: map.alloc_apart(
                        &format!("{name}.arg"),
                        batch as u64 * y.sample,
                        y.base,
                        &config.dram,
                    ),
                    ..y
                };
                let e = alloc_error(
                    &mut map,
                    &format!("{name}.e"),
                    batch,
                    dims,
                    next_layer,
                    0,
                    &config.dram,
                );
                let d = if input_error {
                    lw[l - 1].image_err()
                } else {
                    None
                };
                let p = PoolLayout { x, y, arg, e, d };
                let act = net.effective_activation(l).map(|a| a.code()).unwrap_or(0);
                (
                    Kind::Pool(p),
                    flat(&y),
                    flat(&e),
                    act,
                    chunks(dims.0, &order, lanes),
                )
            }
        };
        if l + 1 == nl && !matches!(kind, Kind::Fc { .. } | Kind::Rnn { .. }) {
            bail!(
                "layer {l} ({}): the last layer must be fc or rnn (the output error is computed per neuron)",
                layer.type_name()
            );
        }
        lw.push(Lowered {
            name,
            kind,
            out,
            err,
            act,
            chunks: ch,
            w,
            b,
            gw,
            gb,
            wc,
            input_error,
        });
    }
    // Targets sit with the same sample stride as the output, so one descriptor reads both, and
    // where no target shares a bank with its output on another row: the output error reads them
    // in turn (in one bank, bench_fc's took 1,558 cycles for 256 values a tile, a row miss a burst).
    let last = &lw[nl - 1];
    let out_len = last.out.n;
    let tgt = map.alloc_apart(
        "target",
        batch as u64 * last.out.sample,
        last.out.base,
        &config.dram,
    );
    let target_addrs: Vec<u64> = (0..batch * out_len)
        .map(|k| tgt + (k / out_len) as u64 * last.out.sample + ACT * (k % out_len) as u64)
        .collect();
    map.check_fits(config.dram.vault_bytes())?;

    // The input each layer reads: the network input or the previous layer's output.
    let in_view = |l: usize| if l == 0 { input } else { lw[l - 1].out };
    let mut checks: Vec<TensorCheck> = vec![];
    let mut mac_copies: Vec<MacCopy> = vec![];
    let every: Vec<usize> = (0..tiles).collect();
    // A check of a batch-major activation tensor laid out by `view`, for the chunk owners or all.
    let act_check = |phase: &'static str,
                     name: String,
                     golden: GoldenRef,
                     views: &[View],
                     ch: &[Chunk],
                     all: bool|
     -> TensorCheck {
        let n = views[0].n;
        let steps = views.len();
        let mut places = vec![];
        for c in ch {
            let vaults = if all { every.clone() } else { vec![c.tile] };
            for v in vaults {
                let mut e = vec![];
                for b in 0..batch {
                    for (s, view) in views.iter().enumerate() {
                        for j in c.start..c.start + c.len {
                            e.push(((b * steps + s) * n + j, view.at(b, j)));
                        }
                    }
                }
                places.push((v, e));
            }
        }
        TensorCheck {
            phase,
            name,
            golden,
            width: 2,
            places,
        }
    };
    // A check of record or gradient rows of each chunk, in its owner's vault: element (j, i) of a
    // `cols`-wide block.
    let row_check = |phase: &'static str,
                     name: String,
                     golden: GoldenRef,
                     at: BlockPlaces,
                     width: usize,
                     ch: &[Chunk]|
     -> TensorCheck {
        let places = ch
            .iter()
            .map(|c| (c.tile, at.places(c.start..c.start + c.len, 0..at.cols)))
            .collect();
        TensorCheck {
            phase,
            name,
            golden,
            width,
            places,
        }
    };

    // An image layer's output: checked where it was computed, then gathered to every vault
    // unless a pool (with the same channel chunks) reads it.
    let image_forward = |forward: &mut Vec<Segment>,
                         checks: &mut Vec<TensorCheck>,
                         l: usize,
                         ly: &Lowered,
                         y: &ImageView| {
        let gathered = l + 1 < nl && !matches!(net.layers[l + 1], Layer::Maxpool {});
        checks.push(image_check(
            "forward",
            format!("{} outputs", ly.name),
            GoldenRef::Y(l),
            y,
            &ly.chunks,
            gathered.then_some(tiles),
            batch,
        ));
        if gathered {
            forward.extend(gather(
                &format!("{} gather outputs", ly.name),
                l,
                &image_pieces(y, &ly.chunks, tiles, batch),
                (dram, &order),
            ));
        }
    };

    // Forward.
    let mut forward = vec![];
    for l in 0..nl {
        let ly = &lw[l];
        let x = in_view(l);
        let cost = costs[l].forward * batch as u64;
        match ly.kind {
            Kind::Fc { n_in, .. } => {
                let mut s = SegmentBuilder::new(format!("{} forward", ly.name), l, tiles, dram);
                let by_samples = samples_on_lanes(&ly.chunks, tiles, (n_in, batch, lanes));
                if by_samples {
                    // Lane b holds sample b's inputs: element (b, i), samples fastest.
                    let inputs = Access::new(
                        x.base,
                        ACT as u32,
                        &[(batch, x.sample as i64), (n_in, ACT as i64)],
                    );
                    for t in 0..tiles {
                        let own = of_tile(&ly.chunks, t);
                        if own.is_empty() {
                            continue;
                        }
                        s.fill(t, false, batch, std::slice::from_ref(&inputs));
                        for c in &own {
                            // Reduction m is output c.start + m: its bias on every lane.
                            let mut bias = bias_records(ly.b, c);
                            bias.loops.insert(0, (batch, 0));
                            s.fill(t, true, batch, &[bias]);
                            let y = Access::new(
                                ly.out.at(0, c.start),
                                ACT as u32,
                                &[(batch, ly.out.sample as i64), (c.len, ACT as i64)],
                            );
                            s.compute(
                                t,
                                mode::FORWARD,
                                ly.act,
                                true,
                                true,
                                n_in,
                                batch,
                                &mac_rows(ly.w, c, n_in).in_memory_order(),
                                &y,
                            );
                        }
                    }
                } else {
                    for c in &ly.chunks {
                        s.forward_rows(
                            c,
                            &[mac_rows(ly.w, c, n_in)],
                            (ly.b, ly.act),
                            &x.samples(batch),
                            &ly.out.block(c.start, c.len, batch),
                        );
                    }
                }
                s.seg.macs = cost;
                forward.push(s.finish());
                checks.push(act_check(
                    "forward",
                    format!("{} outputs", ly.name),
                    GoldenRef::Y(l),
                    &[ly.out],
                    &ly.chunks,
                    l + 1 < nl,
                ));
                if l + 1 < nl {
                    forward.extend(gather(
                        &format!("{} gather outputs", ly.name),
                        l,
                        &view_pieces(&ly.out, &ly.chunks, tiles, batch),
                        (dram, &order),
                    ));
                }
            }
            Kind::Rnn {
                n,
                hidden,
                steps,
                u,
                ..
            } => {
                let row = (n + hidden) as u64 * ACT;
                let step_view = |s: usize| View {
                    base: u + s as u64 * row,
                    sample: x.sample,
                    n: n + hidden,
                };
                let h_view = |s: usize| View {
                    base: u + s as u64 * row + n as u64 * ACT,
                    sample: x.sample,
                    n: hidden,
                };
                for st in 0..steps {
                    // h_0 = 0: the first step's reductions end with its inputs.
                    let terms = if st == 0 { n } else { n + hidden };
                    let mut s = SegmentBuilder::new(
                        format!("{} forward step {}", ly.name, st + 1),
                        l,
                        tiles,
                        dram,
                    );
                    for c in &ly.chunks {
                        s.forward_rows(
                            c,
                            &[
                                mac_rows(ly.w, c, n),
                                mac_rows(ly.w + (hidden * n) as u64 * RECORD_BYTES, c, hidden),
                            ],
                            (ly.b, ly.act),
                            &step_view(st).block(0, terms, batch),
                            &h_view(st + 1).block(c.start, c.len, batch),
                        );
                    }
                    s.seg.macs = (batch * hidden * terms) as u64;
                    forward.push(s.finish());
                    if st + 1 < steps || l + 1 < nl {
                        forward.extend(gather(
                            &format!("{} gather h{}", ly.name, st + 1),
                            l,
                            &view_pieces(&h_view(st + 1), &ly.chunks, tiles, batch),
                            (dram, &order),
                        ));
                    }
                }
                let hs: Vec<View> = (1..=steps).map(h_view).collect();
                checks.push(act_check(
                    "forward",
                    format!("{} hidden states", ly.name),
                    GoldenRef::Y(l),
                    &hs,
                    &ly.chunks,
                    false,
                ));
            }
            Kind::Conv(cv) => {
                let mut s = SegmentBuilder::new(format!("{} forward", ly.name), l, tiles, dram);
                let buffer_depth = config.pe.operand_buffer_depth;
                conv::forward(
                    &mut s,
                    &cv,
                    (ly.w, ly.b),
                    ly.act,
                    &ly.chunks,
                    (batch, buffer_depth),
                );
                s.seg.macs = cost;
                forward.push(s.finish());
                image_forward(&mut forward, &mut checks, l, ly, &cv.y);
            }
            Kind::Pool(p) => {
                let mut s = SegmentBuilder::new(format!("{} forward", ly.name), l, tiles, dram);
                pool::forward(&mut s, &p, &ly.chunks, batch, depth, konst, l)?;
                forward.push(s.finish());
                image_forward(&mut forward, &mut checks, l, ly, &p.y);
            }
        }
    }

    // Backward: the output error, then each layer's error at its input (and BPTT).
    let mut backward = vec![];
    {
        let l = nl - 1;
        let ly = &lw[l];
        let mut s = SegmentBuilder::new(format!("{} output error", ly.name), l, tiles, dram);
        for c in &ly.chunks {
            let t = c.tile;
            let y = ly.out.block(c.start, c.len, batch);
            let pairs = Access::new(
                y.base,
                ACT as u32,
                &[
                    (c.len, ACT as i64),
                    (2, tgt as i64 - ly.out.base as i64),
                    (batch, ly.out.sample as i64),
                ],
            );
            s.fill(t, false, c.len, &[pairs]);
            s.fill(t, true, c.len, &[y]);
            s.compute(
                t,
                mode::BACKWARD,
                ly.act,
                true,
                false,
                2,
                c.len,
                &Access::new(konst, ACT as u32, &[(2, ACT as i64), (batch, 0)]),
                &ly.err.block(c.start, c.len, batch),
            );
        }
        backward.push(s.finish());
    }
    for l in (0..nl).rev() {
        let ly = &lw[l];
        if let Kind::Rnn {
            n,
            hidden,
            steps,
            u,
            d,
            ..
        } = ly.kind
        {
            // Through time: delta_s from delta_{s+1} and W_h.
            let row = (n + hidden) as u64 * ACT;
            let dview = |s: usize| View {
                base: d + (s * hidden) as u64 * ACT,
                sample: (steps * hidden) as u64 * ACT,
                n: hidden,
            };
            let wh = ly.w + (hidden * n) as u64 * RECORD_BYTES;
            let wch = ly.wc.map(|wc| wc + (hidden * n) as u64 * ACT);
            for st in (0..steps - 1).rev() {
                backward.extend(gather(
                    &format!("{} gather errors step {}", ly.name, st + 2),
                    l,
                    &view_pieces(&dview(st + 1), &ly.chunks, tiles, batch),
                    (dram, &order),
                ));
                let h = View {
                    base: u + (st + 1) as u64 * row + n as u64 * ACT,
                    sample: ly.out.sample,
                    n: hidden,
                };
                let mut s = SegmentBuilder::new(
                    format!("{} backward step {}", ly.name, st + 1),
                    l,
                    tiles,
                    dram,
                );
                for c in &ly.chunks {
                    let t = c.tile;
                    s.fill(t, false, c.len, &[mac_across((wh, wch), c, hidden, hidden)]);
                    s.fill(t, true, c.len, &[h.block(c.start, c.len, batch)]);
                    s.compute(
                        t,
                        mode::BACKWARD,
                        ly.act,
                        true,
                        true,
                        hidden,
                        c.len,
                        &dview(st + 1).samples(batch),
                        &dview(st).block(c.start, c.len, batch),
                    );
                }
                s.seg.macs = (batch * hidden * hidden) as u64;
                backward.push(s.finish());
            }
            let views: Vec<View> = (0..steps).map(dview).collect();
            checks.push(act_check(
                "backward",
                format!("{} errors", ly.name),
                GoldenRef::Delta(l),
                &views,
                &ly.chunks,
                false,
            ));
            if ly.input_error {
                // W_x^T delta_s for every sample and step, lanes over the input features.
                let prev = &lw[l - 1];
                let Some(pe) = prev.image_err() else {
                    bail!("layer {l} (rnn): the error at its input is compiled for a feature map only");
                };
                backward.extend(gather(
                    &format!("{} gather errors step 1", ly.name),
                    l,
                    &view_pieces(&dview(0), &ly.chunks, tiles, batch),
                    (dram, &order),
                ));
                let (fch, _) = input_chunks(&lw, l, n, (&order, lanes), (batch, dram));
                let per_step = |base: u64, c: &Chunk, row: u64, sample: u64| {
                    Access::new(
                        base + c.start as u64 * ACT,
                        ACT as u32,
                        &[
                            (c.len, ACT as i64),
                            (steps, row as i64),
                            (batch, sample as i64),
                        ],
                    )
                };
                let mut s =
                    SegmentBuilder::new(format!("{} backward input", ly.name), l, tiles, dram);
                for c in &fch {
                    let t = c.tile;
                    s.fill(t, false, c.len, &[mac_across((ly.w, ly.wc), c, hidden, n)]);
                    s.fill(t, true, c.len, &[per_step(u, c, row, ly.out.sample)]);
                    s.compute(
                        t,
                        mode::BACKWARD,
                        prev.act,
                        true,
                        true,
                        hidden,
                        c.len,
                        &Access::new(d, ACT as u32, &[(hidden * steps * batch, ACT as i64)]),
                        &per_step(pe.base, c, pe.row, pe.sample),
                    );
                }
                s.seg.macs = (batch * steps * hidden * n) as u64;
                backward.push(s.finish());
                let pieces: Vec<Vec<Access>> = (0..tiles)
                    .map(|t| {
                        of_tile(&fch, t)
                            .iter()
                            .map(|c| per_step(pe.base, c, pe.row, pe.sample))
                            .collect()
                    })
                    .collect();
                backward.extend(gather(
                    &format!("{} gather input errors", ly.name),
                    l,
                    &pieces,
                    (dram, &order),
                ));
            }
            continue;
        }
        match ly.kind {
            Kind::Conv(cv) => {
                checks.push(image_check(
                    "backward",
                    format!("{} errors", ly.name),
                    GoldenRef::Delta(l),
                    &cv.d,
                    &ly.chunks,
                    None,
                    batch,
                ));
                if ly.input_error {
                    let prev = &lw[l - 1];
                    backward.extend(gather(
                        &format!("{} gather errors", ly.name),
                        l,
                        &image_pieces(&cv.d, &ly.chunks, tiles, batch),
                        (dram, &order),
                    ));
                    let mut s =
                        SegmentBuilder::new(format!("{} backward", ly.name), l, tiles, dram);
                    conv::backward(&mut s, &cv, ly.w, prev.act, &prev.chunks, batch, depth, l)?;
                    s.seg.macs = costs[l].backward * batch as u64;
                    backward.push(s.finish());
                }
                continue;
            }
            Kind::Pool(p) => {
                if !ly.input_error {
                    continue;
                }
                checks.push(image_check(
                    "backward",
                    format!("{} errors", ly.name),
                    GoldenRef::Delta(l),
                    &p.e,
                    &ly.chunks,
                    None,
                    batch,
                ));
                let mut s = SegmentBuilder::new(format!("{} backward", ly.name), l, tiles, dram);
                pool::backward(
                    &mut s,
                    &p,
                    &ly.chunks,
                    batch,
                    depth,
                    konst + KONST_POSITIONS,
                    l,
                )?;
                backward.push(s.finish());
                continue;
            }
            _ => {}
        }
        let Kind::Fc { n_in, .. } = ly.kind else {
            unreachable!()
        };
        checks.push(act_check(
            "backward",
            format!("{} errors", ly.name),
            GoldenRef::Delta(l),
            &[ly.err],
            &ly.chunks,
            ly.input_error,
        ));
        if !ly.input_error {
            continue;
        }
        let prev = &lw[l - 1];
        backward.extend(gather(
            &format!("{} gather errors", ly.name),
            l,
            &view_pieces(&ly.err, &ly.chunks, tiles, batch),
            (dram, &order),
        ));
        // After a feature map, lanes take input neurons: of the map's channels as its owners
        // hold them, or spread over every tile and their errors gathered afterwards, where the
        // map's channel owners find them.
        let (in_chunks, errors_gathered) =
            input_chunks(&lw, l, n_in, (&order, lanes), (batch, dram));
        let n_out = ly.out.n;
        let mut s = SegmentBuilder::new(format!("{} backward", ly.name), l, tiles, dram);
        for c in &in_chunks {
            let t = c.tile;
            s.fill(
                t,
                false,
                c.len,
                &[mac_across((ly.w, ly.wc), c, n_out, n_in)],
            );
            s.fill(t, true, c.len, &[prev.out.block(c.start, c.len, batch)]);
            s.compute(
                t,
                mode::BACKWARD,
                prev.act,
                true,
                true,
                n_out,
                c.len,
                &ly.err.samples(batch),
                &prev.err.block(c.start, c.len, batch),
            );
        }
        s.seg.macs = (batch * n_in * n_out) as u64;
        backward.push(s.finish());
        if errors_gathered {
            backward.extend(gather(
                &format!("{} gather input errors", ly.name),
                l,
                &view_pieces(&prev.err, &in_chunks, tiles, batch),
                (dram, &order),
            ));
        }
    }

    // Weight gradients.
    let mut gradient = vec![];
    for l in 0..nl {
        let ly = &lw[l];
        if matches!(ly.kind, Kind::Pool(_)) {
            continue;
        }
        let x = in_view(l);
        let mut s = SegmentBuilder::new(format!("{} gradient", ly.name), l, tiles, dram);
        // Fully connected and Elman layers: the terms and matrices of their weight gradients.
        let mut by_blocks: Option<(GradientTerms, Vec<GradientMatrix>)> = None;
        match ly.kind {
            Kind::Pool(_) => unreachable!("no parameters"),
            Kind::Conv(cv) => {
                let buffer_depth = config.pe.operand_buffer_depth;
                conv::gradient(
                    &mut s,
                    &cv,
                    (ly.gw, ly.gb),
                    konst,
                    &ly.chunks,
                    (batch, buffer_depth),
                );
                checks.push(row_check(
                    "gradient",
                    format!("{} weight gradients", ly.name),
                    GoldenRef::GradW(l),
                    BlockPlaces {
                        pitch: cv.row_pitch,
                        ..BlockPlaces::rows(ly.gw, GRAD, cv.forward_terms(), 0)
                    },
                    4,
                    &ly.chunks,
                ));
            }
            Kind::Fc { n_in, dt } => {
                let g = GradientTerms {
                    terms: batch,
                    err: ly.err.base,
                    err_stride: ly.err.sample,
                    dt,
                    x_terms: vec![(batch, x.sample as i64)],
                };
                let m = GradientMatrix {
                    x: x.base,
                    cols: n_in,
                    gw: ly.gw,
                    skip: 0,
                };
                by_blocks = Some((g, vec![m]));
                checks.push(row_check(
                    "gradient",
                    format!("{} weight gradients", ly.name),
                    GoldenRef::GradW(l),
                    BlockPlaces::rows(ly.gw, GRAD, n_in, 0),
                    4,
                    &ly.chunks,
                ));
            }
            Kind::Rnn {
                n,
                hidden,
                steps,
                u,
                d,
                dt,
            } => {
                let row = (n + hidden) as u64 * ACT;
                // Errors of h_1..h_T pair with the inputs u_0..u_{T-1}.
                let g = GradientTerms {
                    terms: batch * steps,
                    err: d,
                    err_stride: hidden as u64 * ACT,
                    dt,
                    x_terms: vec![(steps, row as i64), (batch, x.sample as i64)],
                };
                let matrices: [GradientMatrix; 2] = [
                    GradientMatrix {
                        x: u,
                        cols: n,
                        gw: ly.gw,
                        skip: 0,
                    },
                    // h_0 = 0: the recurrent weights take no first-step terms.
                    GradientMatrix {
                        x: u + n as u64 * ACT,
                        cols: hidden,
                        gw: ly.gw + (hidden * n) as u64 * GRAD,
                        skip: usize::from(steps > 1),
                    },
                ];
                by_blocks = Some((g, matrices.into()));
                checks.push(row_check(
                    "gradient",
                    format!("{} input weight gradients", ly.name),
                    GoldenRef::GradW(l),
                    BlockPlaces::rows(ly.gw, GRAD, n, 0),
                    4,
                    &ly.chunks,
                ));
                checks.push(row_check(
                    "gradient",
                    format!("{} recurrent weight gradients", ly.name),
                    GoldenRef::GradW(l),
                    BlockPlaces::rows(ly.gw + (hidden * n) as u64 * GRAD, GRAD, hidden, hidden * n),
                    4,
                    &ly.chunks,
                ));
            }
        }
        checks.push(row_check(
            "gradient",
            format!("{} bias gradients", ly.name),
            GoldenRef::GradB(l),
            BlockPlaces::rows(ly.gb, GRAD, 1, 0),
            4,
            &ly.chunks,
        ));
        let macs = costs[l].weight_grad * batch as u64;
        if let Some((g, matrices)) = by_blocks {
            let mut segs = weight_gradients(
                &s.seg.label,
                (l, tiles, dram),
                &ly.chunks,
                &g,
                &matrices,
                (konst, ly.gb),
                (lanes, depth, config.pe.operand_buffer_depth),
                macs,
            )?;
            s = segs.pop().expect("a segment");
            gradient.extend(segs.into_iter().map(SegmentBuilder::finish));
        } else {
            s.seg.macs = macs;
        }
        gradient.push(s.finish());
    }

    // Update, then the new MAC weights to every vault that reads them in backward.
    let mut update = vec![];
    let mut beats: Vec<Vec<Vec<Option<ParamRef>>>> = vec![vec![]; tiles];
    for l in 0..nl {
        let ly = &lw[l];
        let mut blocks = vec![];
        match ly.kind {
            Kind::Pool(_) => continue,
            Kind::Conv(cv) => blocks.push(UpdateBlock {
                w: ly.w,
                g: ly.gw,
                cols: cv.forward_terms(),
                pitch: Some(cv.row_pitch),
                index0: 0,
                kind: ParamKind::Weight,
                readers: if ly.input_error {
                    column_chunks(&lw[l - 1].chunks, cv.geo.kernel * cv.geo.kernel)
                } else {
                    vec![]
                },
                copy: None,
            }),
            Kind::Fc { n_in, .. } => blocks.push(UpdateBlock {
                w: ly.w,
                g: ly.gw,
                cols: n_in,
                pitch: None,
                index0: 0,
                kind: ParamKind::Weight,
                readers: if ly.input_error {
                    input_chunks(&lw, l, n_in, (&order, lanes), (batch, dram)).0
                } else {
                    vec![]
                },
                copy: ly.wc,
            }),
            Kind::Rnn {
                n, hidden, steps, ..
            } => {
                blocks.push(UpdateBlock {
                    w: ly.w,
                    g: ly.gw,
                    cols: n,
                    pitch: None,
                    index0: 0,
                    kind: ParamKind::Weight,
                    readers: if ly.input_error {
                        input_chunks(&lw, l, n, (&order, lanes), (batch, dram)).0
                    } else {
                        vec![]
                    },
                    copy: ly.wc,
                });
                // Backpropagation through time reads W_h across its rows between steps.
                blocks.push(UpdateBlock {
                    w: ly.w + (hidden * n) as u64 * RECORD_BYTES,
                    g: ly.gw + (hidden * n) as u64 * GRAD,
                    cols: hidden,
                    pitch: None,
                    index0: hidden * n,
                    kind: ParamKind::Weight,
                    readers: if steps > 1 { ly.chunks.clone() } else { vec![] },
                    copy: ly.wc.map(|wc| wc + (hidden * n) as u64 * ACT),
                });
            }
        }
        blocks.push(UpdateBlock {
            w: ly.b,
            g: ly.gb,
            cols: 1,
            pitch: None,
            index0: 0,
            kind: ParamKind::Bias,
            readers: vec![],
            copy: None,
        });
        let mut s = SegmentBuilder::new(format!("{} update", ly.name), l, tiles, dram);
        for t in 0..tiles {
            if !of_tile(&ly.chunks, t).is_empty() {
                s.push(t, Instr::Pe(FeedSetting::Eta(eta)));
            }
        }
        for c in &ly.chunks {
            let t = c.tile;
            for bl in &blocks {
                // The chunk's rows are one run of records: the streams read and write them in
                // memory order (a whole burst serves several elements), parameter m of the run
                // on lane m % c.len.
                let first = c.start * bl.cols;
                s.push(t, op(mode::UPDATE, 0, Feed::Elementwise, false, false));
                s.push(t, shape(1, c.len));
                s.read(t, Slot::A, Dest::Pe, &bl.rows_of(bl.w, c));
                s.read(t, Slot::B, Dest::Pe, &bl.rows_of(bl.g, c));
                s.write(t, &bl.rows_of(bl.w, c));
                s.push(t, Instr::Run);
                for beat in 0..bl.cols {
                    beats[t].push(
                        (0..lanes)
                            .map(|k| {
                                (k < c.len).then_some(ParamRef {
                                    layer: l,
                                    kind: bl.kind,
                                    index: bl.index0 + first + beat * c.len + k,
                                })
                            })
                            .collect(),
                    );
                }
            }
        }
        let exchanged: Vec<ColumnExchange> = blocks
            .iter()
            .filter(|bl| !bl.readers.is_empty())
            .map(|bl| ColumnExchange {
                records: bl.records(),
                owners: ly.chunks.clone(),
                readers: bl.readers.clone(),
                copy: bl.copy,
            })
            .collect();
        // A tile that reads columns of its own rows copies them too, through its own router,
        // once the update has written them (a run ends with its writes done): at the end of the
        // update segment where the programs leave room, else in a segment of its own. The records
        // are read narrowed, a MAC weight an element, into the copy's 2-byte elements.
        let own: ExchangeRound = (0..tiles)
            .map(|t| {
                let (sends, receives) = exchanged
                    .iter()
                    .filter(|x| x.copy.is_some())
                    .flat_map(|x| x.piece(t, t, true).into_iter().zip(x.piece(t, t, false)))
                    .unzip();
                ExchangeLeg {
                    dst: t,
                    sends,
                    receives,
                }
            })
            .collect();
        let mut with_own = s.clone();
        for (t, leg) in own.iter().enumerate() {
            for (f, w) in leg.sends.iter().zip(&leg.receives) {
                with_own.transfer_run(t, t, Some(f), Some(w));
            }
        }
        // Below the window: room for the END that finish adds.
        let fits = with_own
            .seg
            .programs
            .iter()
            .all(|p| (encode(p).len() as u64) < PROGRAM_WINDOW);
        if fits {
            s = with_own;
        }
        s.seg.macs = costs[l].update_params;
        update.push(s.finish());
        if !fits {
            update.extend(exchange_segments(
                &format!("{} MAC copies of own rows", ly.name),
                l,
                &[own],
                tiles,
                dram,
            ));
        }
        for bl in &blocks {
            let golden_w = match bl.kind {
                ParamKind::Weight => GoldenRef::NewW(l),
                ParamKind::Bias => GoldenRef::NewB(l),
            };
            let records = bl.records();
            let mut masters = row_check(
                "update",
                format!("{} master {:?}s", ly.name, bl.kind).to_lowercase(),
                golden_w,
                records,
                4,
                &ly.chunks,
            );
            // And every row of each reader's columns, in the reader's vault: the records
            // themselves, or their MAC weights in the reader's copy.
            let rows = ly.chunks.iter().map(|c| c.start + c.len).max().unwrap_or(0);
            match bl.copy {
                None => masters.places.extend(
                    bl.readers
                        .iter()
                        .map(|q| (q.tile, records.places(0..rows, q.start..q.start + q.len))),
                ),
                Some(copy) if !bl.readers.is_empty() => {
                    let readers: Vec<(usize, Vec<(usize, u64)>)> = bl
                        .readers
                        .iter()
                        .map(|q| (q.tile, mac_copy_places(copy, q, rows, bl.cols, bl.index0)))
                        .collect();
                    mac_copies.extend(readers.iter().map(|(vault, places)| MacCopy {
                        layer: l,
                        vault: *vault,
                        base: places[0].1,
                        indices: places.iter().map(|&(i, _)| i).collect(),
                    }));
                    checks.push(TensorCheck {
                        phase: "update",
                        name: format!("{} MAC weight copies", ly.name),
                        golden: GoldenRef::NewMacW(l),
                        width: ACT as usize,
                        places: readers,
                    });
                }
                Some(_) => {}
            }
            checks.push(masters);
        }
        if !exchanged.is_empty() {
            update.extend(exchange_columns(
                &format!("{} MAC to readers", ly.name),
                l,
                &exchanged,
                (config.array.rows, config.array.cols),
                dram,
            ));
        }
    }

    let params = lw
        .iter()
        .map(|ly| ParamPlaces {
            w: ly.w,
            rows: match ly.kind {
                Kind::Conv(cv) => Some((cv.forward_terms(), cv.row_pitch)),
                _ => None,
            },
            b: ly.b,
        })
        .collect();
    let mut phases = vec![
        Phase {
            name: "forward",
            segments: forward,
        },
        Phase {
            name: "backward",
            segments: backward,
        },
        Phase {
            name: "gradient",
            segments: gradient,
        },
        Phase {
            name: "update",
            segments: update,
        },
    ];
    super::refill::leave_out_held_fills(&mut phases);
    for seg in phases.iter().flat_map(|ph| &ph.segments) {
        for (t, p) in seg.programs.iter().enumerate() {
            let words = encode(p).len() as u64;
            if words > PROGRAM_WINDOW {
                bail!(
                    "segment {}: tile {t}'s program of {words} words does not fit the program memory ({PROGRAM_WINDOW} words)",
                    seg.label
                );
            }
        }
    }
    Ok(Plan {
        layer_names: lw.iter().map(|ly| ly.name.clone()).collect(),
        batch,
        tiles,
        lanes,
        eta,
        map,
        phases,
        update_beats: beats,
        checks,
        mac_copies,
        input_addrs,
        target_addrs,
        params,
        konst,
        konst_values,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::program::every_byte as bytes;
    use nt_hdl::dataflow_program::Descriptor;
    use std::collections::{BTreeMap, BTreeSet};

    /// One run of a gather or exchange program: (where it sends, the bytes of a value it sends
    /// and the bytes; the element size and bytes written). A narrowed read sends a 2-byte MAC
    /// weight an element, which stands here for its master's first two bytes.
    type TransferRun = (Option<(usize, u32, Vec<u64>)>, Option<(u32, Vec<u64>)>);

    fn runs(program: &[Instr]) -> Vec<TransferRun> {
        let mut out = vec![];
        let (mut send, mut write) = (None, None);
        for i in program {
            match i {
                Instr::Stream(d) if d.slot == Slot::A => {
                    let Dest::Tile(t) = d.dest else {
                        panic!("a transfer reads to the network only")
                    };
                    send = Some(if d.narrow {
                        let values = d.addresses().flat_map(|a| [a, a + 1]).collect();
                        (t as usize, ACT as u32, values)
                    } else {
                        (t as usize, d.size, bytes(d))
                    });
                }
                Instr::Stream(d) => write = Some((d.size, bytes(d))),
                Instr::Run => out.push((send.take(), write.take())),
                _ => {}
            }
        }
        out
    }

    /// Runs transfer segments byte by byte from what each vault `held` (a byte's address and
    /// where its value came from): each tile sends only bytes it holds, in elements of the size
    /// its one receiver of the round writes, each receiver writes, run by run, the bytes its
    /// sender sends, and every program fits the program memory. Returns what each vault holds
    /// after, and how many values (elements) were written.
    fn transfer_values(
        segs: &[Segment],
        mut held: Vec<BTreeMap<u64, u64>>,
    ) -> (Vec<BTreeMap<u64, u64>>, usize) {
        let mut written = 0;
        for seg in segs {
            for p in &seg.programs {
                assert!((encode(p).len() as u64) < PROGRAM_WINDOW, "{}", seg.label);
            }
            let runs: Vec<Vec<TransferRun>> = seg.programs.iter().map(|p| runs(p)).collect();
            let mut next = held.clone();
            for (t, tile_runs) in runs.iter().enumerate() {
                for (i, (send, _)) in tile_runs.iter().enumerate() {
                    let Some((dst, size, addrs)) = send else {
                        continue;
                    };
                    let Some((wsize, waddrs)) = runs[*dst][i].1.as_ref() else {
                        panic!("{}: tile {dst} writes nothing of run {i}", seg.label);
                    };
                    assert_eq!((size, addrs.len()), (wsize, waddrs.len()), "{}", seg.label);
                    for (a, w) in addrs.iter().zip(waddrs) {
                        let Some(&origin) = held[t].get(a) else {
                            panic!("{}: tile {t} sends {a:#x} it lacks", seg.label);
                        };
                        next[*dst].insert(*w, origin);
                    }
                    written += addrs.len() / *size as usize;
                }
            }
            held = next;
        }
        (held, written)
    }

    /// [`transfer_values`] where every byte lands at the address it came from.
    fn transfer(segs: &[Segment], held: Vec<BTreeSet<u64>>) -> (Vec<BTreeSet<u64>>, usize) {
        let held = held
            .into_iter()
            .map(|h| h.into_iter().map(|a| (a, a)).collect())
            .collect();
        let (held, written) = transfer_values(segs, held);
        let held = held
            .into_iter()
            .map(|h| {
                h.into_iter()
                    .map(|(a, origin)| {
                        assert_eq!(a, origin, "a byte moved to another address");
                        a
                    })
                    .collect()
            })
            .collect();
        (held, written)
    }

    fn row_major(tiles: usize) -> Vec<usize> {
        (0..tiles).collect()
    }

    /// The deal order of a mesh as square as `tiles` allows when a power of two, else row-major.
    fn mesh_order(tiles: usize) -> Vec<usize> {
        if !tiles.is_power_of_two() {
            return row_major(tiles);
        }
        let rows = 1 << (tiles.trailing_zeros() / 2);
        deal_order(rows, tiles / rows)
    }

    /// Every piece reaches every vault, each tile sends only pieces it already holds, and each
    /// receiver writes, run by run, what its one sender of the round sends it.
    fn assert_all_gathered(tiles: usize, rounds: usize) {
        let order = mesh_order(tiles);
        // Some tiles own two pieces, some none.
        let pieces: Vec<Vec<Access>> = (0..tiles)
            .map(|t| {
                (0..t % 3)
                    .map(|i| Access::new((0x1000 + 0x100 * t + 0x40 * i) as u64, 2, &[(4, 2)]))
                    .collect()
            })
            .collect();
        let segs = gather("g", 0, &pieces, (&DramConfig::default(), &order));
        assert_eq!(segs.len(), rounds, "{tiles} tiles");
        let held: Vec<BTreeSet<u64>> = pieces
            .iter()
            .map(|p| {
                p.iter()
                    .flat_map(|a| bytes(&a.descriptor(Slot::A, Dest::Pe)))
                    .collect()
            })
            .collect();
        let (held, _) = transfer(&segs, held);
        let all: BTreeSet<u64> = held.iter().flatten().copied().collect();
        for (t, h) in held.iter().enumerate() {
            assert_eq!(h, &all, "tile {t} of {tiles}");
        }
    }

    /// Blocks of MAC values, rows dealt to owners and columns to readers by the usual chunks:
    /// one fully connected `rows x cols` block, a second whose readers take channels of 9
    /// columns, as a 3x3 convolution's do, and a third whose readers keep copies.
    fn exchange_blocks(
        rows: usize,
        cols: usize,
        tiles: usize,
        lanes: usize,
    ) -> Vec<ColumnExchange> {
        vec![
            ColumnExchange {
                records: BlockPlaces::rows(0x10_0000, RECORD_BYTES, cols, 0),
                owners: chunks(rows, &row_major(tiles), lanes),
                readers: chunks(cols, &row_major(tiles), lanes),
                copy: None,
            },
            ColumnExchange {
                // Rows apart by more than their records, as a convolution's may be.
                records: BlockPlaces {
                    pitch: 3 * 9 * RECORD_BYTES + 20,
                    ..BlockPlaces::rows(0x80_0000, RECORD_BYTES, 3 * 9, 0)
                },
                owners: chunks(5, &row_major(tiles), lanes),
                readers: column_chunks(&chunks(3, &row_major(tiles), lanes), 9),
                copy: None,
            },
            ColumnExchange {
                records: BlockPlaces::rows(0x100_0000, RECORD_BYTES, cols, 0),
                owners: chunks(rows, &row_major(tiles), lanes),
                readers: chunks(cols, &row_major(tiles), lanes),
                copy: Some(0x200_0000),
            },
        ]
    }

    /// Runs an exchange's segments from the owners' rows (see [`transfer_values`]): in the end
    /// every reader holds every row of its columns (of another tile's rows, where it keeps a
    /// copy: its own it copies in the update), in the records or in its copy. Returns how many
    /// values were written.
    fn assert_exchanged(
        tiles: usize,
        rounds: &[ExchangeRound],
        blocks: &[ColumnExchange],
    ) -> usize {
        let address = |b: &ColumnExchange, j: usize, i: usize| b.records.at(j, i);
        let mut held: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); tiles];
        for b in blocks {
            for r in &b.owners {
                for j in r.start..r.start + r.len {
                    held[r.tile].extend((0..b.records.cols).flat_map(|i| {
                        (0..RECORD_BYTES).map(move |k| (address(b, j, i) + k, address(b, j, i) + k))
                    }));
                }
            }
        }
        let segs = exchange_segments("x", 0, rounds, tiles, &DramConfig::default());
        let (held, written) = transfer_values(&segs, held);
        for b in blocks {
            let rows = b.rows();
            for q in &b.readers {
                let places: Vec<(usize, u64)> = match b.copy {
                    Some(copy) => mac_copy_places(copy, q, rows, b.records.cols, 0),
                    None => (0..rows)
                        .flat_map(|j| (q.start..q.start + q.len).map(move |i| (j, i)))
                        .map(|(j, i)| (j * b.records.cols + i, address(b, j, i)))
                        .collect(),
                };
                let own = |index: usize| {
                    b.owners.iter().any(|r| {
                        r.tile == q.tile
                            && (r.start..r.start + r.len).contains(&(index / b.records.cols))
                    })
                };
                for (index, at) in places {
                    if b.copy.is_some() && own(index) {
                        continue;
                    }
                    let from = address(b, index / b.records.cols, index % b.records.cols);
                    assert_eq!(
                        held[q.tile].get(&at),
                        Some(&from),
                        "tile {} lacks value {index} at {at:#x}",
                        q.tile
                    );
                }
            }
        }
        written
    }

    #[test]
    fn exchanges_bring_every_reader_its_columns_and_the_ring_moves_each_value_once() {
        for ((rows, cols), lanes) in [((4, 4), 16), ((2, 2), 4), ((2, 3), 4), ((1, 1), 4)] {
            let tiles = rows * cols;
            let blocks = exchange_blocks(70, 45, tiles, lanes);
            // Values a reader needs from another tile's rows.
            let needed: usize = blocks
                .iter()
                .map(|b| {
                    b.owners
                        .iter()
                        .flat_map(|r| b.readers.iter().map(move |q| (r, q)))
                        .filter(|(r, q)| r.tile != q.tile)
                        .map(|(r, q)| r.len * q.len)
                        .sum::<usize>()
                })
                .sum();
            let ring = ring_rounds(&blocks, tiles);
            assert_eq!(ring.len(), tiles - 1);
            assert_eq!(
                assert_exchanged(tiles, &ring, &blocks),
                needed,
                "{tiles} tiles"
            );
            let pairs = mesh_rounds::disjoint_pairs(rows, cols).unwrap();
            let disjoint = pair_rounds(&blocks, &pairs, tiles);
            assert_eq!(
                assert_exchanged(tiles, &disjoint, &blocks),
                needed,
                "{tiles} tiles"
            );
            if tiles.is_power_of_two() && tiles > 2 {
                let halving = halving_rounds(&blocks, tiles);
                assert_eq!(halving.len(), tiles.trailing_zeros() as usize);
                let written = assert_exchanged(tiles, &halving, &blocks);
                assert!(
                    written <= needed * halving.len(),
                    "{tiles} tiles: {written}"
                );
            }
        }
    }

    #[test]
    fn exchanges_take_rounds_that_share_no_link_over_a_run_per_piece() {
        let blocks = &exchange_blocks(10, 32, 16, 16)[2..];
        let (ring, halving) = (ring_rounds(blocks, 16), halving_rounds(blocks, 16));
        // A halving round sends a tile's pieces for 8 readers as 8 runs, a ring round as one:
        // on bench_rnn's 16-output layer the ring's 15 rounds took 1,716 cycles, halving's 4
        // rounds 3,628.
        let runs = |rounds: &[ExchangeRound]| {
            let most = rounds.iter().flatten().map(|x| x.sends.len()).max();
            most.unwrap()
        };
        assert_eq!((runs(&ring), runs(&halving)), (1, 8));
        assert!(exchange_cycles(&ring, 4) < exchange_cycles(&halving, 4));
        // The ring puts two transfers on a link in 9 of its 15 rounds, the disjoint rounds
        // never, in 16: for a few values a pair (here 10 x 2) the round more costs more.
        let pairs = mesh_rounds::disjoint_pairs(4, 4).unwrap();
        assert!(exchange_cycles(&pair_rounds(blocks, &pairs, 16), 4) > exchange_cycles(&ring, 4));
        let large = &exchange_blocks(256, 256, 16, 16)[2..];
        let disjoint = exchange_cycles(&pair_rounds(large, &pairs, 16), 4);
        assert!(disjoint < exchange_cycles(&ring_rounds(large, 16), 4));
        let segments = |rows, cols| {
            exchange_columns(
                "x",
                0,
                &exchange_blocks(rows, cols, 16, 16)[2..],
                (4, 4),
                &DramConfig::default(),
            )
            .len()
        };
        assert_eq!(segments(10, 32), 15);
        assert_eq!(segments(256, 256), 16);
    }

    /// Neighbouring places' chunks side by side (each tile's 16-bit values of 3 samples), dealt
    /// in a 2 x 4 mesh's order: a round sends what a group holds as one access of 4-byte
    /// elements, and every vault ends with all.
    #[test]
    fn a_gather_of_neighbouring_chunks_sends_each_round_as_one_run_of_words() {
        // Chunks of 4 values of 3 samples; also as channels of a 1 x 1 map, whose loops of one
        // element (its rows and columns) must not keep them apart.
        let row = |v: usize| Access::new(0x1000 + 8 * v as u64, 2, &[(4, 2), (3, 0x100)]);
        let map = |v: usize| {
            Access::new(
                0x1000 + 8 * v as u64,
                2,
                &[(1, 2), (1, 2), (4, 2), (3, 0x100)],
            )
        };
        gather_in_one_run_a_round(row);
        gather_in_one_run_a_round(map);
    }

    fn gather_in_one_run_a_round(piece: impl Fn(usize) -> Access) {
        let tiles = 8;
        let order = deal_order(2, 4);
        let mut pieces: Vec<Vec<Access>> = vec![vec![]; tiles];
        for (v, &t) in order.iter().enumerate() {
            pieces[t] = vec![piece(v)];
        }
        let segs = gather("g", 0, &pieces, (&DramConfig::default(), &order));
        assert_eq!(segs.len(), 3);
        for (r, seg) in segs.iter().enumerate() {
            for p in &seg.programs {
                let runs = runs(p);
                assert_eq!(runs.len(), 1, "round {r}");
                let streams: Vec<&Instr> =
                    p.iter().filter(|i| matches!(i, Instr::Stream(_))).collect();
                for i in streams {
                    let Instr::Stream(d) = i else { unreachable!() };
                    assert_eq!((d.size, d.loops[0].0), (4, 2 << r), "round {r}");
                }
            }
        }
        let held = pieces
            .iter()
            .map(|p| {
                bytes(&p[0].descriptor(Slot::A, Dest::Pe))
                    .into_iter()
                    .collect()
            })
            .collect();
        let (held, _) = transfer(&segs, held);
        let all: BTreeSet<u64> = held.iter().flatten().copied().collect();
        assert_eq!(all.len(), tiles * 4 * 3 * 2);
        for h in &held {
            assert_eq!(h, &all);
        }
    }

    #[test]
    fn gathers_double_over_powers_of_two_and_ring_otherwise() {
        assert_all_gathered(4, 2);
        assert_all_gathered(16, 4);
        assert_all_gathered(6, 5);
        assert_all_gathered(3, 2);
    }
    #[test]
    fn records_hold_master_weights_only_and_products_read_them_narrowed() {
        // fc1 has 64 rows, so its backward readers keep copies; fc2's 12 rows are read across
        // the records themselves.
        let net = Network::from_toml_str(
            r#"
            name = "t"
            input = [40]
            loss = "mse"
            [[layer]]
            type = "fc"
            out = 16
            act = "relu"
            [[layer]]
            type = "fc"
            out = 64
            act = "relu"
            [[layer]]
            type = "fc"
            out = 12
            act = "identity"
            "#,
        )
        .unwrap();
        let plan = compile(&net, 4, 100, &Config::default()).unwrap();
        let shapes = [(40, 16), (16, 64), (64, 12)];
        for (l, &(n, m)) in shapes.iter().enumerate() {
            let w = plan.params[l].w;
            let records = |name: &str| plan.map.regions().find(|r| r.name == name).unwrap().bytes;
            assert_eq!(records(&format!("fc{l}.w")), (n * m) as u64 * RECORD_BYTES);
            assert_eq!(records(&format!("fc{l}.b")), m as u64 * RECORD_BYTES);
            // The update reads a master and a gradient and writes the master: 12 bytes a
            // parameter (the layer with copies also copies its own rows' MAC weights).
            let update = plan.phases[3]
                .segments
                .iter()
                .find(|s| s.label == format!("fc{l} update"))
                .unwrap();
            let params = (n * m + m) as u64;
            if l != 1 {
                assert_eq!(
                    (update.bytes_read, update.bytes_written),
                    (8 * params, 4 * params)
                );
            }
            // Every other stream that reads weight records into the PE reads MAC weights.
            let in_weights = |a: u64| (w..w + records(&format!("fc{l}.w"))).contains(&a);
            let mut reads = 0;
            for p in plan
                .phases
                .iter()
                .flat_map(|ph| &ph.segments)
                .flat_map(|s| &s.programs)
            {
                let mut updating = false;
                for i in p {
                    match i {
                        Instr::Pe(FeedSetting::Op { mode: m, .. }) => updating = *m == mode::UPDATE,
                        Instr::Stream(d) if d.dest == Dest::Pe && in_weights(d.base as u64) => {
                            assert_eq!(d.narrow, !updating, "fc{l}: {d:?}");
                            reads += 1;
                        }
                        _ => {}
                    }
                }
            }
            assert!(reads > 0, "fc{l}: no reads of its records");
        }
    }

    #[test]
    fn gradient_runs_take_the_blocks_measured_fastest() {
        // bench_fc's 256 x 256 layers (16 outputs a tile): 2 blocks a run took 6,131 cycles,
        // 4 blocks 6,529, 8 blocks 6,865.
        assert_eq!(blocks_per_run(16, (16, 16), 16, 256)[0], 2);
        // bench_rnn's 16-output layer (one output a tile, 64 terms): 2 blocks a run took 2,819
        // cycles, 1 block 3,525; runs the fills outlast gain nothing from a shorter first fill.
        assert_eq!(blocks_per_run(16, (64, 1), 16, 256)[0], 2);
        // Every choice keeps two runs' inputs in a lane buffer.
        assert_eq!(blocks_per_run(16, (64, 1), 16, 256).len(), 2);
        assert_eq!(blocks_per_run(16, (200, 1), 16, 256), [1]);
    }

    #[test]
    fn an_elman_layer_never_multiplies_its_zero_initial_state() {
        let net = Network::from_toml_str(include_str!("../../../examples/rnn.toml")).unwrap();
        let (n, hidden, steps, batch) = (8usize, 16usize, 4usize, 4usize);
        let plan = compile(&net, batch, 100, &Config::default()).unwrap();
        let u = plan.map.regions().find(|r| r.name == "rnn0.u").unwrap();
        assert_eq!(u.bytes % batch as u64, 0);
        let (sample, row) = (u.bytes / batch as u64, ((n + hidden) as u64) * ACT);
        assert!(sample >= (steps as u64 + 1) * row);
        // h_0 of every sample: the second half of its first row.
        let h0 = |a: u64| {
            let off = a.checked_sub(u.base).map(|o| o % sample);
            a < u.base + u.bytes && off.is_some_and(|o| (n as u64 * ACT..row).contains(&o))
        };
        let mut reads = 0;
        for seg in plan.phases.iter().flat_map(|ph| &ph.segments) {
            for i in seg.programs.iter().flatten() {
                if let Instr::Stream(d) = i {
                    if d.dest == Dest::Pe {
                        let first = bytes(d).into_iter().find(|&a| h0(a));
                        assert_eq!(first, None, "{}: {d:?} reads h_0", seg.label);
                        reads += 1;
                    }
                }
            }
        }
        assert!(reads > 0);
        // Every segment's MACs are what it computes: the first step's inputs only.
        let step1 = plan.phases[0]
            .segments
            .iter()
            .find(|s| s.label == "rnn0 forward step 1");
        assert_eq!(step1.unwrap().macs, (batch * hidden * n) as u64);
    }

    #[test]
    fn a_layer_of_few_outputs_a_tile_takes_the_samples_on_its_lanes() {
        let order: Vec<usize> = (0..16).collect();
        // 16 outputs on 16 tiles, 256 inputs: one lane a tile would take 16 x 256 beats.
        assert!(samples_on_lanes(&chunks(16, &order, 16), 16, (256, 16, 16)));
        // A full chunk a tile: its weight rows on the lanes serve every sample.
        assert!(!samples_on_lanes(
            &chunks(256, &order, 16),
            16,
            (256, 16, 16)
        ));
        // More samples than lanes do not fit.
        assert!(!samples_on_lanes(
            &chunks(16, &order, 16),
            16,
            (256, 32, 16)
        ));
        let net = Network::from_toml_str(
            r#"
            name = "t"
            input = [64]
            loss = "mse"
            [[layer]]
            type = "fc"
            out = 8
            act = "relu"
            "#,
        )
        .unwrap();
        let plan = compile(&net, 4, 100, &Config::default()).unwrap();
        let forward = &plan.phases[0].segments[0];
        let (input, y) = (
            &plan.map.regions().find(|r| r.name == "input").unwrap(),
            64 * 2,
        );
        let mut busy = 0;
        for t in 0..plan.tiles {
            let streams: Vec<&Descriptor> = forward.programs[t]
                .iter()
                .filter_map(|i| match i {
                    Instr::Stream(d) => Some(d),
                    _ => None,
                })
                .collect();
            if streams.is_empty() {
                continue;
            }
            busy += 1;
            // Buffer A takes the 4 samples' inputs, lane by lane; stream b the tile's weight row.
            let inputs = input.base..input.base + 4 * y;
            let filled: BTreeSet<u64> = streams
                .iter()
                .take_while(|d| !d.narrow)
                .flat_map(|d| bytes(d))
                .filter(|a| inputs.contains(a))
                .collect();
            assert_eq!(filled, inputs.collect());
            assert!(streams.iter().any(|d| d.narrow && d.loops[0] == (64, 4)));
        }
        // An output a tile.
        assert_eq!(busy, 8);
    }

    /// A 3 x 3 convolution of `(out_channels, padding)` over `input`, `pools` max pools and a
    /// fully connected layer of `out` outputs.
    fn conv_pools_fc(
        input: &str,
        (channels, padding): (usize, usize),
        pools: usize,
        out: usize,
    ) -> Network {
        let pool = "[[layer]]\ntype = \"maxpool\"\n".repeat(pools);
        Network::from_toml_str(&format!(
            "name = \"t\"\ninput = {input}\nloss = \"mse\"\n\
             [[layer]]\ntype = \"conv\"\nout_channels = {channels}\nkernel = 3\n\
             padding = {padding}\nact = \"relu\"\n{pool}\
             [[layer]]\ntype = \"fc\"\nout = {out}\nact = \"identity\"\n"
        ))
        .unwrap()
    }

    #[test]
    fn an_fc_after_a_feature_map_writes_each_input_error_where_the_maps_owner_reads_it() {
        let net = conv_pools_fc("[4, 4, 4]", (64, 1), 1, 8);
        let plan = compile(&net, 2, 100, &Config::default()).unwrap();
        let backward = &plan.phases[1].segments;
        assert!(
            backward
                .iter()
                .all(|s| !s.label.contains("gather input errors")),
            "{:?}",
            backward.iter().map(|s| &s.label).collect::<Vec<_>>()
        );
        let e = plan.map.regions().find(|r| r.name == "maxpool1.e").unwrap();
        // The bytes of the map's errors the tile's streams write (or read) in a segment.
        let errors = |label: &str, write: bool, t: usize| -> BTreeSet<u64> {
            let seg = backward.iter().find(|s| s.label == label).unwrap();
            seg.programs[t]
                .iter()
                .filter_map(|i| match i {
                    Instr::Stream(d) if (d.slot == Slot::W) == write => Some(bytes(d)),
                    _ => None,
                })
                .flatten()
                .filter(|a| (e.base..e.base + e.bytes).contains(a))
                .collect()
        };
        let mut read = 0;
        for t in 0..plan.tiles {
            let wanted = errors("maxpool1 backward", false, t);
            let written = errors("fc2 backward", true, t);
            assert!(wanted.is_subset(&written), "tile {t}");
            read += wanted.len();
        }
        // Every error of the map (64 channels of 2 x 2, 2 samples, 2 bytes) is read by its owner.
        assert_eq!(read, 64 * 4 * 2 * 2);
    }

    #[test]
    fn a_convolutions_update_walks_its_records_and_gradients_at_one_pitch() {
        // 28 channels x 3 x 3 words: rows of 1,008 bytes, which take a wider pitch.
        let net = conv_pools_fc("[28, 6, 6]", (256, 0), 2, 4);
        let config = Config::default();
        let plan = compile(&net, 1, 100, &config).unwrap();
        let cols = 28 * 9;
        let pitch = conv::row_pitch(cols, config.pe.lanes, &config.dram);
        assert!(pitch > cols as u64 * RECORD_BYTES, "{pitch}");
        let region = |name: &str| plan.map.regions().find(|r| r.name == name).unwrap();
        let (w, gw) = (region("conv0.w"), region("conv0.gw"));
        assert_eq!((w.bytes, gw.bytes), (256 * pitch, 256 * pitch));
        assert_eq!(plan.params[0].rows, Some((cols, pitch)));
        let update = plan.phases[3]
            .segments
            .iter()
            .find(|s| s.label == "conv0 update")
            .unwrap();
        let mut chunks = 0;
        for p in &update.programs {
            // The weights' run: the first update run.
            let streams: Vec<&Descriptor> = p
                .iter()
                .skip_while(|i| {
                    !matches!(i, Instr::Pe(FeedSetting::Op { mode: m, .. }) if *m == mode::UPDATE)
                })
                .take_while(|i| !matches!(i, Instr::Run))
                .filter_map(|i| match i {
                    Instr::Stream(d) => Some(d),
                    _ => None,
                })
                .collect();
            let [records, gradients, written] = streams[..] else {
                continue;
            };
            let rows = vec![(cols as u32, 4), (config.pe.lanes as u32, pitch as i32)];
            assert_eq!(records.loops, rows);
            assert_eq!(gradients.loops, rows);
            assert_eq!((written.base, &written.loops), (records.base, &rows));
            // A fixed distance apart, so that their banks keep apart.
            assert_eq!((gradients.base - records.base) as u64, gw.base - w.base);
            chunks += 1;
        }
        assert_eq!(chunks, 16);
    }

    #[test]
    fn a_fill_by_lane_splits_its_lanes_between_the_streams_where_the_dram_serves_both() {
        let dram = DramConfig::default();
        let s = SegmentBuilder::new("t".into(), 0, 1, &dram);
        // A 256-input layer's weight rows, 1,024 bytes apart: neighbours four banks apart.
        let rows = Access::mac_weights(0x40, &[(256, 4), (16, 1024)]);
        let (even, odd) = s.split(&rows).expect("split");
        assert_eq!((even.base, odd.base), (0x40, 0x440));
        assert_eq!(even.loops, vec![(256, 4), (8, 2048)]);
        assert_eq!(odd.loops, even.loops);
        assert!(even.narrow && odd.narrow);
        // Five lanes: three even, two odd.
        let five = Access::new(0, 2, &[(128, 2), (5, 512)]);
        let (even, odd) = s.split(&five).expect("split");
        assert_eq!(
            (even.loops[1], odd.loops[1], odd.base),
            ((3, 1024), (2, 1024), 512)
        );
        // Rows a whole turn of the banks apart: both streams in one bank, on different rows.
        let same_bank = dram.banks as i64 * dram.row_bytes as i64;
        assert!(s
            .split(&Access::new(0, 4, &[(64, 4), (16, same_bank)]))
            .is_none());
        // An element a burst: the DRAM, not the feeder, bounds the fill.
        assert!(s
            .split(&Access::new(0, 2, &[(64, 64), (16, 4384)]))
            .is_none());
        // One lane.
        assert!(s.split(&Access::new(0, 2, &[(64, 2), (1, 128)])).is_none());
    }

    #[test]
    fn a_plain_fill_of_neighbouring_16_bit_operands_takes_two_lanes_an_element() {
        let dram = DramConfig::default();
        // 16 lanes' values side by side, two terms a lane, 4 samples.
        let part = Access::new(0x100, 2, &[(16, 2), (2, 0x1000), (4, 64)]);
        let streams = |buffer_b: bool, lanes: usize, part: &Access| {
            let mut s = SegmentBuilder::new("t".into(), 0, 1, &dram);
            s.fill(0, buffer_b, lanes, std::slice::from_ref(part));
            let p = &s.seg.programs[0];
            let pairs = p.contains(&program::pair_fill_start(0));
            let d: Vec<Descriptor> = p
                .iter()
                .filter_map(|i| match i {
                    Instr::Stream(d) => Some(d.clone()),
                    _ => None,
                })
                .collect();
            (pairs, d)
        };
        let (pairs, d) = streams(false, 16, &part);
        assert!(pairs);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].size, 4);
        assert_eq!(bytes(&d[0]), bytes(&part.descriptor(Slot::A, Dest::Pe)));
        // Buffer B's entries are 32-bit, and an odd number of lanes has no pairs.
        assert_eq!(streams(true, 16, &part).1[0].size, 2);
        let odd = Access::new(0x100, 2, &[(15, 2), (8, 64)]);
        let (pairs, d) = streams(false, 15, &odd);
        assert!(!pairs && d[0].size == 2);
    }
}
