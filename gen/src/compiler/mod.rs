//! The compiler: a network, a batch size and a configuration become a DRAM memory map and, for
//! every phase of a training step, per-tile data-flow programs.
//!
//! Execution model: a phase is a sequence of segments; in a segment every tile runs its own
//! program and the host waits until all are done before it loads the next segment. Segments
//! either compute (each tile on its own share of a layer) or exchange (an all-gather or an
//! all-to-all over the network on chip, one round per segment: in a round every tile sends to
//! one tile and receives from one, so a receiver's elements come from exactly one sender).
//!
//! Partitioning: the outputs of a layer (its neurons) are split into chunks of at most `lanes`
//! consecutive neurons, as evenly as the lanes and tiles allow, dealt round robin to the tiles;
//! one chunk occupies the PE's lanes for one pass. Every vault holds the same memory map:
//! inputs, activations and errors are replicated where other tiles need them (gathered after
//! they change); the MAC weights a backward product reads across the rows go to the tiles that
//! read those columns; master weights, gradients and biases live with their chunk.

pub mod conv;
pub mod image;
pub mod lower;
pub mod memory_map;
pub mod mesh_rounds;
pub mod partition;
pub mod pool;
pub mod program;
pub mod refill;

use anyhow::Result;
use memory_map::MemoryMap;
use nt_hdl::config::Config;
use nt_hdl::dataflow_program::Instr;
use nt_testbench::network::Network;

pub use nt_testbench::golden::net::{ParamKind, ParamRef};

/// Bytes of an activation or error element.
pub const ACT: u64 = 2;
/// Bytes of a gradient element.
pub const GRAD: u64 = 4;
// A gradient and a weight record are a word each: the update walks them side by side, and a
// convolution's rows of either take one pitch.
const _: () = assert!(GRAD == memory_map::RECORD_BYTES);

/// One segment: a program per tile (ending with `end`).
#[derive(Clone, Debug)]
pub struct Segment {
    pub label: String,
    /// The layer it works on.
    pub layer: usize,
    pub programs: Vec<Vec<Instr>>,
    /// Useful multiply-accumulates of the segment (an update counts one per parameter).
    pub macs: u64,
    /// DRAM bytes the programs read and write, summed over tiles (element sizes, not bursts).
    pub bytes_read: u64,
    pub bytes_written: u64,
    /// Elements sent over the network on chip.
    pub noc_elements: u64,
    /// The loop nests, for the plan listing: (tile, text).
    pub nests: Vec<(usize, String)>,
}

impl Segment {
    /// Tiles with work in this segment.
    pub fn tiles_used(&self) -> usize {
        self.programs.iter().filter(|p| p.len() > 1).count()
    }
}

#[derive(Clone, Debug)]
pub struct Phase {
    pub name: &'static str,
    pub segments: Vec<Segment>,
}

/// A tensor of the golden model's step, by layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GoldenRef {
    Y(usize),
    Delta(usize),
    GradW(usize),
    GradB(usize),
    NewW(usize),
    NewMacW(usize),
    NewB(usize),
}

/// Where a tensor's values sit in the vaults after a phase.
#[derive(Clone, Debug)]
pub struct TensorCheck {
    pub phase: &'static str,
    pub name: String,
    pub golden: GoldenRef,
    /// Bytes per element (2 or 4), little-endian two's complement.
    pub width: usize,
    /// Per vault: (index in the golden tensor, byte address).
    pub places: Vec<(usize, Vec<(usize, u64)>)>,
}

/// A vault's copy of some of a layer's MAC weights: 16-bit values side by side from byte
/// `base`, each the MAC value of the layer's weight at its index.
#[derive(Clone, Debug)]
pub struct MacCopy {
    pub layer: usize,
    pub vault: usize,
    pub base: u64,
    pub indices: Vec<usize>,
}

/// Where a layer's parameter records are in every vault: the weights from `w`, in rows of
/// `cols` records `pitch` bytes apart where `rows` says so (a convolution's, see
/// [`conv::row_pitch`]), else side by side; the biases side by side from `b`.
#[derive(Clone, Copy, Debug)]
pub struct ParamPlaces {
    pub w: u64,
    pub rows: Option<(usize, u64)>,
    pub b: u64,
}

#[derive(Clone, Debug)]
pub struct Plan {
    pub layer_names: Vec<String>,
    pub batch: usize,
    pub tiles: usize,
    pub lanes: usize,
    pub eta: u16,
    pub map: MemoryMap,
    pub phases: Vec<Phase>,
    /// Per tile, its update beats in order; per beat, what each lane updates (None: an idle lane,
    /// whose LFSR still steps).
    pub update_beats: Vec<Vec<Vec<Option<ParamRef>>>>,
    /// What to compare after each phase.
    pub checks: Vec<TensorCheck>,
    /// The MAC weights' copies the backward products read (the host writes them at the start
    /// like the records).
    pub mac_copies: Vec<MacCopy>,
    /// Byte address of each element of a batch's input and target (the host writes them).
    pub input_addrs: Vec<u64>,
    pub target_addrs: Vec<u64>,
    /// Per layer, where its weight and bias records are.
    pub params: Vec<ParamPlaces>,
    /// The constants region and the 16-bit values the host writes there (1.0, -1.0, then the
    /// pool window positions 0..3).
    pub konst: u64,
    pub konst_values: Vec<i16>,
}

pub fn compile(net: &Network, batch: usize, eta: u16, config: &Config) -> Result<Plan> {
    lower::compile(net, batch, eta, config)
}
