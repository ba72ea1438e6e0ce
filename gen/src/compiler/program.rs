//! Building blocks of tile programs.

pub use nt_hdl::dataflow_program::{by_lane, fill_op, op, shape};
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
