//! Traffic for the network on chip: packet sources on every tile, sinks that consume what the mesh
//! delivers, and a scoreboard that accounts for every packet.
//!
//! Each tile's source creates packets by a Bernoulli process whose rate gives the offered load in
//! flits per node per cycle, queues them (latency counts the time in that queue), and injects one
//! flit per cycle while it holds a credit. Each sink buffers what arrives (as many flits as the
//! router has credits for), consumes one flit per cycle with a configurable probability, and returns
//! a credit per consumed flit. The scoreboard holds, per source-destination pair, the packets sent
//! and not yet received, in sending order; a delivered packet must be the oldest of its pair and
//! match it flit for flit, so loss, duplication, corruption, misrouting and reordering are all seen.

use crate::noc_driver::{MeshOut, MeshSim, TileIn};
use anyhow::Result;
use nt_hdl::flit::{Header, KIND_BITS, TAG_BITS};
use nt_hdl::Config;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashMap, HashSet, VecDeque};

/// Share of hotspot traffic sent to the hotspot node, in percent.
pub const HOTSPOT_PERCENT: u32 = 30;
/// Error messages kept verbatim (the counts cover every error).
const KEPT_MESSAGES: usize = 8;

/// Who sends to whom.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pattern {
    /// Every other node with equal probability.
    Uniform,
    /// (x, y) sends to (y, x); nodes on the diagonal and off a square stay silent.
    Transpose,
    /// [`HOTSPOT_PERCENT`] of packets to the given node, the rest uniform.
    Hotspot(usize),
    /// One of the up to four mesh neighbours, uniformly.
    NearestNeighbour,
    /// Every node but the given one sends to it.
    AllToOne(usize),
}

/// One traffic experiment.
#[derive(Clone, Debug)]
pub struct TrafficSpec {
    pub pattern: Pattern,
    /// Offered load in flits per node per cycle (over the nodes that send).
    pub offered: f64,
    /// Payload flits per packet are drawn uniformly from `0..=max_payload`.
    pub max_payload: usize,
    /// Cycles before the measurement window.
    pub warmup: u64,
    /// Cycles of the measurement window; packet creation stops at its end.
    pub measure: u64,
    /// At the end of creation, drop queued packets that have not started (true), or send them all.
    pub withdraw_at_stop: bool,
    /// Cycles allowed, after creation stops, for everything to be delivered.
    pub drain_limit: u64,
    /// Probability that a sink consumes a waiting flit in a cycle (1.0: never stalls).
    pub sink_rate: f64,
    pub seed: u64,
    /// Keep every cycle's inputs and outputs (for co-simulation).
    pub record: bool,
}

impl Default for TrafficSpec {
    fn default() -> Self {
        TrafficSpec {
            pattern: Pattern::Uniform,
            offered: 0.1,
            max_payload: 4,
            warmup: 100,
            measure: 400,
            withdraw_at_stop: true,
            drain_limit: 2000,
            sink_rate: 1.0,
            seed: 1,
            record: false,
        }
    }
}

/// Counts of everything the scoreboard found wrong.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Errors {
    pub lost: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    pub misrouted: u64,
    pub out_of_order: u64,
    /// A flit arrived at a sink that had given no credit for it.
    pub credit_violations: u64,
    /// The mesh raised its buffer overflow flag.
    pub overflow: bool,
    pub messages: Vec<String>,
}

impl Errors {
    pub fn total(&self) -> u64 {
        self.lost
            + self.duplicated
            + self.corrupted
            + self.misrouted
            + self.out_of_order
            + self.credit_violations
            + self.overflow as u64
    }

    fn note(&mut self, msg: String) {
        if self.messages.len() < KEPT_MESSAGES {
            self.messages.push(msg);
        }
    }
}

/// What one experiment measured.
#[derive(Clone, Debug, Default)]
pub struct TrafficReport {
    pub cycles: u64,
    pub packets_sent: u64,
    pub packets_delivered: u64,
    pub flits_delivered: u64,
    /// Offered and accepted load in the measurement window, flits per sending node per cycle.
    pub offered: f64,
    pub accepted: f64,
    /// Creation-to-delivery latency of packets created in the window and delivered.
    pub latencies: Vec<u64>,
    /// Packets created in the window that were never delivered (withdrawn or still in flight).
    pub window_undelivered: u64,
    /// Cycles from the end of creation until the last packet was delivered (None: not drained).
    pub drain_cycles: Option<u64>,
    /// Longest time any packet spent between its header entering the mesh and its tail leaving it.
    pub max_network_latency: u64,
    /// Longest run of cycles a source had a flit ready but no credit to inject it.
    pub max_source_stall: u64,
    pub errors: Errors,
    /// Every cycle's inputs and outputs, with `record`.
    pub inputs: Vec<Vec<TileIn>>,
    pub outputs: Vec<MeshOut>,
}

impl TrafficReport {
    pub fn mean_latency(&self) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        self.latencies.iter().sum::<u64>() as f64 / self.latencies.len() as f64
    }

    /// The `p`-th percentile latency (nearest rank).
    pub fn percentile_latency(&self, p: f64) -> u64 {
        if self.latencies.is_empty() {
            return 0;
        }
        let mut v = self.latencies.clone();
        v.sort_unstable();
        let rank = ((p / 100.0) * v.len() as f64).ceil() as usize;
        v[rank.clamp(1, v.len()) - 1]
    }
}

#[derive(Clone, Debug)]
struct Packet {
    src: usize,
    dst: usize,
    flits: Vec<u64>,
    created: u64,
    in_window: bool,
    injected: u64,
}

/// The mesh's geometry and the destinations a pattern gives each node.
#[derive(Clone, Debug)]
pub struct Geometry {
    pub rows: usize,
    pub cols: usize,
}

impl Geometry {
    pub fn of(config: &Config) -> Geometry {
        Geometry {
            rows: config.array.rows,
            cols: config.array.cols,
        }
    }

    pub fn nodes(&self) -> usize {
        self.rows * self.cols
    }

    pub fn xy(&self, node: usize) -> (usize, usize) {
        (node % self.cols, node / self.cols)
    }

    pub fn node(&self, x: usize, y: usize) -> usize {
        y * self.cols + x
    }

    /// Whether `node` sends at all under `pattern`.
    pub fn sends(&self, pattern: Pattern, node: usize) -> bool {
        let (x, y) = self.xy(node);
        match pattern {
            Pattern::Uniform | Pattern::Hotspot(_) | Pattern::NearestNeighbour => self.nodes() > 1,
            Pattern::Transpose => x != y && y < self.cols && x < self.rows,
            Pattern::AllToOne(t) => node != t,
        }
    }

    /// A destination for a packet from `node` (which must send under `pattern`).
    pub fn destination(&self, pattern: Pattern, node: usize, rng: &mut ChaCha8Rng) -> usize {
        let n = self.nodes();
        let uniform = |rng: &mut ChaCha8Rng| {
            let d = rng.gen_range(0..n - 1);
            if d >= node {
                d + 1
            } else {
                d
            }
        };
        let (x, y) = self.xy(node);
        match pattern {
            Pattern::Uniform => uniform(rng),
            Pattern::Transpose => self.node(y, x),
            Pattern::Hotspot(h) => {
                if node != h && rng.gen_range(0..100) < HOTSPOT_PERCENT {
                    h
                } else {
                    uniform(rng)
                }
            }
            Pattern::NearestNeighbour => {
                let mut nb = vec![];
                if x > 0 {
                    nb.push(self.node(x - 1, y));
                }
                if x + 1 < self.cols {
                    nb.push(self.node(x + 1, y));
                }
                if y > 0 {
                    nb.push(self.node(x, y - 1));
                }
                if y + 1 < self.rows {
                    nb.push(self.node(x, y + 1));
                }
                nb[rng.gen_range(0..nb.len())]
            }
            Pattern::AllToOne(t) => t,
        }
    }
}

/// The scoreboard: packets sent and not yet received, per source-destination pair.
#[derive(Debug)]
pub struct Scoreboard {
    geometry: Geometry,
    flit_mask: u64,
    pending: HashMap<(usize, usize), VecDeque<Packet>>,
    delivered_headers: HashSet<(usize, u64)>,
    /// Per sink: the packet being received and the index of its next flit; `None` inside a packet
    /// already counted as wrong (its remaining flits are skipped up to the tail).
    receiving: Vec<Option<Option<(Packet, usize)>>>,
    outstanding: u64,
    pub errors: Errors,
    pub delivered: u64,
}

/// A packet fully received: when it was created and when its header entered the mesh.
pub struct Delivery {
    pub created: u64,
    pub injected: u64,
    pub in_window: bool,
}

impl Scoreboard {
    pub fn new(geometry: Geometry, flit_width: usize) -> Scoreboard {
        let n = geometry.nodes();
        Scoreboard {
            geometry,
            flit_mask: if flit_width >= 64 {
                u64::MAX
            } else {
                (1 << flit_width) - 1
            },
            pending: HashMap::new(),
            delivered_headers: HashSet::new(),
            receiving: vec![None; n],
            outstanding: 0,
            errors: Errors::default(),
            delivered: 0,
        }
    }

    /// Packets sent and not yet fully received.
    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    fn sent(&mut self, p: &Packet) {
        self.pending
            .entry((p.src, p.dst))
            .or_default()
            .push_back(p.clone());
        self.outstanding += 1;
    }

    /// Records a packet (all its flits) as sent from `src` to `dst`, for tests of the scoreboard.
    pub fn expect(&mut self, src: usize, dst: usize, flits: Vec<u64>) {
        self.sent(&Packet {
            src,
            dst,
            flits,
            created: 0,
            in_window: false,
            injected: 0,
        });
    }

    /// One flit consumed by the sink at `node`; returns the packet it completed, if any.
    pub fn receive(&mut self, node: usize, tail: bool, data: u64) -> Option<Delivery> {
        let data = data & self.flit_mask;
        match self.receiving[node].take() {
            None => self.header(node, tail, data),
            Some(None) => {
                if !tail {
                    self.receiving[node] = Some(None);
                }
                None
            }
            Some(Some((p, idx))) => {
                let last = idx + 1 == p.flits.len();
                if p.flits[idx] != data || tail != last {
                    self.errors.corrupted += 1;
                    self.errors.note(format!(
                        "sink {node}: flit {idx} of a packet from {} is {data:#x} (tail {tail}), expected {:#x} (tail {last})",
                        p.src, p.flits[idx]
                    ));
                    self.outstanding -= 1;
                    if !tail {
                        self.receiving[node] = Some(None);
                    }
                    return None;
                }
                if last {
                    return Some(self.complete(p));
                }
                self.receiving[node] = Some(Some((p, idx + 1)));
                None
            }
        }
    }

    fn complete(&mut self, p: Packet) -> Delivery {
        self.outstanding -= 1;
        self.delivered += 1;
        self.delivered_headers.insert((p.dst, p.flits[0]));
        Delivery {
            created: p.created,
            injected: p.injected,
            in_window: p.in_window,
        }
    }

    fn header(&mut self, node: usize, tail: bool, data: u64) -> Option<Delivery> {
        let h = Header::decode(data);
        let (x, y) = self.geometry.xy(node);
        let skip = |s: &mut Scoreboard| {
            if !tail {
                s.receiving[node] = Some(None);
            }
        };
        if (h.dest_x as usize, h.dest_y as usize) != (x, y) {
            self.errors.misrouted += 1;
            self.errors.note(format!(
                "sink {node} ({x},{y}) received a header for ({},{}): {data:#x}",
                h.dest_x, h.dest_y
            ));
            skip(self);
            return None;
        }
        let src = self.geometry.node(h.src_x as usize, h.src_y as usize);
        let queue = self.pending.entry((src, node)).or_default();
        let Some(pos) = queue.iter().position(|p| p.flits[0] == data) else {
            if self.delivered_headers.contains(&(node, data)) {
                self.errors.duplicated += 1;
                self.errors
                    .note(format!("sink {node}: header {data:#x} delivered again"));
            } else {
                // A header nobody sent: some packet's header was damaged (or it was misrouted
                // with a damaged destination); the pending packet will be counted as lost too.
                self.errors.corrupted += 1;
                self.errors
                    .note(format!("sink {node}: unknown header {data:#x}"));
            }
            skip(self);
            return None;
        };
        if pos != 0 {
            self.errors.out_of_order += 1;
            self.errors.note(format!(
                "sink {node}: packet {data:#x} from {src} overtook {pos} older ones"
            ));
        }
        let p = queue.remove(pos).expect("position is in range");
        let single = p.flits.len() == 1;
        if tail != single {
            self.errors.corrupted += 1;
            self.errors
                .note(format!("sink {node}: header {data:#x} with tail {tail}"));
            self.outstanding -= 1;
            skip(self);
            return None;
        }
        if single {
            return Some(self.complete(p));
        }
        self.receiving[node] = Some(Some((p, 1)));
        None
    }

    /// Counts what never arrived as lost.
    pub fn finish(&mut self) {
        let lost: u64 = self.pending.values().map(|q| q.len() as u64).sum::<u64>()
            + self
                .receiving
                .iter()
                .filter(|r| matches!(r, Some(Some(_))))
                .count() as u64;
        if lost > 0 {
            self.errors
                .note(format!("{lost} packets sent but never fully received"));
        }
        self.errors.lost += lost;
    }
}

struct Source {
    queue: VecDeque<Packet>,
    next_flit: usize,
    credits: usize,
    stall: u64,
}

struct Sink {
    buffer: VecDeque<(bool, u64)>,
}

/// Runs one traffic experiment on a mesh simulator.
pub fn run(sim: &mut dyn MeshSim, config: &Config, spec: &TrafficSpec) -> Result<TrafficReport> {
    let geo = Geometry::of(config);
    let n = geo.nodes();
    let depth = config.noc.input_buffer_depth;
    let width = config.noc.flit_width;
    let mask = if width >= 64 {
        u64::MAX
    } else {
        (1 << width) - 1
    };
    let mut rng = ChaCha8Rng::seed_from_u64(spec.seed);
    let mut board = Scoreboard::new(geo.clone(), width);
    let mut sources: Vec<Source> = (0..n)
        .map(|_| Source {
            queue: VecDeque::new(),
            next_flit: 0,
            credits: depth,
            stall: 0,
        })
        .collect();
    let mut sinks: Vec<Sink> = (0..n)
        .map(|_| Sink {
            buffer: VecDeque::new(),
        })
        .collect();
    let mut seq = vec![0u64; n];
    let senders: Vec<usize> = (0..n).filter(|&s| geo.sends(spec.pattern, s)).collect();
    let mean_flits = 1.0 + spec.max_payload as f64 / 2.0;
    let packet_rate = (spec.offered / mean_flits).min(1.0);
    let stop = spec.warmup + spec.measure;
    let window = spec.warmup..stop;
    let mut rep = TrafficReport::default();
    let mut created_window_flits = 0u64;
    let mut accepted_window_flits = 0u64;
    let mut window_created = 0u64;
    let mut cycle = 0u64;
    loop {
        if cycle < stop {
            for &s in &senders {
                if !rng.gen_bool(packet_rate) {
                    continue;
                }
                let dst = geo.destination(spec.pattern, s, &mut rng);
                let payload = rng.gen_range(0..=spec.max_payload);
                let (sx, sy) = geo.xy(s);
                let (dx, dy) = geo.xy(dst);
                let header = Header {
                    dest_x: dx as u8,
                    dest_y: dy as u8,
                    src_x: sx as u8,
                    src_y: sy as u8,
                    kind: rng.gen_range(0..1 << KIND_BITS),
                    tag: (seq[s] % (1 << TAG_BITS)) as u8,
                    length: payload as u8,
                };
                seq[s] += 1;
                let mut flits = vec![header.encode()];
                flits.extend((0..payload).map(|_| rng.gen::<u64>() & mask));
                let in_window = window.contains(&cycle);
                if in_window {
                    created_window_flits += flits.len() as u64;
                    window_created += 1;
                }
                sources[s].queue.push_back(Packet {
                    src: s,
                    dst,
                    flits,
                    created: cycle,
                    in_window,
                    injected: 0,
                });
            }
        }
        if cycle == stop && spec.withdraw_at_stop {
            for src in sources.iter_mut() {
                let keep = if src.next_flit > 0 { 1 } else { 0 };
                src.queue.truncate(keep);
            }
        }

        let mut inputs = vec![TileIn::default(); n];
        for (i, src) in sources.iter_mut().enumerate() {
            let Some(p) = src.queue.front_mut() else {
                src.stall = 0;
                continue;
            };
            if src.credits == 0 {
                src.stall += 1;
                rep.max_source_stall = rep.max_source_stall.max(src.stall);
                continue;
            }
            src.stall = 0;
            src.credits -= 1;
            let k = src.next_flit;
            let last = k + 1 == p.flits.len();
            inputs[i] = TileIn {
                valid: true,
                tail: last,
                data: p.flits[k],
                credit: false,
            };
            if k == 0 {
                p.injected = cycle;
                board.sent(p);
                rep.packets_sent += 1;
            }
            src.next_flit += 1;
            if last {
                src.queue.pop_front();
                src.next_flit = 0;
            }
        }
        for (i, sink) in sinks.iter_mut().enumerate() {
            if sink.buffer.is_empty() || !(spec.sink_rate >= 1.0 || rng.gen_bool(spec.sink_rate)) {
                continue;
            }
            let (tail, data) = sink.buffer.pop_front().expect("not empty");
            inputs[i].credit = true;
            rep.flits_delivered += 1;
            if window.contains(&cycle) {
                accepted_window_flits += 1;
            }
            if let Some(d) = board.receive(i, tail, data) {
                rep.packets_delivered += 1;
                rep.max_network_latency = rep.max_network_latency.max(cycle - d.injected);
                if d.in_window {
                    rep.latencies.push(cycle - d.created);
                }
            }
        }

        let out = sim.step(&inputs)?;
        for (i, t) in out.tiles.iter().enumerate() {
            if t.credit {
                sources[i].credits += 1;
            }
            if t.valid {
                if sinks[i].buffer.len() == depth {
                    board.errors.credit_violations += 1;
                    board.errors.note(format!(
                        "cycle {cycle}: tile {i} got a flit without a credit"
                    ));
                }
                sinks[i].buffer.push_back((t.tail, t.data));
            }
            if sources[i].credits > depth {
                board.errors.credit_violations += 1;
                board.errors.note(format!(
                    "cycle {cycle}: tile {i} holds {} credits for a {depth}-flit buffer",
                    sources[i].credits
                ));
                sources[i].credits = depth;
            }
        }
        if out.overflow && !board.errors.overflow {
            board.errors.overflow = true;
            board
                .errors
                .note(format!("cycle {cycle}: a router buffer overflowed"));
        }
        if spec.record {
            rep.inputs.push(inputs);
            rep.outputs.push(out);
        }
        cycle += 1;

        let idle = sources.iter().all(|s| s.queue.is_empty())
            && sinks.iter().all(|s| s.buffer.is_empty())
            && board.outstanding() == 0;
        if cycle > stop && idle {
            rep.drain_cycles = Some(cycle - stop);
            break;
        }
        if cycle >= stop + spec.drain_limit {
            break;
        }
    }
    board.finish();
    rep.cycles = cycle;
    rep.errors = board.errors.clone();
    let sending = senders.len().max(1) as f64 * spec.measure.max(1) as f64;
    rep.offered = created_window_flits as f64 / sending;
    rep.accepted = accepted_window_flits as f64 / sending;
    rep.window_undelivered = window_created - rep.latencies.len() as u64;
    Ok(rep)
}
