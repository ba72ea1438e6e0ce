//! Building blocks of tile programs.

pub use nt_hdl::dataflow_program::{op, shape};
use nt_hdl::dataflow_program::{Descriptor, Dest, Instr, Slot};
pub use nt_hdl::pe_feeder::mode;
use nt_hdl::pe_feeder::Feed;

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

/// Fills buffer A (`b == false`) or B with `access`, `lanes` elements per entry.
pub fn fill(prog: &mut Vec<Instr>, buffer_b: bool, lanes: usize, access: &Access) {
    let feed = if buffer_b { Feed::FillB } else { Feed::FillA };
    prog.push(op(mode::FORWARD, 0, feed, false, false));
    prog.push(shape(1, lanes));
    prog.push(access.stream(Slot::A, Dest::Pe));
    prog.push(Instr::Run);
}
