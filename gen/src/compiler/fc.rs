//! Programs for networks of fully connected layers (see the module documentation of
//! [`super`] for the execution model).
//!
//! Per chunk of `K` outputs (lanes) of layer `l` with `n_in` inputs and batch `B`:
//! - forward: buffer A <- MAC weights `W[j0+k][i]` (entry i of lane k), buffer B <- biases;
//!   stream b = `x[b][i]` (i fastest), one reduction of `n_in` terms per sample; results
//!   `y[b][j0+k]`;
//! - output error: buffer A <- `y, t` pairs per sample, buffer B <- `y`; stream b = `+1, -1`
//!   per sample; a backward-mode reduction of two terms gives `q(sat16(y - t) * f'(y))`;
//! - backward (error of layer l-1's outputs, lanes over them): buffer A <- `W[j][i0+k]` read
//!   across the rows (the transpose is the stride order), buffer B <- `y_{l-1}[b][i0+k]`;
//!   stream b = `delta_l[b][j]`;
//! - gradient: buffer A <- `delta_l[b][j0+k]`; stream b = `x[b][i]` (b fastest): one reduction
//!   over the batch per input; bias gradients with stream b = the constant 1.0;
//! - update: element-wise, stream a = master weights, stream b = gradients, lanes over the
//!   chunk's rows; results (new master, new MAC weight) go back into the records.

use super::memory_map::{MemoryMap, RECORD_BYTES, RECORD_MAC_OFFSET};
use super::partition::{chunks, of_tile, Chunk};
use super::program::{fill, mode, op, shape, Access};
use super::{FcLayer, ParamKind, ParamRef, Phase, Plan, Segment};
use anyhow::{bail, Result};
use nt_hdl::config::Config;
use nt_hdl::dataflow_program::{Dest, Instr, Slot};
use nt_hdl::pe_feeder::{Feed, FeedSetting};

/// Bytes of an activation or error element.
const ACT_BYTES: u64 = 2;
/// Bytes of a gradient element.
const GRAD_BYTES: u64 = 4;
/// Region names.
pub fn w_name(l: usize) -> String {
    format!("w{l}")
}
pub fn b_name(l: usize) -> String {
    format!("b{l}")
}
pub fn y_name(l: usize) -> String {
    format!("y{l}")
}
pub fn d_name(l: usize) -> String {
    format!("d{l}")
}
pub fn gw_name(l: usize) -> String {
    format!("gw{l}")
}
pub fn gb_name(l: usize) -> String {
    format!("gb{l}")
}
pub const CONST_REGION: &str = "const";
pub const INPUT_REGION: &str = "x";
pub const TARGET_REGION: &str = "t";

/// Builds one segment from per-tile programs.
struct SegmentBuilder {
    seg: Segment,
}

impl SegmentBuilder {
    fn new(label: String, layer: usize, tiles: usize) -> SegmentBuilder {
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
        }
    }

    fn push(&mut self, tile: usize, i: Instr) {
        self.seg.programs[tile].push(i);
    }

    fn fill(&mut self, tile: usize, buffer_b: bool, lanes: usize, a: &Access) {
        fill(&mut self.seg.programs[tile], buffer_b, lanes, a);
        self.seg.bytes_read += a.bytes();
        let what = if buffer_b { "fill B" } else { "fill A" };
        self.seg.nests.push((tile, format!("{what} {}", nest(a))));
    }

    fn read(&mut self, tile: usize, slot: Slot, dest: Dest, a: &Access) {
        self.push(tile, a.stream(slot, dest));
        self.seg.bytes_read += a.bytes();
        if let Dest::Tile(t) = dest {
            self.seg.noc_elements += a.elements();
            self.seg
                .nests
                .push((tile, format!("send to tile {t} {}", nest(a))));
        } else {
            let s = if slot == Slot::A { "a" } else { "b" };
            self.seg.nests.push((tile, format!("stream {s} {}", nest(a))));
        }
    }

    fn write(&mut self, tile: usize, a: &Access) {
        self.push(tile, a.stream(Slot::W, Dest::Dram));
        self.seg.bytes_written += a.bytes();
        self.seg.nests.push((tile, format!("write {}", nest(a))));
    }

    fn finish(mut self) -> Segment {
        for p in &mut self.seg.programs {
            p.push(Instr::End);
        }
        self.seg
    }
}

/// `base=0x.. size=.. loops=(count,stride)...` for the plan listing.
fn nest(a: &Access) -> String {
    let loops: Vec<String> = a.loops.iter().map(|(c, s)| format!("{c}x{s:+}")).collect();
    format!("@{:#x} {}B [{}]", a.base, a.size, loops.join(" "))
}

/// All-gather: every tile's `pieces` end up in every vault, one round per segment.
fn gather(label: &str, layer: usize, pieces: &[Vec<Access>]) -> Vec<Segment> {
    let tiles = pieces.len();
    (1..tiles)
        .map(|r| {
            let mut s = SegmentBuilder::new(format!("{label} round {r}"), layer, tiles);
            for t in 0..tiles {
                let (dst, src) = ((t + r) % tiles, (t + tiles - r) % tiles);
                let n = pieces[t].len().max(pieces[src].len());
                for i in 0..n {
                    if let Some(a) = pieces[t].get(i) {
                        s.read(t, Slot::A, Dest::Tile(dst as u8), a);
                    }
                    if let Some(a) = pieces[src].get(i) {
                        s.write(t, a);
                    }
                    s.push(t, Instr::Run);
                }
            }
            s.finish()
        })
        .collect()
}

fn check_shapes(layers: &[FcLayer], batch: usize, config: &Config) -> Result<()> {
    let depth = config.pe.lane_buffer_depth;
    if layers.is_empty() {
        bail!("the network has no layers");
    }
    if batch == 0 {
        bail!("batch size 0");
    }
    if 2 * batch > depth {
        bail!(
            "batch {batch}: the output error holds 2 x batch values per lane, more than pe.lane_buffer_depth = {depth}"
        );
    }
    for (l, layer) in layers.iter().enumerate() {
        if layer.n_in > depth {
            bail!(
                "layer {l} ({}): a reduction over {} inputs does not fit pe.lane_buffer_depth = {depth}",
                layer.name,
                layer.n_in
            );
        }
        if l > 0 && layer.n_out > depth {
            bail!(
                "layer {l} ({}): its backward reduction over {} outputs does not fit pe.lane_buffer_depth = {depth}",
                layer.name,
                layer.n_out
            );
        }
    }
    Ok(())
}

pub fn compile(layers: &[FcLayer], batch: usize, eta: u16, config: &Config) -> Result<Plan> {
    check_shapes(layers, batch, config)?;
    let tiles = config.array.rows * config.array.cols;
    let lanes = config.pe.lanes;
    let nl = layers.len();

    // Memory map: the same in every vault.
    let mut map = MemoryMap::default();
    let konst = map.alloc(CONST_REGION, 2 * ACT_BYTES);
    let x0 = map.alloc(INPUT_REGION, (batch * layers[0].n_in) as u64 * ACT_BYTES);
    for (l, f) in layers.iter().enumerate() {
        map.alloc(&w_name(l), (f.n_out * f.n_in) as u64 * RECORD_BYTES);
        map.alloc(&b_name(l), f.n_out as u64 * RECORD_BYTES);
        map.alloc(&y_name(l), (batch * f.n_out) as u64 * ACT_BYTES);
        map.alloc(&d_name(l), (batch * f.n_out) as u64 * ACT_BYTES);
        map.alloc(&gw_name(l), (f.n_out * f.n_in) as u64 * GRAD_BYTES);
        map.alloc(&gb_name(l), f.n_out as u64 * GRAD_BYTES);
    }
    let tgt = map.alloc(TARGET_REGION, (batch * layers[nl - 1].n_out) as u64 * ACT_BYTES);
    map.check_fits(config.dram.vault_bytes())?;

    let ch: Vec<Vec<Chunk>> = layers
        .iter()
        .map(|f| chunks(f.n_out, tiles, lanes))
        .collect();
    let input_of = |l: usize| if l == 0 { x0 } else { map.base(&y_name(l - 1)) };
    // The K x B block of a [batch][n] tensor for the outputs of a chunk.
    let act_block = |base: u64, n: usize, c: &Chunk| {
        Access::new(
            base + c.start as u64 * ACT_BYTES,
            ACT_BYTES as u32,
            &[(c.len, ACT_BYTES as i64), (batch, (n as u64 * ACT_BYTES) as i64)],
        )
    };
    let act_pieces = |base: u64, l: usize| -> Vec<Vec<Access>> {
        (0..tiles)
            .map(|t| {
                of_tile(&ch[l], t)
                    .iter()
                    .map(|c| act_block(base, layers[l].n_out, c))
                    .collect()
            })
            .collect()
    };

    // Forward.
    let mut forward = vec![];
    for (l, f) in layers.iter().enumerate() {
        let (w, bias, y) = (map.base(&w_name(l)), map.base(&b_name(l)), map.base(&y_name(l)));
        let row = (f.n_in as u64 * RECORD_BYTES) as i64;
        let mut s = SegmentBuilder::new(format!("{} forward", f.name), l, tiles);
        for c in &ch[l] {
            let t = c.tile;
            let w0 = w + (c.start * f.n_in) as u64 * RECORD_BYTES + RECORD_MAC_OFFSET;
            s.fill(t, false, c.len, &Access::new(w0, 2, &[(c.len, row), (f.n_in, RECORD_BYTES as i64)]));
            s.fill(
                t,
                true,
                c.len,
                &Access::new(bias + c.start as u64 * RECORD_BYTES, 4, &[(c.len, RECORD_BYTES as i64)]),
            );
            s.push(t, op(mode::FORWARD, f.act, Feed::Compute, false, true));
            s.push(t, shape(f.n_in, c.len));
            s.read(
                t,
                Slot::B,
                Dest::Pe,
                &Access::new(input_of(l), 2, &[(f.n_in, 2), (batch, (f.n_in * 2) as i64)]),
            );
            s.write(t, &act_block(y, f.n_out, c));
            s.push(t, Instr::Run);
        }
        s.seg.macs = (batch * f.n_in * f.n_out) as u64;
        forward.push(s.finish());
        if l + 1 < nl {
            forward.extend(gather(&format!("{} gather outputs", f.name), l, &act_pieces(y, l)));
        }
    }

    // Backward: the output error, then each layer's error at its input.
    let mut backward = vec![];
    {
        let l = nl - 1;
        let f = &layers[l];
        let (y, d) = (map.base(&y_name(l)), map.base(&d_name(l)));
        let rowb = (f.n_out as u64 * ACT_BYTES) as i64;
        let mut s = SegmentBuilder::new(format!("{} output error", f.name), l, tiles);
        for c in &ch[l] {
            let t = c.tile;
            let y0 = y + c.start as u64 * ACT_BYTES;
            s.fill(
                t,
                false,
                c.len,
                &Access::new(y0, 2, &[(c.len, 2), (2, tgt as i64 - y as i64), (batch, rowb)]),
            );
            s.fill(t, true, c.len, &act_block(y, f.n_out, c));
            s.push(t, op(mode::BACKWARD, f.act, Feed::Compute, true, false));
            s.push(t, shape(2, c.len));
            s.read(t, Slot::B, Dest::Pe, &Access::new(konst, 2, &[(2, 2), (batch, 0)]));
            s.write(t, &act_block(d, f.n_out, c));
            s.push(t, Instr::Run);
        }
        backward.push(s.finish());
    }
    for l in (1..nl).rev() {
        let f = &layers[l];
        let p = &layers[l - 1];
        let (w, d, yp, dp) = (
            map.base(&w_name(l)),
            map.base(&d_name(l)),
            map.base(&y_name(l - 1)),
            map.base(&d_name(l - 1)),
        );
        backward.extend(gather(&format!("{} gather errors", f.name), l, &act_pieces(d, l)));
        let row = (f.n_in as u64 * RECORD_BYTES) as i64;
        let mut s = SegmentBuilder::new(format!("{} backward", f.name), l, tiles);
        for c in &ch[l - 1] {
            let t = c.tile;
            let w0 = w + c.start as u64 * RECORD_BYTES + RECORD_MAC_OFFSET;
            s.fill(t, false, c.len, &Access::new(w0, 2, &[(c.len, RECORD_BYTES as i64), (f.n_out, row)]));
            s.fill(t, true, c.len, &act_block(yp, p.n_out, c));
            s.push(t, op(mode::BACKWARD, p.act, Feed::Compute, true, true));
            s.push(t, shape(f.n_out, c.len));
            s.read(
                t,
                Slot::B,
                Dest::Pe,
                &Access::new(d, 2, &[(f.n_out, 2), (batch, (f.n_out * 2) as i64)]),
            );
            s.write(t, &act_block(dp, p.n_out, c));
            s.push(t, Instr::Run);
        }
        s.seg.macs = (batch * f.n_in * f.n_out) as u64;
        backward.push(s.finish());
    }

    // Weight gradients.
    let mut gradient = vec![];
    for (l, f) in layers.iter().enumerate() {
        let (d, gw, gb) = (map.base(&d_name(l)), map.base(&gw_name(l)), map.base(&gb_name(l)));
        let mut s = SegmentBuilder::new(format!("{} gradient", f.name), l, tiles);
        for c in &ch[l] {
            let t = c.tile;
            s.fill(t, false, c.len, &act_block(d, f.n_out, c));
            s.push(t, op(mode::GRADIENT, 0, Feed::Compute, false, true));
            s.push(t, shape(batch, c.len));
            s.read(
                t,
                Slot::B,
                Dest::Pe,
                &Access::new(input_of(l), 2, &[(batch, (f.n_in * 2) as i64), (f.n_in, 2)]),
            );
            let grow = (f.n_in as u64 * GRAD_BYTES) as i64;
            s.write(
                t,
                &Access::new(
                    gw + (c.start * f.n_in) as u64 * GRAD_BYTES,
                    4,
                    &[(c.len, grow), (f.n_in, GRAD_BYTES as i64)],
                ),
            );
            s.push(t, Instr::Run);
            s.push(t, op(mode::GRADIENT, 0, Feed::Compute, false, true));
            s.push(t, shape(batch, c.len));
            s.read(t, Slot::B, Dest::Pe, &Access::new(konst, 2, &[(batch, 0)]));
            s.write(
                t,
                &Access::new(gb + c.start as u64 * GRAD_BYTES, 4, &[(c.len, GRAD_BYTES as i64)]),
            );
            s.push(t, Instr::Run);
        }
        s.seg.macs = (batch * f.n_in * f.n_out) as u64;
        gradient.push(s.finish());
    }

    // Update, then the new MAC weights to every vault that reads them in backward.
    let mut update = vec![];
    let mut beats: Vec<Vec<Vec<Option<ParamRef>>>> = vec![vec![]; tiles];
    for (l, f) in layers.iter().enumerate() {
        let (w, bias, gw, gb) = (
            map.base(&w_name(l)),
            map.base(&b_name(l)),
            map.base(&gw_name(l)),
            map.base(&gb_name(l)),
        );
        let row = (f.n_in as u64 * RECORD_BYTES) as i64;
        let grow = (f.n_in as u64 * GRAD_BYTES) as i64;
        let mut s = SegmentBuilder::new(format!("{} update", f.name), l, tiles);
        for t in 0..tiles {
            if !of_tile(&ch[l], t).is_empty() {
                s.push(t, Instr::Pe(FeedSetting::Eta(eta)));
            }
        }
        for c in &ch[l] {
            let t = c.tile;
            let w0 = w + (c.start * f.n_in) as u64 * RECORD_BYTES;
            s.push(t, op(mode::UPDATE, 0, Feed::Elementwise, false, false));
            s.push(t, shape(1, c.len));
            s.read(t, Slot::A, Dest::Pe, &Access::new(w0, 4, &[(c.len, row), (f.n_in, RECORD_BYTES as i64)]));
            s.read(
                t,
                Slot::B,
                Dest::Pe,
                &Access::new(gw + (c.start * f.n_in) as u64 * GRAD_BYTES, 4, &[(c.len, grow), (f.n_in, GRAD_BYTES as i64)]),
            );
            s.write(t, &Access::new(w0, 4, &[(2, 4), (c.len, row), (f.n_in, RECORD_BYTES as i64)]));
            s.push(t, Instr::Run);
            for i in 0..f.n_in {
                beats[t].push(
                    (0..lanes)
                        .map(|k| {
                            (k < c.len).then_some(ParamRef {
                                layer: l,
                                kind: ParamKind::Weight,
                                index: (c.start + k) * f.n_in + i,
                            })
                        })
                        .collect(),
                );
            }
            let b0 = bias + c.start as u64 * RECORD_BYTES;
            s.push(t, op(mode::UPDATE, 0, Feed::Elementwise, false, false));
            s.push(t, shape(1, c.len));
            s.read(t, Slot::A, Dest::Pe, &Access::new(b0, 4, &[(c.len, RECORD_BYTES as i64)]));
            s.read(
                t,
                Slot::B,
                Dest::Pe,
                &Access::new(gb + c.start as u64 * GRAD_BYTES, 4, &[(c.len, GRAD_BYTES as i64)]),
            );
            s.write(t, &Access::new(b0, 4, &[(2, 4), (c.len, RECORD_BYTES as i64)]));
            s.push(t, Instr::Run);
            beats[t].push(
                (0..lanes)
                    .map(|k| {
                        (k < c.len).then_some(ParamRef {
                            layer: l,
                            kind: ParamKind::Bias,
                            index: c.start + k,
                        })
                    })
                    .collect(),
            );
        }
        s.seg.macs = (f.n_out * (f.n_in + 1)) as u64;
        update.push(s.finish());
    }
    for (l, f) in layers.iter().enumerate().skip(1) {
        let w = map.base(&w_name(l));
        let row = (f.n_in as u64 * RECORD_BYTES) as i64;
        let pieces: Vec<Vec<Access>> = (0..tiles)
            .map(|t| {
                of_tile(&ch[l], t)
                    .iter()
                    .map(|c| {
                        Access::new(
                            w + (c.start * f.n_in) as u64 * RECORD_BYTES + RECORD_MAC_OFFSET,
                            2,
                            &[(f.n_in, RECORD_BYTES as i64), (c.len, row)],
                        )
                    })
                    .collect()
            })
            .collect();
        update.extend(gather(&format!("{} gather weights", f.name), l, &pieces));
    }

    Ok(Plan {
        layers: layers.to_vec(),
        batch,
        tiles,
        lanes,
        eta,
        map,
        chunks: ch,
        phases: vec![
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
        ],
        update_beats: beats,
    })
}
