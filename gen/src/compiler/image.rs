//! Image tensors (`[C, H, W]` per sample) in DRAM: where each element sits, and the layouts a
//! consumer asks its producer for.
//!
//! A convolution reads zero-padded inputs, so that every window is one strided descriptor and
//! padded taps are plain zeros (they evaluate a product with 0, which adds nothing); an rnn reads
//! a feature map as rows `[x_s, h_s]`; everything else reads a dense row-major map. The producer
//! (the network input, a convolution or a pool) writes its output straight into the layout its
//! consumer reads, so no layer ever copies a tensor into another layout.

use super::memory_map::MemoryMap;
use super::program::Access;
use super::ACT;
use nt_hdl::dram_config::DramConfig;
use nt_testbench::network::{Layer, LayerShape};

/// Most row lengths a sample's stride grows by to start consecutive samples in other banks.
const STAGGER_ROWS: u64 = 2;

/// The stride of samples of `bytes` each: `bytes` itself, or, for samples of a DRAM row or more,
/// the shortest stride up to [`STAGGER_ROWS`] rows longer (in whole bursts) that spreads the
/// first `batch` samples (up to one per bank) over as many banks as any such stride does, counted
/// at every burst of a row: the same element of each sample, whatever its offset in the sample.
/// A convolution's weight gradient reads a window of every sample in turn, and a dense stride
/// that is a multiple of a row's length puts every sample in one or two banks, each read a row
/// miss waiting on the last (bench_conv's input, 2,016 bytes a sample, took banks 0, 7, 15, 7,
/// 15...). Counting the samples' first bytes alone chose 2,176 bytes, 8.5 rows: at half a row
/// into a sample two of them shared a bank, and the gradient missed a row 1,621 times a tile
/// by a model of its reads; 2,304 bytes, 9 rows, keeps every offset apart (1,387).
pub fn staggered_sample(bytes: u64, batch: usize, dram: &DramConfig) -> u64 {
    let (row, burst) = (dram.row_bytes as u64, dram.burst_bytes() as u64);
    let samples = batch.min(dram.banks);
    if bytes < row || samples < 2 {
        return bytes;
    }
    let banks = |stride: u64| -> usize {
        (0..row)
            .step_by(burst as usize)
            .map(|offset| banks_of_samples(dram, stride, samples, offset))
            .sum()
    };
    let first = bytes.div_ceil(burst) * burst;
    let candidates = (first..=bytes + STAGGER_ROWS * row).step_by(burst as usize);
    // The most banks, then the shortest stride.
    let best = candidates
        .map(|s| (banks(s), std::cmp::Reverse(s)))
        .max()
        .expect("at least one candidate");
    if best.0 > banks(bytes) {
        best.1 .0
    } else {
        bytes
    }
}

/// The banks that byte `offset` of each of the first `samples` samples, `stride` apart, fall in.
fn banks_of_samples(dram: &DramConfig, stride: u64, samples: usize, offset: u64) -> usize {
    let mut seen: Vec<usize> = (0..samples as u64)
        .map(|b| dram.bank_of(b * stride + offset))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

/// Element `(b, c, y, x)` at `base + b * sample + c * ch + y * row + ACT * x`; strides in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageView {
    pub base: u64,
    pub sample: u64,
    pub ch: u64,
    pub row: u64,
    pub c: usize,
    pub h: usize,
    pub w: usize,
}

/// The `[x_s, h_s]` rows of an rnn that reads a feature map (allocated by the map's producer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RnnRows {
    pub base: u64,
    /// Bytes of one row `[x_s, h_s]` and of one sample's `steps + 1` rows.
    pub row: u64,
    pub sample: u64,
}

impl ImageView {
    /// A dense row-major map (samples one after another) at `base`.
    pub fn dense(base: u64, c: usize, h: usize, w: usize) -> ImageView {
        let row = ACT * w as u64;
        let ch = row * h as u64;
        ImageView {
            base,
            sample: ch * c as u64,
            ch,
            row,
            c,
            h,
            w,
        }
    }

    /// Signed byte address of `(b, c, y, x)`; `y` and `x` may point into the padding.
    pub fn at(&self, b: usize, c: usize, y: i64, x: i64) -> u64 {
        (self.base as i64
            + (b as u64 * self.sample + c as u64 * self.ch) as i64
            + y * self.row as i64
            + x * ACT as i64) as u64
    }

    /// Elements per sample.
    pub fn len(&self) -> usize {
        self.c * self.h * self.w
    }

    /// The golden model's index of `(b, c, y, x)` (batch-major, row-major).
    pub fn golden_index(&self, b: usize, c: usize, y: usize, x: usize) -> usize {
        ((b * self.c + c) * self.h + y) * self.w + x
    }

    /// Channels `c0..c0 + len` of every sample, column fastest: one tile's share, for a gather.
    pub fn channels(&self, c0: usize, len: usize, batch: usize) -> Access {
        Access::new(
            self.at(0, c0, 0, 0),
            ACT as u32,
            &[
                (self.w, ACT as i64),
                (self.h, self.row as i64),
                (len, self.ch as i64),
                (batch, self.sample as i64),
            ],
        )
    }

    /// Every element of channels `c0..c0 + len`: (golden index, address).
    pub fn places(&self, c0: usize, len: usize, batch: usize) -> Vec<(usize, u64)> {
        let mut e = vec![];
        for b in 0..batch {
            for c in c0..c0 + len {
                for y in 0..self.h {
                    for x in 0..self.w {
                        e.push((
                            self.golden_index(b, c, y, x),
                            self.at(b, c, y as i64, x as i64),
                        ));
                    }
                }
            }
        }
        e
    }
}

/// Allocates `name` for a `[c, h, w]` map that `consumer` reads (`None`: nobody reads it).
/// Returns the view and, for an rnn consumer, the rows it reads (the map is their `x` part).
/// A convolution's or a max pool's input staggers its samples over the banks
/// ([`staggered_sample`]).
pub fn alloc_output(
    map: &mut MemoryMap,
    name: &str,
    batch: usize,
    (c, h, w): (usize, usize, usize),
    consumer: Option<(&Layer, &LayerShape)>,
    dram: &DramConfig,
) -> (ImageView, Option<RnnRows>) {
    match consumer {
        Some((&Layer::Conv { padding, .. }, _)) => (
            alloc_staggered(map, name, batch, (c, h, w), padding, dram),
            None,
        ),
        Some((&Layer::Rnn { hidden, steps }, _)) => {
            let n = c * w;
            let row = (n + hidden) as u64 * ACT;
            let sample = row * (steps + 1) as u64;
            let base = map.alloc(name, batch as u64 * sample);
            let v = ImageView {
                base,
                sample,
                ch: ACT * w as u64,
                row,
                c,
                h,
                w,
            };
            (v, Some(RnnRows { base, row, sample }))
        }
        // A max pool reads its windows sample after sample too.
        Some((&Layer::Maxpool {}, _)) => {
            (alloc_staggered(map, name, batch, (c, h, w), 0, dram), None)
        }
        _ => {
            let base = map.alloc(name, (batch * c * h * w) as u64 * ACT);
            (ImageView::dense(base, c, h, w), None)
        }
    }
}

/// Allocates the error at a `[c, h, w]` map, in the layout `consumer`'s backward writes: an rnn
/// writes step by step (row-major in its feature order, feature `c * w + x` of step `y`), the
/// others a dense map, with `pad` zeros on every side (a transposed convolution reads them),
/// its samples staggered over the banks ([`staggered_sample`]). Only a pool or a convolution
/// writes a padded map.
pub fn alloc_error(
    map: &mut MemoryMap,
    name: &str,
    batch: usize,
    (c, h, w): (usize, usize, usize),
    consumer: Option<&Layer>,
    pad: usize,
    dram: &DramConfig,
) -> ImageView {
    if let Some(Layer::Rnn { .. }) = consumer {
        debug_assert_eq!(pad, 0, "an rnn writes a dense error");
        let mut v = ImageView::dense(map.alloc(name, (batch * c * h * w) as u64 * ACT), c, h, w);
        v.ch = ACT * w as u64;
        v.row = ACT * (c * w) as u64;
        return v;
    }
    alloc_staggered(map, name, batch, (c, h, w), pad, dram)
}

/// Allocates `name` for a row-major `[c, h, w]` map with `pad` zeros on every side, its samples
/// staggered over the banks ([`staggered_sample`]); the view addresses the map inside the zeros.
fn alloc_staggered(
    map: &mut MemoryMap,
    name: &str,
    batch: usize,
    (c, h, w): (usize, usize, usize),
    pad: usize,
    dram: &DramConfig,
) -> ImageView {
    let mut v = ImageView::dense(0, c, h + 2 * pad, w + 2 * pad);
    v.sample = staggered_sample(v.sample, batch, dram);
    v.base = map.alloc(name, batch as u64 * v.sample);
    v.base = v.at(0, 0, pad as i64, pad as i64);
    (v.h, v.w) = (h, w);
    v
}

/// Outputs `(samples b0..b0 + nb; rows y0..y0 + ny)`, every column: what one run covers when a
/// lane buffer holds entries for a limited number of output pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Group {
    pub b0: usize,
    pub nb: usize,
    pub y0: usize,
    pub ny: usize,
}

/// Splits `batch` samples of `h` rows into groups of whole rows (whole samples when they fit)
/// whose `per_row` entries per row fit `depth`; `None` when not even one row fits.
pub fn row_groups(batch: usize, h: usize, per_row: usize, depth: usize) -> Option<Vec<Group>> {
    if per_row > depth {
        return None;
    }
    let rows = depth / per_row;
    let mut out = vec![];
    if rows >= h {
        let per = (rows / h).min(batch);
        for b0 in (0..batch).step_by(per) {
            out.push(Group {
                b0,
                nb: per.min(batch - b0),
                y0: 0,
                ny: h,
            });
        }
    } else {
        for b0 in 0..batch {
            for y0 in (0..h).step_by(rows) {
                out.push(Group {
                    b0,
                    nb: 1,
                    y0,
                    ny: rows.min(h - y0),
                });
            }
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_of_a_row_or_more_start_in_different_banks() {
        let dram = DramConfig::default();
        let (row, burst) = (dram.row_bytes as u64, dram.burst_bytes() as u64);
        let banks = |stride: u64, n: usize| banks_of_samples(&dram, stride, n, 0);
        // bench_conv's input (28 x 6 x 6) and its error (256 x 4 x 4), a row multiple.
        for bytes in [2016, 8192, 33 * row] {
            let s = staggered_sample(bytes, 16, &dram);
            assert!(
                s >= bytes && s <= bytes + STAGGER_ROWS * row,
                "{bytes}: {s}"
            );
            assert_eq!(s % burst, 0, "{bytes}: {s}");
            assert_eq!(banks(s, 16), dram.banks, "{bytes}: {s}");
        }
        // An odd number of rows already visits every bank; so does a short batch its banks.
        assert_eq!(staggered_sample(33 * row, 16, &dram), 33 * row);
        assert_eq!(banks(staggered_sample(8192, 3, &dram), 3), 3);
        // Samples shorter than a row share rows; one sample has nothing to stagger.
        assert_eq!(staggered_sample(200, 16, &dram), 200);
        assert_eq!(staggered_sample(8192, 1, &dram), 8192);
    }

    #[test]
    fn samples_stay_in_different_banks_at_every_offset_of_a_row() {
        let dram = DramConfig::default();
        let (row, burst) = (dram.row_bytes as u64, dram.burst_bytes() as u64);
        // bench_conv's input: a gradient reads the same window of each sample in turn, at any
        // offset into the sample; 2,176 bytes (8.5 rows) put two samples in one bank half a row in.
        let s = staggered_sample(2016, 16, &dram);
        for offset in (0..row).step_by(burst as usize) {
            let banks = banks_of_samples(&dram, s, 16, offset);
            assert_eq!(banks, dram.banks, "stride {s}, offset {offset}");
        }
    }

    #[test]
    fn row_groups_cover_every_row_once_within_the_depth() {
        for (batch, h, per_row, depth) in
            [(2, 4, 16, 64), (3, 8, 32, 64), (1, 5, 8, 16), (4, 2, 8, 64)]
        {
            let gs = row_groups(batch, h, per_row, depth).unwrap();
            let mut seen = vec![vec![0; h]; batch];
            for g in &gs {
                assert!(g.nb * g.ny * per_row <= depth, "{g:?}");
                for row in &mut seen[g.b0..g.b0 + g.nb] {
                    for s in &mut row[g.y0..g.y0 + g.ny] {
                        *s += 1;
                    }
                }
            }
            assert!(
                seen.iter().flatten().all(|&n| n == 1),
                "{batch} {h} {per_row} {depth}"
            );
        }
        assert_eq!(row_groups(1, 1, 65, 64), None);
    }
}
