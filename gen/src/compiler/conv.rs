//! Lowering of 2D convolutions: forward and weight and bias gradients (see [`super`] for the
//! execution model).
//!
//! A tile takes a chunk of output channels, one per lane, as a fully connected layer takes a
//! chunk of neurons: buffer A holds the chunk's MAC weight rows (`C * kernel^2` terms), buffer B
//! its biases. The input sits zero-padded in DRAM ([`ImageView`]), and the whole batch is one
//! compute run. Where two samples' padded maps fit the PE's reuse buffer, stream a brings each
//! map once and the beats read every output pixel's window out of it
//! (`FeedSetting::Window`); otherwise stream b reads the windows from DRAM, each a slice of one
//! 6-loop descriptor (kernel column, kernel row, input channel, output column, output row,
//! sample), neighbouring windows fetching the same bursts again. Padded taps multiply zeros: they
//! cost beats but add nothing, and the useful MACs of a segment count real taps only.
//!
//! Gradient: buffer A holds the chunk's errors over batch and output pixels (the reduction);
//! stream b walks, for each weight `(c, ky, kx)`, the input values that weight met, in the same
//! pixel order. Bias gradients reduce the same errors against the constant 1.0.
//!
//! Error at the input (a transposed convolution, stride 1): a tile takes a chunk of input
//! channels, one per lane (the chunks of the layer before, so the result lands where that layer
//! reads it). Buffer A holds, per lane, the weights `W[o][c][ky][kx]` of its input channel over
//! every output channel and tap; buffer B the input values (for the derivative of the
//! activation before). Stream b reads the errors with the kernel flipped (negative strides),
//! from an error map padded by `kernel - 1 - padding` zeros, so that taps outside the output
//! read zeros. Strided convolutions would need a dilated error map and are rejected.

use super::image::{row_groups, staggered_sample, ImageView};
use super::lower::{gradient_rows, Broadcast, SegmentBuilder, Windows};
use super::memory_map::RECORD_BYTES;
use super::partition::Chunk;
use super::program::{mode, Access};
use super::{ACT, GRAD};
use anyhow::{anyhow, Result};
use nt_hdl::dram_config::DramConfig;
use nt_hdl::pe_feeder::field::OPB_REDUCTIONS_BITS;
use nt_hdl::pe_feeder::WindowField;
use nt_testbench::network::ConvGeometry;

/// Where a convolution's tensors live.
#[derive(Clone, Copy, Debug)]
pub struct ConvLayout {
    pub geo: ConvGeometry,
    /// The input, zero-padded by `geo.padding` on every side.
    pub x: ImageView,
    pub y: ImageView,
    /// The error of the pre-activation (`delta`); padded by `kernel - 1 - padding` when the
    /// convolution computes the error at its input.
    pub d: ImageView,
    /// The error at the input (the previous layer's), when it is computed.
    pub e: Option<ImageView>,
    /// Bytes from one output channel's row of weight records, and of weight gradients, to the
    /// next (see [`row_pitch`]).
    pub row_pitch: u64,
}

/// The row pitch of a convolution's weight records and gradients, `cols` words a row: a
/// gradient run's result vector writes a value to each of `lanes` rows, which a dense pitch of
/// a DRAM row or more puts in a few banks (bench_conv's 1,008-byte rows took five of sixteen,
/// each drain of the write queue a row miss after another in one bank); so rows of a DRAM row
/// or more are spread over the banks as samples are ([`staggered_sample`]). The records take
/// the same pitch so that the update, which walks a row of each side by side, keeps the two a
/// fixed distance apart: at different pitches their banks drift into each other's (bench_conv's
/// update took 19,214 cycles with records 1,008 and gradients 1,088 bytes apart).
pub fn row_pitch(cols: usize, lanes: usize, dram: &DramConfig) -> u64 {
    staggered_sample(cols as u64 * GRAD, lanes, dram)
}

impl ConvLayout {
    /// Terms of a forward reduction: one per weight of an output channel.
    pub fn forward_terms(&self) -> usize {
        self.geo.in_c * self.geo.kernel * self.geo.kernel
    }

    /// Rows and columns of the input map, padding included.
    fn padded(&self) -> (usize, usize) {
        let g = &self.geo;
        (g.in_h + 2 * g.padding, g.in_w + 2 * g.padding)
    }

    /// A window compute (`FeedSetting::Window`): for the forward product (not `gradient`) terms a window's taps (kernel column, kernel row,
    /// channel), reductions the output pixels, a map a sample's padded input; for the weight
    /// gradient terms the output pixels of every sample (column, row, sample), reductions a
    /// channel's taps, a map a channel's padded input over the samples. `None` where it does not
    /// fit ([`window_fits`]).
    fn windows(&self, batch: usize, buffer_depth: usize, gradient: bool) -> Option<Windows> {
        let g = &self.geo;
        let (h, w) = self.padded();
        // (count, entries from one to the next) along a row, then down the rows.
        let taps = [(g.kernel, 1), (g.kernel, w)];
        let pixels = [(g.out_w, g.stride), (g.out_h, g.stride * w)];
        // Terms and reductions, reductions a map serves, its entries, terms a reduction, maps.
        let (terms, reductions, per_map, map, reduce, maps) = if gradient {
            let per_map = g.kernel * g.kernel;
            let reduce = self.gradient_terms(batch);
            (pixels, taps, per_map, batch * h * w, reduce, g.in_c)
        } else {
            let reduce = self.forward_terms();
            (taps, pixels, g.out_pixels(), g.in_c * h * w, reduce, batch)
        };
        if !window_fits((maps, map), per_map, per_map * reduce, buffer_depth) {
            return None;
        }
        let fields = [
            (WindowField::TermX, terms[0].0),
            (WindowField::TermXStep, terms[0].1),
            (WindowField::TermY, terms[1].0),
            (WindowField::TermYStep, terms[1].1),
            (WindowField::TermZStep, h * w),
            (WindowField::RedX, reductions[0].0),
            (WindowField::RedXStep, reductions[0].1),
            (WindowField::RedYStep, reductions[1].1),
            (WindowField::PerMap, per_map),
            (WindowField::Map, map),
        ];
        Some(Windows {
            fields,
            maps: self.padded_maps([g.in_c, batch], !gradient),
            reductions: maps * per_map,
        })
    }

    /// The padded input, row by row, over the channels then the samples (`channels_inner`) or
    /// over the samples then the channels.
    fn padded_maps(&self, [channels, batch]: [usize; 2], channels_inner: bool) -> Access {
        let x = &self.x;
        let (h, w) = self.padded();
        let pad = self.geo.padding as i64;
        let (c, b) = ((channels, x.ch as i64), (batch, x.sample as i64));
        let (inner, outer) = if channels_inner { (c, b) } else { (b, c) };
        Access::new(
            x.at(0, 0, -pad, -pad),
            ACT as u32,
            &[(w, ACT as i64), (h, x.row as i64), inner, outer],
        )
        .compacted()
    }

    /// Terms of a gradient reduction: every output pixel of every sample.
    pub fn gradient_terms(&self, batch: usize) -> usize {
        batch * self.geo.out_pixels()
    }

    /// The input value a weight `(c, ky, kx)` meets at output pixel `(oy, ox)`, addressed from
    /// the padded origin, as loops: `inner` first, then `outer`.
    fn taps(&self, batch: usize, weights_inner: bool) -> Access {
        let g = &self.geo;
        let x = &self.x;
        let pad = g.padding as i64;
        let s = g.stride as i64;
        let window = [
            (g.kernel, ACT as i64),
            (g.kernel, x.row as i64),
            (g.in_c, x.ch as i64),
        ];
        let pixels = [
            (g.out_w, s * ACT as i64),
            (g.out_h, s * x.row as i64),
            (batch, x.sample as i64),
        ];
        let loops: Vec<(usize, i64)> = if weights_inner {
            window.iter().chain(&pixels).copied().collect()
        } else {
            pixels.iter().chain(&window).copied().collect()
        };
        Access::new(x.at(0, 0, -pad, -pad), ACT as u32, &loops)
    }

    /// Channels of a chunk at every output pixel, channel (lane) fastest.
    fn pixels_of(&self, v: &ImageView, c: &Chunk, batch: usize) -> Access {
        Access::new(
            v.at(0, c.start, 0, 0),
            ACT as u32,
            &[
                (c.len, v.ch as i64),
                (self.geo.out_w, ACT as i64),
                (self.geo.out_h, v.row as i64),
                (batch, v.sample as i64),
            ],
        )
    }
}

/// Whether a window compute over `maps` maps of `map` entries each pays: two maps fit the PE's
/// reuse buffer (`buffer_depth` entries), the reductions (`per_map` a map) its count, and a
/// map's fill (an entry a cycle) takes no longer than the `beats` that read it, so that each
/// fill but the first hides behind the map before. The first is not hidden: with one map the
/// stream is faster (the cnn example's weight gradient, one channel: 3,049 cycles streamed,
/// 3,450 from the buffer). Streamed, each window reads its rows from DRAM afresh: bench_conv's
/// forward read 7.1 MB for 0.8 MB of inputs and weights, its weight gradient 4.8 MB.
fn window_fits(
    (maps, map): (usize, usize),
    per_map: usize,
    beats: usize,
    buffer_depth: usize,
) -> bool {
    maps >= 2
        && 2 * map <= buffer_depth
        && maps * per_map < 1 << OPB_REDUCTIONS_BITS
        && beats >= map
}

/// The broadcast operands of a product: out of the input maps in the reuse buffer where a window
/// compute fits (`windows`), else streamed by `taps`.
fn broadcast<'a>(windows: &'a Option<Windows>, taps: &'a Access) -> Broadcast<'a> {
    windows
        .as_ref()
        .map_or(Broadcast::Stream(taps), Broadcast::Window)
}

/// Forward: per chunk, weights and biases into the lane buffers, then one run over the batch,
/// its windows read out of the input maps in the reuse buffer where they fit
/// ([`ConvLayout::windows`]), else streamed.
pub(super) fn forward(
    s: &mut SegmentBuilder,
    cv: &ConvLayout,
    (w, b): (u64, u64),
    act: u8,
    chunks: &[Chunk],
    (batch, buffer_depth): (usize, usize),
) {
    let terms = cv.forward_terms();
    let windows = cv.windows(batch, buffer_depth, false);
    let taps = cv.taps(batch, true);
    for c in chunks {
        let t = c.tile;
        s.fill(
            t,
            false,
            c.len,
            &[Access::mac_weights(
                w + c.start as u64 * cv.row_pitch,
                &[(c.len, cv.row_pitch as i64), (terms, RECORD_BYTES as i64)],
            )],
        );
        s.fill(
            t,
            true,
            c.len,
            &[Access::new(
                b + c.start as u64 * RECORD_BYTES,
                4,
                &[(c.len, RECORD_BYTES as i64)],
            )],
        );
        s.compute_filling(
            t,
            mode::FORWARD,
            act,
            (false, true),
            (terms, c.len),
            (0, 1),
            None,
            broadcast(&windows, &taps),
            &cv.pixels_of(&cv.y, c, batch),
        );
    }
}

/// Weight and bias gradients of each chunk's output channels, the inputs each weight met read
/// out of the input maps in the reuse buffer where they fit, a channel at a time
/// ([`ConvLayout::windows`]), else streamed.
pub(super) fn gradient(
    s: &mut SegmentBuilder,
    cv: &ConvLayout,
    (gw, gb): (u64, u64),
    konst: u64,
    chunks: &[Chunk],
    (batch, buffer_depth): (usize, usize),
) {
    let terms = cv.forward_terms();
    let reduce = cv.gradient_terms(batch);
    let windows = cv.windows(batch, buffer_depth, true);
    let taps = cv.taps(batch, false);
    for c in chunks {
        let t = c.tile;
        s.fill(t, false, c.len, &[cv.pixels_of(&cv.d, c, batch)]);
        s.compute_filling(
            t,
            mode::GRADIENT,
            0,
            (false, true),
            (reduce, c.len),
            (0, 1),
            None,
            broadcast(&windows, &taps),
            &gradient_rows(gw, c, terms, cv.row_pitch),
        );
        s.bias_gradient(c, konst, reduce, gb);
    }
}

/// The error at the input, per chunk of input channels (`chunks`), `act` the activation of the
/// layer before (its derivative at the input values).
#[allow(clippy::too_many_arguments)]
pub(super) fn backward(
    s: &mut SegmentBuilder,
    cv: &ConvLayout,
    w: u64,
    act: u8,
    chunks: &[Chunk],
    batch: usize,
    depth: usize,
    layer: usize,
) -> Result<()> {
    let g = &cv.geo;
    let (x, d) = (&cv.x, &cv.d);
    let e = cv.e.expect("backward needs the input error's layout");
    let k = g.kernel;
    let terms = g.out_c * k * k;
    let pad = g.padding as i64;
    let groups = row_groups(batch, g.in_h, g.in_w, depth).ok_or_else(|| {
        anyhow!(
            "layer {layer} (conv): one input row holds {} derivatives per lane, more than pe.lane_buffer_depth = {depth}",
            g.in_w
        )
    })?;
    let rec = RECORD_BYTES as i64;
    for c in chunks {
        let t = c.tile;
        s.fill(
            t,
            false,
            c.len,
            &[Access::mac_weights(
                w + (c.start * k * k) as u64 * RECORD_BYTES,
                &[
                    (c.len, (k * k) as i64 * rec),
                    (k, rec),
                    (k, k as i64 * rec),
                    (g.out_c, cv.row_pitch as i64),
                ],
            )],
        );
        for gr in &groups {
            let y0 = gr.y0 as i64;
            let rows = |v: &ImageView, lanes: bool| {
                let mut loops = vec![
                    (g.in_w, ACT as i64),
                    (gr.ny, v.row as i64),
                    (gr.nb, v.sample as i64),
                ];
                if lanes {
                    loops.insert(0, (c.len, v.ch as i64));
                }
                loops
            };
            s.fill(
                t,
                true,
                c.len,
                &[Access::new(
                    x.at(gr.b0, c.start, y0, 0),
                    ACT as u32,
                    &rows(x, true),
                )],
            );
            let mut taps = vec![
                (k, -(ACT as i64)),
                (k, -(d.row as i64)),
                (g.out_c, d.ch as i64),
            ];
            taps.extend(rows(d, false));
            s.compute(
                t,
                mode::BACKWARD,
                act,
                true,
                true,
                terms,
                c.len,
                &Access::new(d.at(gr.b0, 0, y0 + pad, pad), ACT as u32, &taps),
                &Access::new(e.at(gr.b0, c.start, y0, 0), ACT as u32, &rows(&e, true)),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    #[test]
    fn gradient_rows_of_a_dram_row_or_more_spread_over_the_banks() {
        let dram = DramConfig::default();
        let banks = |pitch: u64| -> usize {
            (0..16)
                .map(|k| dram.bank_of(k * pitch))
                .collect::<BTreeSet<_>>()
                .len()
        };
        // bench_conv's rows: 28 channels x 3 x 3 words, 1,008 bytes.
        assert_eq!(banks(1008), 5);
        let pitch = row_pitch(252, 16, &dram);
        assert!((1008..=1008 + 2 * 256).contains(&pitch), "{pitch}");
        assert_eq!(pitch % dram.burst_bytes() as u64, 0);
        assert_eq!(banks(pitch), 16);
        // Rows shorter than a DRAM row stay side by side.
        assert_eq!(row_pitch(9, 16, &dram), 36);
    }
}
