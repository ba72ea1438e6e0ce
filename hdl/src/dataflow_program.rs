//! The binary program format of the data-flow engine (docs/dataflow.md), shared by the hardware's
//! tests and the assembler: instructions as Rust values, encoded to and decoded from 32-bit words.

use crate::dataflow_engine::{dest, opcode, PE_CFG_BITS, SLOT_A, SLOT_B, SLOT_W};
use crate::pe_feeder::{Feed, FeedSetting, WindowField};
use crate::stream_generator::{COUNT_BITS, MAX_LOOPS};
use anyhow::{bail, Result};

/// Header bit positions.
pub const OPCODE_SHIFT: u32 = 28;
pub const SLOT_SHIFT: u32 = 26;
pub const DIR_BIT: u32 = 25;
pub const DEST_SHIFT: u32 = 23;
pub const SIZE_SHIFT: u32 = 21;
pub const LOOPS_SHIFT: u32 = 18;
/// Set on a read stream of 4-byte master weights handed out as their MAC weights.
pub const NARROW_SHIFT: u32 = crate::stream_generator::NARROW_BIT as u32;
pub const TILE_SHIFT: u32 = 8;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
    W,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dest {
    /// The local processing engine's port of the slot.
    Pe,
    /// A remote tile over the network on chip.
    Tile(u8),
    /// DRAM (write-back streams).
    Dram,
}

/// Largest element a stream moves (bytes): the engine's data path and a flit's payload are
/// 32 bits.
pub const MAX_ELEMENT_BYTES: u32 = 4;

/// One stream: `base + sum_k i_k * stride_k` for `i_k < count_k`, loop 0 innermost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    pub slot: Slot,
    pub dest: Dest,
    /// Element size in bytes: 1, 2 or 4.
    pub size: u32,
    /// Reads only, 4-byte elements: each is a 32-bit master weight (or bias), handed out as its
    /// 16-bit MAC weight (`sat16` of the master rounded half up by `G - F` bits), zero-extended
    /// as a 2-byte element is. The MAC weights are not stored apart from their masters.
    pub narrow: bool,
    pub base: u32,
    /// (count, stride in bytes), innermost first.
    pub loops: Vec<(u32, i32)>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Instr {
    Stream(Descriptor),
    /// A setting for the tile's PE feeder, taken after the previous `run` has finished.
    Pe(FeedSetting),
    Run,
    End,
}

/// The PE feeder's operation word for the next run (`mode` from [`crate::pe_feeder::mode`]).
pub fn op(mode: u8, act: u8, feed: Feed, opb_step: bool, opa_wrap: bool) -> Instr {
    Instr::Pe(FeedSetting::Op {
        mode,
        act,
        feed,
        opb_step,
        opa_wrap,
        fill_a: false,
        opa_base: 0,
    })
}

/// The operation word of a compute run that reads buffer A from entry `opa_base` and, with
/// `fill_a`, fills buffer A from stream a meanwhile (from the entry a [`fill_start`] gives).
pub fn compute_op(
    mode: u8,
    act: u8,
    (opb_step, opa_wrap): (bool, bool),
    opa_base: usize,
    fill_a: bool,
) -> Instr {
    Instr::Pe(FeedSetting::Op {
        mode,
        act,
        feed: Feed::Compute,
        opb_step,
        opa_wrap,
        fill_a,
        opa_base: opa_base as u32,
    })
}

/// The PE feeder's opa-blocks word: until the next operation word, an `opa_wrap` compute reads
/// buffer A at `term * blocks + reduction % blocks` (from `opa_base`): `blocks` blocks of
/// operands held interleaved term by term.
pub fn opa_blocks(blocks: usize) -> Instr {
    Instr::Pe(FeedSetting::OpaBlocks {
        blocks: blocks as u32,
    })
}

/// The PE feeder's opb-buffer word: until the next operation word the broadcast operand lives in
/// the PE's reuse buffer (a fill writes it; a compute of `reductions` reductions reads it).
pub fn opb_buffer(reductions: usize) -> Instr {
    Instr::Pe(FeedSetting::OpbBuffer {
        reductions: reductions as u32,
    })
}

/// The PE feeder's opb-across word: until the next operation word a compute from the reuse
/// buffer reads the operands held term by term, `rows` of them a term.
pub fn opb_across(rows: usize) -> Instr {
    Instr::Pe(FeedSetting::OpbAcross { rows: rows as u32 })
}

/// One of the PE feeder's window words (`FeedSetting::Window`): a compute from the reuse buffer
/// reads windows out of maps, two held, one filled while the other is read.
pub fn window(field: WindowField, value: usize) -> Instr {
    Instr::Pe(FeedSetting::Window {
        field,
        value: value as u32,
    })
}

/// The PE feeder's fill-start word: the plain fills up to the next operation word start at
/// entry `start`.
pub fn fill_start(start: usize) -> Instr {
    Instr::Pe(FeedSetting::FillStart {
        start: start as u32,
        pairs: false,
    })
}

/// The PE feeder's fill-start word for pair fills: the plain fills up to the next operation word
/// start at entry `start` and take two 16-bit operands an element, for an even lane and the next.
pub fn pair_fill_start(start: usize) -> Instr {
    Instr::Pe(FeedSetting::FillStart {
        start: start as u32,
        pairs: true,
    })
}

/// The PE feeder's operation word for a fill (`feed` is `FillA` or `FillB`): the mode and the
/// buffer addressing do not matter to a fill.
pub fn fill_op(feed: Feed) -> Instr {
    debug_assert!(
        matches!(feed, Feed::FillA | Feed::FillB),
        "{feed:?} is not a fill"
    );
    op(crate::pe_feeder::mode::FORWARD, 0, feed, false, false)
}

/// The PE feeder's shape word for the next run: terms per reduction, lanes in use.
pub fn shape(reduce: usize, lanes: usize) -> Instr {
    Instr::Pe(FeedSetting::Shape {
        reduce: reduce as u32,
        lanes: lanes as u32,
    })
}

/// The PE feeder's split-fill word: until the next by-lane or operation word a fill of buffer A
/// by lane also takes stream b, stream a filling the even lanes and stream b the odd ones.
pub fn split_fill() -> Instr {
    Instr::Pe(FeedSetting::SplitFill)
}

/// The PE feeder's fill-by-lane word: the fills up to the next operation word go lane by lane,
/// entries `start..reduce` of each (`reduce` from the shape word).
pub fn by_lane(start: usize) -> Instr {
    Instr::Pe(FeedSetting::ByLane {
        start: start as u32,
    })
}

impl Descriptor {
    /// Elements the stream moves.
    pub fn elements(&self) -> u64 {
        self.loops.iter().map(|l| l.0 as u64).product()
    }

    /// Bytes the stream moves.
    pub fn bytes(&self) -> u64 {
        self.elements() * self.size as u64
    }

    /// The element addresses in stream order (loop 0 fastest), by index arithmetic, wrapping at
    /// 32 bits as the engine's address does.
    pub fn addresses(&self) -> impl Iterator<Item = u64> + '_ {
        (0..self.elements()).map(move |e| {
            let mut rest = e;
            let mut a = self.base as i64;
            for &(count, stride) in &self.loops {
                a += (rest % count as u64) as i64 * stride as i64;
                rest /= count as u64;
            }
            a as u32 as u64
        })
    }

    /// Checks what the encoding cannot express; the hardware checks the same at run time.
    pub fn check(&self) -> Result<()> {
        if !self.size.is_power_of_two() || self.size > MAX_ELEMENT_BYTES {
            bail!("element size {} is not 1, 2 or 4", self.size);
        }
        if self.narrow && (self.size != 4 || self.slot == Slot::W) {
            bail!("a narrowed stream reads 4-byte master weights (slot a or b, size 4)");
        }
        if self.loops.is_empty() || self.loops.len() > MAX_LOOPS {
            bail!(
                "{} loops: a descriptor has 1 to {MAX_LOOPS}",
                self.loops.len()
            );
        }
        for (k, &(count, _)) in self.loops.iter().enumerate() {
            if count == 0 || count >= 1 << COUNT_BITS {
                bail!(
                    "loop {k}: count {count} must be from 1 to {}",
                    (1u32 << COUNT_BITS) - 1
                );
            }
        }
        match (self.slot, self.dest) {
            (Slot::W, Dest::Dram) => {}
            (Slot::W, _) => bail!("slot w writes to DRAM: destination must be dram"),
            (_, Dest::Dram) => bail!("slots a and b read: destination must be pe or tile"),
            _ => {}
        }
        Ok(())
    }

    /// The header word.
    pub fn header(&self) -> u32 {
        let slot = match self.slot {
            Slot::A => SLOT_A,
            Slot::B => SLOT_B,
            Slot::W => SLOT_W,
        } as u32;
        let (d, tile) = match self.dest {
            Dest::Pe => (dest::LOCAL_PE, 0),
            Dest::Tile(t) => (dest::REMOTE_TILE, t),
            Dest::Dram => (dest::DRAM, 0),
        };
        (opcode::STREAM as u32) << OPCODE_SHIFT
            | slot << SLOT_SHIFT
            | ((self.slot == Slot::W) as u32) << DIR_BIT
            | (d as u32) << DEST_SHIFT
            | self.size.trailing_zeros() << SIZE_SHIFT
            | (self.loops.len() as u32) << LOOPS_SHIFT
            | (self.narrow as u32) << NARROW_SHIFT
            | (tile as u32) << TILE_SHIFT
    }
}

/// Encodes a program (no checks: faulty programs are encodable on purpose; see [`Descriptor::check`]).
pub fn encode(program: &[Instr]) -> Vec<u32> {
    let mut w = vec![];
    for i in program {
        match i {
            Instr::End => w.push((opcode::END as u32) << OPCODE_SHIFT),
            Instr::Run => w.push((opcode::RUN as u32) << OPCODE_SHIFT),
            Instr::Pe(f) => w.push((opcode::PE as u32) << OPCODE_SHIFT | f.encode()),
            Instr::Stream(d) => {
                w.push(d.header());
                w.push(d.base);
                for &(count, stride) in &d.loops {
                    w.push(count);
                    w.push(stride as u32);
                }
            }
        }
    }
    w
}

/// Decodes words into instructions up to and including the first END; errors name the word.
pub fn decode(words: &[u32]) -> Result<Vec<Instr>> {
    let mut out = vec![];
    let mut i = 0;
    while i < words.len() {
        let h = words[i];
        match (h >> OPCODE_SHIFT) as u64 {
            opcode::END => {
                out.push(Instr::End);
                return Ok(out);
            }
            opcode::RUN => out.push(Instr::Run),
            opcode::PE => out.push(Instr::Pe(
                FeedSetting::decode(h & ((1 << PE_CFG_BITS) - 1))
                    .map_err(|e| anyhow::anyhow!("word {i}: {e}"))?,
            )),
            opcode::STREAM => {
                let slot = match (h >> SLOT_SHIFT & 3) as u64 {
                    SLOT_A => Slot::A,
                    SLOT_B => Slot::B,
                    SLOT_W => Slot::W,
                    s => bail!("word {i}: stream slot {s} does not exist"),
                };
                let dest = match (h >> DEST_SHIFT & 3) as u64 {
                    dest::LOCAL_PE => Dest::Pe,
                    dest::REMOTE_TILE => Dest::Tile((h >> TILE_SHIFT) as u8),
                    dest::DRAM => Dest::Dram,
                    d => bail!("word {i}: destination {d} does not exist"),
                };
                let size_code = h >> SIZE_SHIFT & 3;
                if size_code == 3 {
                    bail!("word {i}: element size code 3 does not exist");
                }
                let n = (h >> LOOPS_SHIFT & 7) as usize;
                let need = 2 + 2 * n;
                if i + need > words.len() {
                    bail!("word {i}: descriptor of {n} loops runs past the end of the program");
                }
                let loops = (0..n)
                    .map(|k| (words[i + 2 + 2 * k], words[i + 3 + 2 * k] as i32))
                    .collect();
                let d = Descriptor {
                    slot,
                    dest,
                    size: 1 << size_code,
                    narrow: h >> NARROW_SHIFT & 1 == 1,
                    base: words[i + 1],
                    loops,
                };
                if (h >> DIR_BIT & 1 == 1) != (slot == Slot::W) {
                    bail!("word {i}: direction bit disagrees with slot");
                }
                d.check().map_err(|e| anyhow::anyhow!("word {i}: {e}"))?;
                out.push(Instr::Stream(d));
                i += need;
                continue;
            }
            op => bail!("word {i}: unknown opcode {op:#x}"),
        }
        i += 1;
    }
    bail!("program has no END")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let p = vec![
            Instr::Stream(Descriptor {
                slot: Slot::B,
                dest: Dest::Tile(9),
                size: 2,
                narrow: false,
                base: 0x100,
                loops: vec![(3, -2), (4, 64)],
            }),
            Instr::Stream(Descriptor {
                slot: Slot::A,
                dest: Dest::Pe,
                size: 4,
                narrow: true,
                base: 0x40,
                loops: vec![(5, 4)],
            }),
            Instr::Stream(Descriptor {
                slot: Slot::W,
                dest: Dest::Dram,
                size: 4,
                narrow: false,
                base: 0,
                loops: vec![(1, 0); 6],
            }),
            Instr::Run,
            Instr::End,
        ];
        assert_eq!(decode(&encode(&p)).unwrap(), p);
        assert!(
            format!("{}", decode(&[0x7000_0000]).unwrap_err()).contains("word 0: unknown opcode")
        );
    }
}
