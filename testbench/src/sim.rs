//! A fast clocked simulation loop around rust-hdl's `simulate()`, with optional VCD output.
//!
//! rust-hdl's `Simulation` hands the design between threads on every event (a few thousand cycles
//! per second); driving the clock directly is two to three orders of magnitude faster. The caller
//! sets inputs with `.next`, calls [`Clocked::tick`] (one rising and one falling edge), then reads
//! the outputs the rising edge produced.
//!
//! The VCD names every scope and signal as the emitted Verilog does (top module name, instance
//! names, `_` for rust-hdl's `$`), with enums as their numeric codes, so that GTKWave or a
//! cocotb-style tool sees the same hierarchy in both simulators.

use anyhow::{bail, Context, Result};
use rust_hdl::core::atom::{Atom, AtomKind};
use rust_hdl::core::probe::Probe;
use rust_hdl::core::synth::VCDValue;
use rust_hdl::core::type_descriptor::TypeKind;
use rust_hdl::prelude::*;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// Settling passes allowed per clock edge before the design is declared non-convergent.
pub const MAX_SETTLE_PASSES: usize = 100;
/// VCD time of one clock period, in picoseconds (the value is nominal: the simulation is
/// cycle-based).
pub const VCD_PERIOD_PS: u64 = 1000;

/// A design with a clock input.
pub trait ClockedBlock: Block {
    fn clock_mut(&mut self) -> &mut Signal<In, Clock>;
}

impl ClockedBlock for nt_hdl::pe::Pe {
    fn clock_mut(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
}

impl<const W: usize> ClockedBlock for nt_hdl::mesh::Mesh<W> {
    fn clock_mut(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
}

impl<const W: usize> ClockedBlock for nt_hdl::router::Router<W> {
    fn clock_mut(&mut self) -> &mut Signal<In, Clock> {
        &mut self.clock
    }
}

/// The design under test plus its cycle count, VCD writer and toggle counter.
pub struct Clocked<U: ClockedBlock> {
    pub uut: U,
    pub cycles: u64,
    vcd: Option<VcdWriter>,
    activity: Option<ToggleCounter>,
}

/// Bit toggles counted over a run, for the power analysis's switching activity.
#[derive(Clone, Debug, Default)]
pub struct Toggles {
    pub cycles: u64,
    /// Flip-flop output bits (the `q` of every register) and their toggles.
    pub register_bits: u64,
    pub register_toggles: u64,
    /// Primary input bits (the clock excluded) and their toggles.
    pub input_bits: u64,
    pub input_toggles: u64,
    /// Bits read from and written to memories' arrays (an enabled read or write of a D-bit
    /// word counts D), for the power analysis's SRAM access energy.
    pub memory_bits_accessed: u64,
    /// Per block (the scope path below the top, array indices dropped, two levels deep: e.g.
    /// `tiles/vault`, `mesh/routers`): its registers' and its own input ports' bits and toggles.
    pub blocks: BTreeMap<String, BlockToggles>,
    /// Every one-bit register, input port and local signal, by its path below the top (array indices dropped,
    /// so that the instances of a block share an entry: `lanes/k2_emit/q`, `lanes/in_valid`):
    /// the cycles it was high and the cycles it was seen, summed over the instances. A clock
    /// gate's enable is often such a flag, and this is the share of cycles the gate is open.
    pub duty: BTreeMap<String, (u64, u64)>,
}

/// One block's share of [`Toggles`], summed over its instances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BlockToggles {
    pub register_bits: u64,
    pub register_toggles: u64,
    pub input_bits: u64,
    pub input_toggles: u64,
    /// Bits read from and written to the memories inside the block.
    pub memory_bits_accessed: u64,
}

impl BlockToggles {
    /// Mean toggles per register bit per cycle over `cycles`.
    pub fn register_rate(&self, cycles: u64) -> f64 {
        self.register_toggles as f64 / (self.register_bits.max(1) * cycles.max(1)) as f64
    }
    /// Mean toggles per input-port bit per cycle over `cycles`.
    pub fn input_rate(&self, cycles: u64) -> f64 {
        self.input_toggles as f64 / (self.input_bits.max(1) * cycles.max(1)) as f64
    }
    /// Memory bits accessed per cycle over `cycles`.
    pub fn memory_rate(&self, cycles: u64) -> f64 {
        self.memory_bits_accessed as f64 / cycles.max(1) as f64
    }
}

impl Toggles {
    /// Mean toggles per register bit per cycle.
    pub fn register_rate(&self) -> f64 {
        self.register_toggles as f64 / (self.register_bits.max(1) * self.cycles.max(1)) as f64
    }
    /// Mean toggles per input bit per cycle.
    pub fn input_rate(&self) -> f64 {
        self.input_toggles as f64 / (self.input_bits.max(1) * self.cycles.max(1)) as f64
    }
    /// Memory bits accessed per cycle.
    pub fn memory_rate(&self) -> f64 {
        self.memory_bits_accessed as f64 / self.cycles.max(1) as f64
    }
    /// The share of cycles a one-bit register or input port (a [`Toggles::duty`] path) was
    /// high, when it was seen.
    pub fn duty_of(&self, path: &str) -> Option<f64> {
        let &(high, seen) = self.duty.get(path)?;
        (seen > 0).then(|| high as f64 / seen as f64)
    }
    /// Adds `high` of `seen` cycles to a one-bit signal's duty.
    fn add_duty(&mut self, path: &str, high: u64, seen: u64) {
        let d = self.duty.entry(path.to_string()).or_default();
        d.0 += high;
        d.1 += seen;
    }
    pub fn add(&mut self, o: &Toggles) {
        self.cycles += o.cycles;
        self.register_toggles += o.register_toggles;
        self.input_toggles += o.input_toggles;
        self.memory_bits_accessed += o.memory_bits_accessed;
        self.register_bits = self.register_bits.max(o.register_bits);
        self.input_bits = self.input_bits.max(o.input_bits);
        for (k, &(high, seen)) in &o.duty {
            self.add_duty(k, high, seen);
        }
        for (k, b) in &o.blocks {
            let m = self.blocks.entry(k.clone()).or_default();
            m.register_toggles += b.register_toggles;
            m.input_toggles += b.input_toggles;
            m.memory_bits_accessed += b.memory_bits_accessed;
            m.register_bits = m.register_bits.max(b.register_bits);
            m.input_bits = m.input_bits.max(b.input_bits);
        }
    }
}

#[derive(Default)]
struct ToggleCounter {
    last: HashMap<usize, Vec<vcd::Value>>,
    /// Each one-bit signal's [`Toggles::duty`] path, cycles high and cycles seen.
    duty: HashMap<usize, (String, u64, u64)>,
    totals: Toggles,
}

impl ToggleCounter {
    /// The totals, with the one-bit signals' duties summed per path.
    fn toggles(&self) -> Toggles {
        let mut t = self.totals.clone();
        for (path, high, seen) in self.duty.values() {
            t.add_duty(path, *high, *seen);
        }
        t
    }
}

struct ToggleProbe<'a> {
    counter: &'a mut ToggleCounter,
    /// Scope names from the top down, array indices (`$N`) dropped.
    path: Vec<String>,
    first: bool,
    /// Within a memory (`nt_hdl::memory::Memory`, whose fields the probe visits in declaration
    /// order): its write is enabled, and its word width as its `read_data` shows it.
    memory_write: bool,
    memory_bits: usize,
    /// Per open scope: it has an input `d`, so its output `q` is a flip-flop's (a `DFF` declares
    /// `d` before `q`); a combinational block's output named `q` (a requantizer's) is not.
    scope_has_d: Vec<bool>,
}

impl ToggleProbe<'_> {
    fn new(counter: &mut ToggleCounter, first: bool) -> ToggleProbe<'_> {
        ToggleProbe {
            counter,
            path: vec![],
            first,
            memory_write: false,
            memory_bits: 0,
            scope_has_d: vec![],
        }
    }

    /// Counts `bits` accessed in the memory being visited, for its block and the total.
    fn count_access(&mut self, bits: usize) {
        if self.first {
            return;
        }
        self.counter.totals.memory_bits_accessed += bits as u64;
        if let Some(b) = self.block() {
            b.memory_bits_accessed += bits as u64;
        }
    }

    /// The entry of the block being visited, when the scope is deep enough to lie in one.
    fn block(&mut self) -> Option<&mut BlockToggles> {
        let key = self.path.get(1..BLOCK_DEPTH)?.join("/");
        Some(self.counter.totals.blocks.entry(key).or_default())
    }

    /// A memory's ports and read enable: `write_enable` then `write_data`, `read_data` then
    /// `read_enable`.
    fn visit_memory_atom(&mut self, name: &str, signal: &dyn Atom) {
        let high = || matches!(signal.vcd(), VCDValue::Single(vcd::Value::V1));
        match (name, signal.kind()) {
            ("write_enable", AtomKind::InputParameter) => self.memory_write = high(),
            ("write_data", AtomKind::InputParameter) if self.memory_write => {
                self.memory_write = false;
                self.count_access(signal.bits());
            }
            ("read_data", AtomKind::OutputParameter) => self.memory_bits = signal.bits(),
            ("read_enable", AtomKind::LocalSignal) if high() => self.count_access(self.memory_bits),
            _ => {}
        }
    }
}

/// Scope depth of the blocks [`Toggles::blocks`] reports (the top is 1).
const BLOCK_DEPTH: usize = 3;

impl Probe for ToggleProbe<'_> {
    fn visit_start_scope(&mut self, name: &str, _node: &dyn Block) {
        self.path
            .push(name.split('$').next().unwrap_or(name).to_string());
        self.scope_has_d.push(false);
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.path.pop();
        self.scope_has_d.pop();
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        self.visit_memory_atom(name, signal);
        let depth = self.path.len();
        let is_port_input = matches!(signal.kind(), AtomKind::InputParameter) && name != "clock";
        let is_input = depth == 1 && is_port_input;
        if name == "d" && matches!(signal.kind(), AtomKind::InputParameter) {
            if let Some(has_d) = self.scope_has_d.last_mut() {
                *has_d = true;
            }
        }
        let is_register = name == "q"
            && matches!(signal.kind(), AtomKind::OutputParameter)
            && self.scope_has_d.last() == Some(&true);
        let block_input = depth == BLOCK_DEPTH && is_port_input;
        // One-bit local signals too: a named load condition is a clock gate's enable.
        let is_local = matches!(signal.kind(), AtomKind::LocalSignal);
        if (is_register || is_port_input || is_local) && !self.first {
            if let VCDValue::Single(v) = signal.vcd() {
                let path = &self.path;
                let d = self.counter.duty.entry(signal.id()).or_insert_with(|| {
                    let mut k = path.get(1..).unwrap_or_default().join("/");
                    if !k.is_empty() {
                        k.push('/');
                    }
                    k.push_str(name);
                    (k, 0, 0)
                });
                d.1 += matches!(v, vcd::Value::V1) as u64;
                d.2 += 1;
            }
        }
        if !is_input && !is_register && !block_input {
            return;
        }
        let bits = match signal.vcd() {
            VCDValue::Single(v) => vec![v],
            VCDValue::Vector(v) => v,
            _ => return,
        };
        let flips = self
            .counter
            .last
            .get(&signal.id())
            .map(|prev| prev.iter().zip(&bits).filter(|(a, b)| a != b).count() as u64);
        let first = self.first;
        // Inside a block, the atom is one of its registers or one of its input ports.
        if let Some(b) = self.block() {
            let (count, toggles) = if is_register {
                (&mut b.register_bits, &mut b.register_toggles)
            } else {
                (&mut b.input_bits, &mut b.input_toggles)
            };
            if first {
                *count += bits.len() as u64;
            }
            *toggles += flips.unwrap_or(0);
        }
        if !is_input && !is_register {
            self.counter.last.insert(signal.id(), bits);
            return;
        }
        let bits = match signal.vcd() {
            VCDValue::Single(v) => vec![v],
            VCDValue::Vector(v) => v,
            _ => return,
        };
        if self.first {
            if is_input {
                self.counter.totals.input_bits += bits.len() as u64;
            } else {
                self.counter.totals.register_bits += bits.len() as u64;
            }
        }
        if let Some(flips) = flips {
            if is_input {
                self.counter.totals.input_toggles += flips;
            } else {
                self.counter.totals.register_toggles += flips;
            }
        }
        self.counter.last.insert(signal.id(), bits);
    }
}

impl<U: ClockedBlock> Clocked<U> {
    pub fn new(mut uut: U) -> Result<Clocked<U>> {
        uut.connect_all();
        check_all(&uut).map_err(|e| anyhow::anyhow!("design check failed: {e:?}"))?;
        let mut c = Clocked {
            uut,
            cycles: 0,
            vcd: None,
            activity: None,
        };
        c.settle()?;
        Ok(c)
    }

    /// Starts writing a VCD of every following cycle, the top scope named `top_name`.
    pub fn record_vcd(&mut self, path: &Path, top_name: &str) -> Result<()> {
        let file =
            File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
        let mut w = VcdWriter::new(BufWriter::new(file), &self.uut, top_name)?;
        w.sample(&self.uut, self.cycles * VCD_PERIOD_PS)?;
        self.vcd = Some(w);
        Ok(())
    }

    /// Starts counting register and input toggles.
    pub fn count_toggles(&mut self) {
        let mut counter = ToggleCounter::default();
        self.uut
            .accept("uut", &mut ToggleProbe::new(&mut counter, true));
        self.activity = Some(counter);
    }

    /// The toggles counted so far.
    pub fn toggles(&self) -> Option<Toggles> {
        self.activity.as_ref().map(ToggleCounter::toggles)
    }

    fn settle(&mut self) -> Result<()> {
        if !simulate(&mut self.uut, MAX_SETTLE_PASSES) {
            bail!("design failed to settle at cycle {}", self.cycles);
        }
        Ok(())
    }

    /// Applies the inputs set so far, then one clock period (rising edge, falling edge).
    pub fn tick(&mut self) -> Result<()> {
        self.settle()?;
        // Counted before the edge, where the memories' enables are the ones the edge acts on.
        if let Some(counter) = self.activity.as_mut() {
            self.uut
                .accept("uut", &mut ToggleProbe::new(counter, false));
            counter.totals.cycles += 1;
        }
        self.uut.clock_mut().next = true.into();
        self.settle()?;
        self.cycles += 1;
        if let Some(w) = self.vcd.as_mut() {
            w.sample(&self.uut, self.cycles * VCD_PERIOD_PS - VCD_PERIOD_PS / 2)?;
        }
        self.uut.clock_mut().next = false.into();
        // Nothing acts on the falling edge, so it settles together with the next cycle's inputs;
        // only a waveform wants to see it now.
        if self.vcd.is_some() {
            self.settle()?;
        }
        if let Some(w) = self.vcd.as_mut() {
            w.sample(&self.uut, self.cycles * VCD_PERIOD_PS)?;
        }
        Ok(())
    }

    /// Flushes the VCD, if one is being written.
    pub fn finish(&mut self) -> Result<()> {
        // Dropping the writer flushes its buffer.
        drop(self.vcd.take());
        Ok(())
    }
}

struct VcdWriter {
    out: vcd::Writer<BufWriter<File>>,
    codes: HashMap<usize, (vcd::IdCode, usize, Vec<String>)>,
    last: HashMap<usize, Vec<vcd::Value>>,
}

struct Header<'a> {
    w: &'a mut vcd::Writer<BufWriter<File>>,
    codes: HashMap<usize, (vcd::IdCode, usize, Vec<String>)>,
    top: String,
    depth: usize,
    err: Option<std::io::Error>,
}

fn verilog_name(name: &str) -> String {
    name.replace('$', "_")
}

impl Probe for Header<'_> {
    fn visit_start_scope(&mut self, name: &str, _node: &dyn Block) {
        let n = if self.depth == 0 {
            self.top.clone()
        } else {
            verilog_name(name)
        };
        self.depth += 1;
        if let Err(e) = self.w.add_module(&n) {
            self.err.get_or_insert(e);
        }
    }
    fn visit_start_namespace(&mut self, name: &str, node: &dyn Block) {
        self.visit_start_scope(name, node)
    }
    fn visit_atom(&mut self, name: &str, signal: &dyn Atom) {
        if matches!(signal.kind(), AtomKind::Constant) {
            return;
        }
        let (width, variants) = match signal.descriptor().kind {
            TypeKind::Bits(w) | TypeKind::Signed(w) => (w, vec![]),
            TypeKind::Enum(v) => (enum_width(v.len()), v),
            TypeKind::Composite(_) => return,
        };
        match self.w.add_wire(width as u32, &verilog_name(name)) {
            Ok(code) => {
                self.codes.insert(signal.id(), (code, width, variants));
            }
            Err(e) => {
                self.err.get_or_insert(e);
            }
        }
    }
    fn visit_end_namespace(&mut self, name: &str, node: &dyn Block) {
        self.visit_end_scope(name, node)
    }
    fn visit_end_scope(&mut self, _name: &str, _node: &dyn Block) {
        self.depth -= 1;
        if let Err(e) = self.w.upscope() {
            self.err.get_or_insert(e);
        }
    }
}

/// Bits of an enum with `n` variants, as rust-hdl's Verilog declares them.
fn enum_width(n: usize) -> usize {
    (usize::BITS - (n.max(2) - 1).leading_zeros()) as usize
}

struct Change<'a> {
    codes: &'a HashMap<usize, (vcd::IdCode, usize, Vec<String>)>,
    values: Vec<(usize, Vec<vcd::Value>)>,
}

impl Probe for Change<'_> {
    fn visit_atom(&mut self, _name: &str, signal: &dyn Atom) {
        let Some((_, width, variants)) = self.codes.get(&signal.id()) else {
            return;
        };
        let bits = match signal.vcd() {
            VCDValue::Single(v) => vec![v],
            VCDValue::Vector(v) => v,
            VCDValue::String(s) => {
                let code = variants
                    .iter()
                    .position(|x| x.ends_with(&s) || *x == s)
                    .unwrap_or(0);
                (0..*width)
                    .rev()
                    .map(|b| {
                        if code >> b & 1 == 1 {
                            vcd::Value::V1
                        } else {
                            vcd::Value::V0
                        }
                    })
                    .collect()
            }
            VCDValue::Composite(_) => return,
        };
        self.values.push((signal.id(), bits));
    }
}

impl VcdWriter {
    fn new<U: Block>(out: BufWriter<File>, uut: &U, top: &str) -> Result<VcdWriter> {
        let mut out = vcd::Writer::new(out);
        out.timescale(1, vcd::TimescaleUnit::PS)?;
        let mut h = Header {
            w: &mut out,
            codes: HashMap::new(),
            top: top.to_string(),
            depth: 0,
            err: None,
        };
        uut.accept("uut", &mut h);
        if let Some(e) = h.err {
            return Err(e).context("writing VCD header");
        }
        let codes = h.codes;
        out.enddefinitions()?;
        Ok(VcdWriter {
            out,
            codes,
            last: HashMap::new(),
        })
    }

    fn sample<U: Block>(&mut self, uut: &U, time: u64) -> Result<()> {
        let mut c = Change {
            codes: &self.codes,
            values: vec![],
        };
        uut.accept("uut", &mut c);
        let mut changes = vec![];
        for (id, bits) in c.values {
            if self.last.get(&id) != Some(&bits) {
                changes.push((id, bits));
            }
        }
        if changes.is_empty() && time > 0 {
            return Ok(());
        }
        self.out.timestamp(time)?;
        for (id, bits) in changes {
            let (code, width, _) = &self.codes[&id];
            if *width == 1 {
                self.out.change_scalar(*code, bits[0])?;
            } else {
                self.out.change_vector(*code, &bits)?;
            }
            self.last.insert(id, bits);
        }
        Ok(())
    }
}
