//! Lowering of 2x2 max pooling: forward (maximum and its position) and backward (routing).
//!
//! A tile takes a chunk of channels, one per lane (the chunks of the convolution before it, so
//! its input is already in the vault). Forward fills buffer A with the four window values of
//! each output, term by term, and runs the PE's max mode over reductions of four terms: each
//! lane writes its window's maximum (the pool's output) and the window position of the first
//! maximum (kept for backward). Stream b only paces the beats.
//!
//! Backward runs the select mode, a reduction of four terms per output, one beat per window
//! position `r`: the broadcast operand is `r` (from a constant table), buffer A holds each
//! output's stored position and buffer B its error, which every term of the output's reduction
//! reads, and every beat writes the error or zero into the error of the pool's input. Every
//! input position lies in exactly one window, so the routed error is complete, zeros included.
//! (With each entry filled four times over and a reduction a beat, the fills took four times
//! the elements: bench_conv's first pool backward took 11,584 cycles.)
//!
//! Both work in groups of outputs that fit the lane buffers (four entries per output forward,
//! one backward).

use super::image::{row_groups, Group, ImageView};
use super::lower::SegmentBuilder;
use super::partition::Chunk;
use super::program::{mode, op, shape, Access};
use super::ACT;
use anyhow::{anyhow, Result};
use nt_hdl::dataflow_program::{Dest, Instr, Slot};
use nt_hdl::pe_feeder::Feed;
use nt_testbench::network::POOL;

/// Window positions: the terms of one output's reduction.
pub const WINDOW: usize = POOL * POOL;

/// Where a pool's tensors live.
#[derive(Clone, Copy, Debug)]
pub struct PoolLayout {
    pub x: ImageView,
    pub y: ImageView,
    /// The window position of each output's maximum; the same strides as `y`, so that one write
    /// descriptor stores both.
    pub arg: ImageView,
    /// The error at the output.
    pub e: ImageView,
    /// The error at the input, when a trainable layer lies before the pool.
    pub d: Option<ImageView>,
}

/// Splits the outputs into groups of whole rows that fit the lane buffers (`entries` each).
fn groups(
    batch: usize,
    (h, w, entries): (usize, usize, usize),
    depth: usize,
    layer: usize,
) -> Result<Vec<Group>> {
    row_groups(batch, h, entries * w, depth)
        .ok_or_else(|| anyhow!("layer {layer} (maxpool): one output row holds {} values per lane, more than pe.lane_buffer_depth = {depth}", entries * w))
}

impl PoolLayout {
    /// A group's outputs of a chunk from `v` (a view shaped like the output), lane fastest.
    fn outputs(&self, v: &ImageView, c: &Chunk, g: &Group) -> Access {
        Access::new(
            v.at(g.b0, c.start, g.y0 as i64, 0),
            ACT as u32,
            &[
                (c.len, v.ch as i64),
                (self.y.w, ACT as i64),
                (g.ny, v.row as i64),
                (g.nb, v.sample as i64),
            ],
        )
    }

    /// A group's windows in `v` (a view shaped like the input): lane, window column, window row,
    /// output column, output row, sample.
    fn windows(&self, v: &ImageView, c: &Chunk, g: &Group) -> Access {
        let p = POOL as i64;
        Access::new(
            v.at(g.b0, c.start, p * g.y0 as i64, 0),
            ACT as u32,
            &[
                (c.len, v.ch as i64),
                (POOL, ACT as i64),
                (POOL, v.row as i64),
                (self.y.w, p * ACT as i64),
                (g.ny, p * v.row as i64),
                (g.nb, v.sample as i64),
            ],
        )
    }
}

/// Forward: maxima into `y`, their positions into `arg`. `pace` is any readable 16-bit value.
pub(super) fn forward(
    s: &mut SegmentBuilder,
    p: &PoolLayout,
    chunks: &[Chunk],
    batch: usize,
    depth: usize,
    pace: u64,
    layer: usize,
) -> Result<()> {
    let gs = groups(batch, (p.y.h, p.y.w, WINDOW), depth, layer)?;
    for c in chunks {
        let t = c.tile;
        for g in &gs {
            let outputs = g.nb * g.ny * p.y.w;
            s.fill(t, false, c.len, &[p.windows(&p.x, c, g)]);
            s.push(t, op(mode::MAX, 0, Feed::Compute, false, false));
            s.push(t, shape(WINDOW, c.len));
            s.read(
                t,
                Slot::B,
                Dest::Pe,
                &Access::new(pace, ACT as u32, &[(WINDOW * outputs, 0)]),
            );
            // Per lane the position (wide word) then the maximum (narrow word).
            let mut w = p.outputs(&p.arg, c, g);
            w.loops.insert(0, (2, p.y.base as i64 - p.arg.base as i64));
            s.write(t, &w);
            s.push(t, Instr::Run);
        }
    }
    Ok(())
}

/// Backward: routes the error at the output into `d`. `positions` holds 0, 1, 2, 3 (16-bit).
pub(super) fn backward(
    s: &mut SegmentBuilder,
    p: &PoolLayout,
    chunks: &[Chunk],
    batch: usize,
    depth: usize,
    positions: u64,
    layer: usize,
) -> Result<()> {
    let d = p.d.expect("backward needs the input error's layout");
    let gs = groups(batch, (p.y.h, p.y.w, 1), depth, layer)?;
    for c in chunks {
        let t = c.tile;
        for g in &gs {
            let outputs = g.nb * g.ny * p.y.w;
            s.fill(t, false, c.len, &[p.outputs(&p.arg, c, g)]);
            s.fill(t, true, c.len, &[p.outputs(&p.e, c, g)]);
            s.compute(
                t,
                mode::SELECT,
                0,
                true,
                false,
                WINDOW,
                c.len,
                &Access::new(positions, ACT as u32, &[(WINDOW, ACT as i64), (outputs, 0)]),
                &p.windows(&d, c, g),
            );
        }
    }
    Ok(())
}
