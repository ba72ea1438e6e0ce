//! Fills that would load a lane buffer with what it already holds are left out of the programs.
//! Only fills (and computes that fill buffer A meanwhile) write a tile's lane buffers, and the
//! buffers keep their contents from segment to segment, so a fill that repeats the tile's last
//! fill of that buffer, from DRAM that no write of the tile has touched since, would bring
//! nothing new. An Elman layer's forward steps all fill the same `[W_x W_h]` rows and biases, and
//! its steps through time the same `W_h` columns: each such fill costs as many cycles as the
//! product it serves.

use super::{Phase, Segment};
use nt_hdl::dataflow_program::{Descriptor, Dest, Instr, Slot};
use nt_hdl::pe_feeder::{Feed, FeedSetting};
use std::ops::Range;

/// One fill in a tile's program: its instructions, its runs (a line of the listing each), and
/// the segment that already filled the buffer with it, if one did.
struct Fill {
    range: Range<usize>,
    runs: usize,
    held_since: Option<String>,
}

/// Leaves out every fill that repeats what its buffer holds, phase after phase in the order the
/// host runs them (one training step; the first fills of a step always run).
pub fn leave_out_held_fills(phases: &mut [Phase]) {
    let tiles = phases
        .iter()
        .flat_map(|p| &p.segments)
        .map(|s| s.programs.len())
        .max()
        .unwrap_or(0);
    for t in 0..tiles {
        // Per buffer (A, B): the instructions of its last fill and the segment that ran it.
        let mut held: [Option<(Vec<Instr>, String)>; 2] = [None, None];
        for seg in phases.iter_mut().flat_map(|p| p.segments.iter_mut()) {
            let Some(program) = seg.programs.get(t) else {
                continue;
            };
            let mut fills = vec![];
            let mut i = 0;
            while i < program.len() {
                if let Some((buffer, range)) = fill_at(program, i) {
                    let fill = &program[range.clone()];
                    let held_since = match &held[buffer] {
                        Some((h, from)) if h == fill => Some(from.clone()),
                        _ => {
                            held[buffer] = Some((fill.to_vec(), seg.label.clone()));
                            None
                        }
                    };
                    let runs = fill.iter().filter(|x| matches!(x, Instr::Run)).count();
                    i = range.end;
                    fills.push(Fill {
                        range,
                        runs,
                        held_since,
                    });
                    continue;
                }
                match &program[i] {
                    // A compute that fills buffer A meanwhile changes what it holds.
                    Instr::Pe(FeedSetting::Op { fill_a: true, .. }) => held[0] = None,
                    Instr::Stream(w) if w.slot == Slot::W => {
                        for h in &mut held {
                            if h.as_ref().is_some_and(|(fill, _)| reads_overlap(fill, w)) {
                                *h = None;
                            }
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            leave_out(seg, t, &fills);
        }
    }
}

/// The fill that starts at `program[i]`, if one does: its buffer (0 = A, 1 = B) and its
/// instructions (its operation word, then runs of settings and reads to the PE: stream a, and
/// stream b in a split fill).
fn fill_at(program: &[Instr], i: usize) -> Option<(usize, Range<usize>)> {
    let buffer = match program[i] {
        Instr::Pe(FeedSetting::Op {
            feed: Feed::FillA, ..
        }) => 0,
        Instr::Pe(FeedSetting::Op {
            feed: Feed::FillB, ..
        }) => 1,
        _ => return None,
    };
    // A fill of the PE's reuse buffer leaves the lane buffers alone.
    let to_reuse_buffer = program[i + 1..]
        .iter()
        .take_while(|x| !matches!(x, Instr::Run))
        .any(|x| matches!(x, Instr::Pe(FeedSetting::OpbBuffer { .. })));
    if to_reuse_buffer {
        return None;
    }
    let part_of_fill = |x: &Instr| match x {
        Instr::Pe(
            FeedSetting::Shape { .. }
            | FeedSetting::ByLane { .. }
            | FeedSetting::FillStart { .. }
            | FeedSetting::OpaBlocks { .. }
            | FeedSetting::SplitFill,
        )
        | Instr::Run => true,
        // Stream b takes part in a split fill.
        Instr::Stream(d) => d.slot != Slot::W && d.dest == Dest::Pe,
        _ => false,
    };
    let len = program[i + 1..]
        .iter()
        .take_while(|x| part_of_fill(x))
        .count();
    Some((buffer, i..i + 1 + len))
}

/// Bytes `[lo, hi)` a stream's elements span.
fn span(d: &Descriptor) -> Range<i64> {
    let (mut lo, mut hi) = (d.base as i64, d.base as i64 + d.size as i64);
    for &(count, stride) in &d.loops {
        let reach = (count as i64 - 1) * stride as i64;
        lo += reach.min(0);
        hi += reach.max(0);
    }
    lo..hi
}

/// Whether write stream `w` may touch what a fill's streams read.
fn reads_overlap(fill: &[Instr], w: &Descriptor) -> bool {
    let ws = span(w);
    fill.iter().any(|x| match x {
        Instr::Stream(d) => {
            let s = span(d);
            s.start < ws.end && ws.start < s.end
        }
        _ => false,
    })
}

/// Removes tile `t`'s fills that the buffer already holds from the segment: their instructions,
/// their DRAM bytes and their lines of the listing, which says where the buffer was filled
/// instead. `fills` are all of the tile's fills in the segment, in program order.
fn leave_out(seg: &mut Segment, t: usize, fills: &[Fill]) {
    if fills.iter().all(|f| f.held_since.is_none()) {
        return;
    }
    // The listing has a line per run of every fill, in program order.
    let fill_lines: Vec<usize> = (0..seg.nests.len())
        .filter(|&k| seg.nests[k].0 == t && seg.nests[k].1.starts_with("fill "))
        .collect();
    let mut drop_lines = vec![];
    let mut first = 0;
    for f in fills {
        let lines = &fill_lines[first..first + f.runs];
        first += f.runs;
        let Some(from) = &f.held_since else {
            continue;
        };
        seg.bytes_read -= seg.programs[t][f.range.clone()]
            .iter()
            .map(|x| match x {
                Instr::Stream(d) => d.bytes(),
                _ => 0,
            })
            .sum::<u64>();
        let what = &seg.nests[lines[0]].1[..6];
        seg.nests[lines[0]].1 = format!("{what} held since {from}: not filled again");
        drop_lines.extend_from_slice(&lines[1..]);
    }
    for k in drop_lines.into_iter().rev() {
        seg.nests.remove(k);
    }
    for f in fills.iter().rev().filter(|f| f.held_since.is_some()) {
        seg.programs[t].drain(f.range.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::program::{compute_op, fill_op, fill_start, op, shape, Access};
    use crate::compiler::Phase;
    use nt_hdl::pe_feeder::mode;

    /// A one-tile segment with the DRAM bytes it reads and a listing line per fill stream, as
    /// the segment builder makes them.
    fn segment(label: &str, program: Vec<Instr>) -> Segment {
        let mut nests = vec![];
        let mut buffer = "";
        for x in &program {
            match x {
                Instr::Pe(FeedSetting::Op { feed, .. }) => buffer = feed.name(),
                Instr::Stream(d) if buffer.starts_with("fill") && d.slot == Slot::A => {
                    nests.push((
                        0,
                        format!("fill {} @{:#x}", &buffer[5..].to_uppercase(), d.base),
                    ))
                }
                _ => {}
            }
        }
        Segment {
            label: label.into(),
            layer: 0,
            bytes_read: program
                .iter()
                .map(|x| match x {
                    Instr::Stream(d) if d.slot != Slot::W => d.bytes(),
                    _ => 0,
                })
                .sum(),
            programs: vec![program],
            macs: 0,
            bytes_written: 0,
            noc_elements: 0,
            nests,
        }
    }

    fn fill(buffer: Feed, a: &Access) -> Vec<Instr> {
        vec![
            fill_op(buffer),
            shape(1, 4),
            a.stream(Slot::A, Dest::Pe),
            Instr::Run,
        ]
    }

    fn compute(write: &Access) -> Vec<Instr> {
        vec![
            op(mode::FORWARD, 0, Feed::Compute, false, false),
            shape(8, 4),
            Access::new(0x800, 2, &[(8, 2)]).stream(Slot::B, Dest::Pe),
            write.stream(Slot::W, Dest::Dram),
            Instr::Run,
        ]
    }

    #[test]
    fn a_fill_repeated_from_untouched_memory_is_left_out_and_a_write_brings_it_back() {
        let w = Access::new(0x100, 2, &[(4, 2), (8, 8)]);
        let other = Access::new(0x400, 2, &[(32, 2)]);
        let out = Access::new(0x1000, 2, &[(4, 2)]);
        let step = |write: &Access| -> Vec<Instr> {
            [
                fill(Feed::FillA, &w),
                fill(Feed::FillB, &other),
                compute(write),
                vec![Instr::End],
            ]
            .concat()
        };
        let mut phases = vec![Phase {
            name: "forward",
            segments: vec![
                segment("s1", step(&out)),
                // Same fills: both left out; its write lands on the weights' last bytes.
                segment("s2", step(&Access::new(0x13e, 2, &[(1, 2)]))),
                // Buffer A must be filled again; buffer B still holds its fill.
                segment("s3", step(&out)),
            ],
        }];
        leave_out_held_fills(&mut phases);
        let p = |k: usize| &phases[0].segments[k].programs[0];
        assert_eq!(*p(0), step(&out));
        assert_eq!(
            *p(1),
            [compute(&Access::new(0x13e, 2, &[(1, 2)])), vec![Instr::End]].concat()
        );
        assert_eq!(
            *p(2),
            [fill(Feed::FillA, &w), compute(&out), vec![Instr::End]].concat()
        );
        // The DRAM bytes and the listing follow.
        let s = &phases[0].segments;
        assert_eq!(s[1].bytes_read, 16);
        assert_eq!(s[2].bytes_read, 64 + 16);
        assert_eq!(s[1].nests[0].1, "fill A held since s1: not filled again");
        assert_eq!(s[2].nests[1].1, "fill B held since s1: not filled again");
        assert_eq!(s[2].nests[0].1, "fill A @0x100");
    }

    #[test]
    fn a_fill_of_other_memory_or_the_other_buffer_replaces_what_is_held() {
        let w = Access::new(0x100, 2, &[(16, 2)]);
        let v = Access::new(0x200, 2, &[(16, 2)]);
        let out = Access::new(0x1000, 2, &[(4, 2)]);
        let programs = [
            [fill(Feed::FillA, &w), compute(&out)].concat(),
            [fill(Feed::FillA, &v), compute(&out)].concat(),
            [fill(Feed::FillA, &w), compute(&out)].concat(),
            // The same stream into buffer B is a different fill.
            [fill(Feed::FillB, &w), compute(&out)].concat(),
            // A compute that fills buffer A meanwhile: buffer A no longer holds w alone.
            vec![
                compute_op(mode::GRADIENT, 0, (false, true), 0, true),
                shape(8, 4),
                fill_start(8),
                v.stream(Slot::A, Dest::Pe),
                Access::new(0x800, 2, &[(8, 2)]).stream(Slot::B, Dest::Pe),
                out.stream(Slot::W, Dest::Dram),
                Instr::Run,
            ],
            [fill(Feed::FillA, &w), compute(&out)].concat(),
        ];
        let mut phases = vec![Phase {
            name: "forward",
            segments: programs
                .iter()
                .enumerate()
                .map(|(k, p)| segment(&format!("s{k}"), p.clone()))
                .collect(),
        }];
        leave_out_held_fills(&mut phases);
        for (k, p) in programs.iter().enumerate() {
            assert_eq!(&phases[0].segments[k].programs[0], p, "segment {k}");
        }
    }
}
