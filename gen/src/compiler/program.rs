//! Building blocks of tile programs.

pub use nt_hdl::dataflow_program::{
    by_lane, compute_op, fill_op, fill_start, op, opa_blocks, opb_across, opb_buffer,
    pair_fill_start, shape, split_fill, window,
};
use nt_hdl::dataflow_program::{Descriptor, Dest, Instr, Slot};
pub use nt_hdl::pe_feeder::mode;
use nt_hdl::stream_generator;

/// An element stream's addresses: base, element size and loops (count, stride), innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub base: u64,
    pub size: u32,
    pub loops: Vec<(usize, i64)>,
    /// Master weights (4-byte elements) read as their 16-bit MAC weights (a narrowed stream).
    pub narrow: bool,
}

impl Access {
    pub fn new(base: u64, size: u32, loops: &[(usize, i64)]) -> Access {
        Access {
            base,
            size,
            loops: loops.to_vec(),
            narrow: false,
        }
    }

    /// The MAC weights of the master weights at `base` and the loops' strides.
    pub fn mac_weights(base: u64, loops: &[(usize, i64)]) -> Access {
        Access {
            narrow: true,
            ..Access::new(base, 4, loops)
        }
    }

    /// Bytes of a value the stream hands on: a narrowed stream's are 16-bit MAC weights.
    pub fn value_bytes(&self) -> u32 {
        if self.narrow {
            2
        } else {
            self.size
        }
    }

    pub fn elements(&self) -> u64 {
        self.loops.iter().map(|&(c, _)| c as u64).product()
    }

    pub fn bytes(&self) -> u64 {
        self.elements() * self.size as u64
    }

    /// The same elements with the loops by increasing stride magnitude: memory order, where a
    /// DRAM burst serves every element it holds in turn.
    pub fn in_memory_order(&self) -> Access {
        let mut loops = self.loops.clone();
        loops.sort_by_key(|&(_, stride)| stride.unsigned_abs());
        Access {
            loops,
            ..self.clone()
        }
    }

    /// This access, then `next`, as one access, where `next` only carries on the innermost loop:
    /// the same element size, stride and outer loops, starting where that loop would go next.
    /// Accesses whose innermost loop does not step by elements (a compacted one that dropped a
    /// loop of one element) carry on as if they had one: chunks of one value each, side by side.
    pub fn joined(&self, next: &Access) -> Option<Access> {
        self.joined_innermost(next).or_else(|| {
            let steps = |a: &Access| a.loops.first().map(|l| l.1) == Some(a.size as i64);
            let element = |a: &Access| {
                let mut a = a.clone();
                if !steps(&a) {
                    a.loops.insert(0, (1, a.size as i64));
                }
                a
            };
            if steps(self) && steps(next) {
                return None;
            }
            element(self).joined_innermost(&element(next))
        })
    }

    fn joined_innermost(&self, next: &Access) -> Option<Access> {
        let (&(count, stride), outer) = self.loops.split_first()?;
        let (&(more, next_stride), next_outer) = next.loops.split_first()?;
        let carries_on = self.size == next.size
            && self.narrow == next.narrow
            && stride == next_stride
            && outer == next_outer
            && next.base as i64 == self.base as i64 + count as i64 * stride;
        carries_on.then(|| {
            let mut a = self.clone();
            a.loops[0].0 = count + more;
            a
        })
    }

    /// The same addresses in the same order in as few loops as hold them: loops of one element
    /// dropped, and a loop that carries on where the one inside it ends merged into it (while
    /// the count fits a descriptor). A channel of a 1 x 1 map then reads as one run.
    pub fn compacted(&self) -> Access {
        let mut loops: Vec<(usize, i64)> = vec![];
        for &(count, stride) in self.loops.iter().filter(|&&(c, _)| c != 1) {
            match loops.last_mut() {
                Some(last)
                    if stride == last.0 as i64 * last.1
                        && last.0 * count < 1 << stream_generator::COUNT_BITS =>
                {
                    last.0 *= count
                }
                _ => loops.push((count, stride)),
            }
        }
        if loops.is_empty() {
            loops.push((1, self.size as i64));
        }
        Access {
            loops,
            ..self.clone()
        }
    }

    /// The same bytes in the same order, in elements of up to `max` bytes: neighbours of the
    /// innermost loop (of the compacted loops) merge in pairs while they lie side by side, pair
    /// up evenly and every merged element stays aligned to its size. A copy over the network
    /// costs a flit per element, so wider elements move a piece in fewer flits. A narrowed
    /// stream's elements are one value each: it stays as it is.
    pub fn widened(&self, max: u32) -> Access {
        if self.narrow {
            return self.clone();
        }
        let mut a = self.compacted();
        while a.size < max && !a.narrow {
            let wide = 2 * a.size as i64;
            let mergeable = matches!(a.loops.first(), Some(&(count, stride))
                if stride == a.size as i64 && count.is_multiple_of(2))
                && a.base.is_multiple_of(wide as u64)
                && a.loops[1..].iter().all(|&(_, s)| s % wide == 0);
            if !mergeable {
                break;
            }
            a.size *= 2;
            a.loops[0] = (a.loops[0].0 / 2, wide);
        }
        a
    }

    /// DRAM bursts of `burst` bytes the stream asks for: one whenever an element lies outside
    /// the burst asked for last (the engine merges an element only into that one).
    pub fn bursts(&self, burst: u64) -> u64 {
        let mut last = None;
        self.descriptor(Slot::A, Dest::Pe)
            .addresses()
            .filter(|a| {
                let b = Some(a / burst);
                let new = b != last;
                last = b;
                new
            })
            .count() as u64
    }

    pub fn descriptor(&self, slot: Slot, dest: Dest) -> Descriptor {
        Descriptor {
            slot,
            dest,
            size: self.size,
            narrow: self.narrow,
            base: self.base as u32,
            loops: self
                .loops
                .iter()
                .map(|&(c, s)| (c as u32, s as i32))
                .collect(),
        }
    }

    pub fn stream(&self, slot: Slot, dest: Dest) -> Instr {
        Instr::Stream(self.descriptor(slot, dest))
    }
}

/// The accesses in order, each joined to the one before where it carries it on.
pub fn join_adjacent(accesses: impl IntoIterator<Item = Access>) -> Vec<Access> {
    let mut out: Vec<Access> = vec![];
    for a in accesses {
        match out.last().and_then(|last| last.joined(&a)) {
            Some(j) => *out.last_mut().expect("joined to the last") = j,
            None => out.push(a),
        }
    }
    out
}

/// Every byte of a stream's elements, in order (what tests compare streams by).
#[cfg(test)]
pub(crate) fn every_byte(d: &Descriptor) -> Vec<u64> {
    d.addresses().flat_map(|a| a..a + d.size as u64).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neighbouring_chunks_join_into_one_access() {
        // Chunks of 14 and 14 activations of 16 samples, side by side, then one elsewhere.
        let chunk = |start: u64, n: usize| Access::new(0x100 + 2 * start, 2, &[(n, 2), (16, 512)]);
        let joined = join_adjacent([chunk(0, 14), chunk(14, 14), chunk(40, 4)]);
        assert_eq!(joined, vec![chunk(0, 28), chunk(40, 4)]);
        // Strided records join too; other outer loops or element sizes do not.
        let rec = |base: u64, loops: &[(usize, i64)]| Access::new(base, 2, loops);
        assert_eq!(
            rec(0x44, &[(4, 8)]).joined(&rec(0x64, &[(2, 8)])),
            Some(rec(0x44, &[(6, 8)]))
        );
        assert_eq!(
            rec(0x44, &[(4, 8), (2, 64)]).joined(&rec(0x64, &[(4, 8), (3, 64)])),
            None
        );
        assert_eq!(rec(0x44, &[(4, 8)]).joined(&rec(0x66, &[(4, 8)])), None);
        assert_eq!(
            rec(0x44, &[(4, 2)]).joined(&Access::new(0x4c, 4, &[(2, 2)])),
            None
        );
        // Single values of 16 samples (their element loop compacted away) side by side.
        assert_eq!(
            rec(0x100, &[(16, 20)]).joined(&rec(0x102, &[(16, 20)])),
            Some(rec(0x100, &[(2, 2), (16, 20)]))
        );
        assert_eq!(
            rec(0x100, &[(2, 2), (16, 20)]).joined(&rec(0x104, &[(16, 20)])),
            Some(rec(0x100, &[(3, 2), (16, 20)]))
        );
    }

    #[test]
    fn widening_merges_aligned_neighbours_and_keeps_the_bytes() {
        let bytes = |a: &Access| every_byte(&a.descriptor(Slot::A, Dest::Pe));
        // A chunk of 16 activations for each of 16 samples: pairs of 16-bit values.
        let piece = Access::new(0xc2c40, 2, &[(16, 2), (16, 512)]);
        let wide = piece.widened(4);
        assert_eq!(wide, Access::new(0xc2c40, 4, &[(8, 4), (16, 512)]));
        assert_eq!(bytes(&wide), bytes(&piece));
        // Bytes go to words in two steps.
        let b = Access::new(0x100, 1, &[(8, 1)]);
        assert_eq!(b.widened(4), Access::new(0x100, 4, &[(2, 4)]));
        assert_eq!(b.widened(2), Access::new(0x100, 2, &[(4, 2)]));
        // What cannot merge stays as it is: a base off the wide alignment, an odd count, values
        // apart (record fields), an outer stride that would misalign a wide element.
        for a in [
            Access::new(0x102, 2, &[(4, 2)]),
            Access::new(0x100, 2, &[(3, 2)]),
            Access::new(0x104, 2, &[(16, 8)]),
            Access::new(0x100, 2, &[(4, 2), (3, 10)]),
        ] {
            assert_eq!(a.widened(4), a);
        }
        // A chunk of 16 channels of a 1 x 1 map, for 16 samples: its unit loops (column, row)
        // would stop the channels, which lie side by side, from merging.
        let map = Access::new(0x200, 2, &[(1, 2), (1, 2), (16, 2), (16, 512)]);
        assert_eq!(
            map.compacted(),
            Access::new(0x200, 2, &[(16, 2), (16, 512)])
        );
        assert_eq!(map.widened(4), Access::new(0x200, 4, &[(8, 4), (16, 512)]));
        assert_eq!(bytes(&map.widened(4)), bytes(&map));
        // Rows that carry on into the next become one loop; a padded row does not.
        let rows = Access::new(0x0, 2, &[(6, 2), (6, 12), (3, 72)]);
        assert_eq!(rows.compacted(), Access::new(0x0, 2, &[(108, 2)]));
        let padded = Access::new(0x0, 2, &[(6, 2), (6, 16)]);
        assert_eq!(padded.compacted(), padded);
        // A single element keeps one loop; a merge that would overflow a count does not happen.
        let one = Access::new(0x40, 4, &[(1, 8), (1, 64)]);
        assert_eq!(one.compacted(), Access::new(0x40, 4, &[(1, 4)]));
        let long = Access::new(0x0, 2, &[(1 << 10, 2), (1 << 10, 2 << 10)]);
        assert_eq!(long.compacted(), long);
    }
}
