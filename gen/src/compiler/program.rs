//! Building blocks of tile programs.

pub use nt_hdl::dataflow_program::{by_lane, op, shape};
use nt_hdl::dataflow_program::{Descriptor, Dest, Instr, Slot};
pub use nt_hdl::pe_feeder::mode;

/// An element stream's addresses: base, element size and loops (count, stride), innermost first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub base: u64,
    pub size: u32,
    pub loops: Vec<(usize, i64)>,
}

impl Access {
    pub fn new(base: u64, size: u32, loops: &[(usize, i64)]) -> Access {
        Access {
            base,
            size,
            loops: loops.to_vec(),
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
        Access::new(self.base, self.size, &loops)
    }

    /// The element addresses in stream order.
    pub fn addresses(&self) -> impl Iterator<Item = u64> + '_ {
        let mut index = vec![0usize; self.loops.len()];
        (0..self.elements()).map(move |_| {
            let offset: i64 = index
                .iter()
                .zip(&self.loops)
                .map(|(&i, &(_, stride))| i as i64 * stride)
                .sum();
            for (i, &(count, _)) in index.iter_mut().zip(&self.loops) {
                *i += 1;
                if *i < count {
                    break;
                }
                *i = 0;
            }
            (self.base as i64 + offset) as u64
        })
    }

    /// DRAM bursts of `burst` bytes the stream asks for: one whenever an element lies outside
    /// the burst asked for last (the engine merges an element only into that one).
    pub fn bursts(&self, burst: u64) -> u64 {
        let mut last = None;
        self.addresses()
            .filter(|a| {
                let b = Some(a / burst);
                let new = b != last;
                last = b;
                new
            })
            .count() as u64
    }

    pub fn stream(&self, slot: Slot, dest: Dest) -> Instr {
        Instr::Stream(Descriptor {
            slot,
            dest,
            size: self.size,
            base: self.base as u32,
            loops: self
                .loops
                .iter()
                .map(|&(c, s)| (c as u32, s as i32))
                .collect(),
        })
    }
}
