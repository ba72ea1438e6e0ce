//! The whole module, rust-hdl against its emitted Verilog (Verilator, or Icarus without it): one
//! job of two segments on configs/small.toml (2x2 tiles, 4 lanes, 64-bit flits) in which tile 0
//! runs two forward layers through its PE (fill_a, fill_b, compute), tiles 1, 2 and 3 send
//! streams to one another over the network, and tile 1 updates weights element-wise. Both
//! simulations must agree on every segment's cycles, every DRAM command and every dumped byte,
//! and the bytes must be what plain Rust arithmetic (the fixed16 golden model) gives.
//!
//! Run with `--nocapture` to see the build time and the speeds of both simulators.

use nt_hdl::config::Config;
use nt_hdl::dataflow_engine::fault;
use nt_hdl::dataflow_program::{encode, fill_op, op, shape, Descriptor, Dest, Instr, Slot};
use nt_hdl::module::tile_salt;
use nt_hdl::pe_feeder::mode::{FORWARD, UPDATE};
use nt_hdl::pe_feeder::{Feed, FeedSetting};
use nt_testbench::golden::lfsr::Lfsr;
use nt_testbench::golden::{Activation, Fixed16};
use nt_testbench::module_cosim::{
    first_difference, icarus_available, run_rust, run_verilog, run_verilog_with,
    verilator_available, ModuleJob, ModuleRunResult, Segment, Simulator,
};
use nt_testbench::module_driver::ProgramFault;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::Path;
use std::sync::Mutex;

const LANES: usize = 4;
const TILES: usize = 4;
/// Flit width of configs/small.toml.
const FLIT: usize = 64;
const MAX_CYCLES_PER_SEGMENT: u64 = 20_000;
const SEED: u32 = 0x1234_5678;

// Tile 0: two forward layers, BATCH samples.
const BATCH: usize = 3;
const L1_IN: usize = 8;
const L2_IN: usize = LANES;
const L1_WT: u64 = 0x1000; // W1 transposed: [input][lane] i16
const L1_BIAS: u64 = 0x1100; // [lane] i32, G fraction bits
const X: u64 = 0x1200; // [sample][input] i16
const Y1: u64 = 0x1300; // [sample][lane] i16, written
const L2_WT: u64 = 0x1400;
const L2_BIAS: u64 = 0x1480;
const Y2: u64 = 0x1500; // [sample][lane] i32 (sign-extended), written

// Network: 1 -> 2 (words), 3 -> 1 (a strided block of halves), then 2 -> 3 (reversed words).
const SRC_WORDS: usize = 16;
const SRC: u64 = 0x2000; // tile 1
const RX_1_FROM_3: u64 = 0x2400; // tile 1
const RX_2_FROM_1: u64 = 0x2800; // tile 2
const BLOCK: u64 = 0x3000; // tile 3: BLOCK_ROWS rows of BLOCK_COLS halves, ROW_STRIDE apart
const BLOCK_ROWS: usize = 4;
const BLOCK_COLS: usize = 5;
const ROW_STRIDE: i32 = 64;
const RX_3_FROM_2: u64 = 0x3800; // tile 3
/// Bytes past a received block that must keep their fill (write masks).
const GUARD: usize = 8;
const FILL_BYTE: u8 = 0xEE;

// Tile 1: element-wise weight update.
const PARAMS: usize = 8;
const MASTER: u64 = 0x2C00; // [param] i32
const GRAD: u64 = 0x2D00; // [param] i32
const UPDATED: u64 = 0x2E00; // per beat, per lane: new master (i32)
const ETA: u16 = 0x0800;

/// The one range dumped from every vault: everything above.
const DUMP: (u64, usize) = (0x1000, 0x2C00);

fn small_config() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/small.toml");
    let c = Config::load(&path, &[]).unwrap();
    assert_eq!(
        (c.array.rows * c.array.cols, c.pe.lanes, c.noc.flit_width),
        (TILES, LANES, FLIT)
    );
    c
}

fn stream(slot: Slot, dest: Dest, size: u32, base: u64, loops: &[(u32, i32)]) -> Instr {
    Instr::Stream(Descriptor {
        slot,
        dest,
        size,
        narrow: false,
        base: base as u32,
        loops: loops.to_vec(),
    })
}

/// A forward layer on the PE: weights (transposed, [input][lane]) into buffer A, biases into
/// buffer B, then one reduction of `n_in` terms per sample; results of `out_size` bytes.
fn forward_layer(
    p: &mut Vec<Instr>,
    act: Activation,
    n_in: usize,
    (wt, bias, x, y): (u64, u64, u64, u64),
    out_size: u32,
) {
    p.push(fill_op(Feed::FillA));
    p.push(shape(1, LANES));
    p.push(stream(
        Slot::A,
        Dest::Pe,
        2,
        wt,
        &[((n_in * LANES) as u32, 2)],
    ));
    p.push(Instr::Run);
    p.push(fill_op(Feed::FillB));
    p.push(shape(1, LANES));
    p.push(stream(Slot::A, Dest::Pe, 4, bias, &[(LANES as u32, 4)]));
    p.push(Instr::Run);
    p.push(op(FORWARD, act.code(), Feed::Compute, false, true));
    p.push(shape(n_in, LANES));
    p.push(stream(
        Slot::B,
        Dest::Pe,
        2,
        x,
        &[((BATCH * n_in) as u32, 2)],
    ));
    p.push(stream(
        Slot::W,
        Dest::Dram,
        out_size,
        y,
        &[((BATCH * LANES) as u32, out_size as i32)],
    ));
    p.push(Instr::Run);
}

/// The values the job starts from.
struct Data {
    w1: Vec<Vec<i16>>, // [lane][input]
    b1: Vec<i32>,
    x: Vec<Vec<i16>>, // [sample][input]
    w2: Vec<Vec<i16>>,
    b2: Vec<i32>,
    src: Vec<u32>,
    block: Vec<u8>,
    master: Vec<i32>,
    grad: Vec<i32>,
}

fn data() -> Data {
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    // Weights within +-0.5 and inputs within +-1 (F = 10): no saturation anywhere.
    let mut mat = |rows: usize, cols: usize, lim: i16| -> Vec<Vec<i16>> {
        (0..rows)
            .map(|_| (0..cols).map(|_| rng.gen_range(-lim..=lim)).collect())
            .collect()
    };
    let w1 = mat(LANES, L1_IN, 512);
    let x = mat(BATCH, L1_IN, 1024);
    let w2 = mat(LANES, L2_IN, 512);
    let mut rng = ChaCha8Rng::seed_from_u64(8);
    Data {
        w1,
        x,
        w2,
        b1: (0..LANES)
            .map(|_| rng.gen_range(-(1 << 22)..1 << 22))
            .collect(),
        b2: (0..LANES)
            .map(|_| rng.gen_range(-(1 << 22)..1 << 22))
            .collect(),
        src: (0..SRC_WORDS).map(|_| rng.gen()).collect(),
        block: (0..BLOCK_ROWS * ROW_STRIDE as usize)
            .map(|_| rng.gen())
            .collect(),
        master: (0..PARAMS)
            .map(|_| rng.gen_range(-(1 << 24)..1 << 24))
            .collect(),
        grad: (0..PARAMS)
            .map(|_| rng.gen_range(-(1 << 26)..1 << 26))
            .collect(),
    }
}

fn le16(v: impl IntoIterator<Item = i16>) -> Vec<u8> {
    v.into_iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn le32(v: impl IntoIterator<Item = i32>) -> Vec<u8> {
    v.into_iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn transpose(m: &[Vec<i16>]) -> Vec<i16> {
    (0..m[0].len())
        .flat_map(|i| m.iter().map(move |row| row[i]))
        .collect()
}

fn job(d: &Data) -> ModuleJob {
    let guard = |addr: u64, len: usize| (addr, vec![FILL_BYTE; len + GUARD]);
    let dram_init = vec![
        vec![
            (L1_WT, le16(transpose(&d.w1))),
            (L1_BIAS, le32(d.b1.iter().copied())),
            (X, le16(d.x.iter().flatten().copied())),
            guard(Y1, BATCH * LANES * 2),
            (L2_WT, le16(transpose(&d.w2))),
            (L2_BIAS, le32(d.b2.iter().copied())),
        ],
        vec![
            (SRC, d.src.iter().flat_map(|w| w.to_le_bytes()).collect()),
            guard(RX_1_FROM_3, BLOCK_ROWS * BLOCK_COLS * 2),
            (MASTER, le32(d.master.iter().copied())),
            (GRAD, le32(d.grad.iter().copied())),
        ],
        vec![guard(RX_2_FROM_1, SRC_WORDS * 4)],
        vec![(BLOCK, d.block.clone()), guard(RX_3_FROM_2, SRC_WORDS * 4)],
    ];

    // Segment 1: layer 1 on tile 0; 1 -> 2 and 3 -> 1 over the network at the same time.
    let mut t0 = vec![];
    forward_layer(
        &mut t0,
        Activation::Identity,
        L1_IN,
        (L1_WT, L1_BIAS, X, Y1),
        2,
    );
    t0.push(Instr::End);
    let t1 = vec![
        stream(Slot::A, Dest::Tile(2), 4, SRC, &[(SRC_WORDS as u32, 4)]),
        stream(
            Slot::W,
            Dest::Dram,
            2,
            RX_1_FROM_3,
            &[((BLOCK_ROWS * BLOCK_COLS) as u32, 2)],
        ),
        Instr::Run,
        Instr::End,
    ];
    let t2 = vec![
        stream(
            Slot::W,
            Dest::Dram,
            4,
            RX_2_FROM_1,
            &[(SRC_WORDS as u32, 4)],
        ),
        Instr::Run,
        Instr::End,
    ];
    let t3 = vec![
        stream(
            Slot::A,
            Dest::Tile(1),
            2,
            BLOCK,
            &[(BLOCK_COLS as u32, 2), (BLOCK_ROWS as u32, ROW_STRIDE)],
        ),
        Instr::Run,
        Instr::End,
    ];
    let seg1 = Segment {
        programs: [t0, t1, t2, t3].iter().map(|p| encode(p)).collect(),
    };

    // Segment 2: layer 2 (ReLU, 32-bit results) on tile 0 from layer 1's outputs; 2 -> 3 the
    // received words in reverse order; tile 1 updates weights element-wise.
    let mut t0 = vec![];
    forward_layer(
        &mut t0,
        Activation::Relu,
        L2_IN,
        (L2_WT, L2_BIAS, Y1, Y2),
        4,
    );
    t0.push(Instr::End);
    let t1 = vec![
        op(
            UPDATE,
            Activation::Identity.code(),
            Feed::Elementwise,
            false,
            false,
        ),
        shape(1, LANES),
        Instr::Pe(FeedSetting::Eta(ETA)),
        stream(Slot::A, Dest::Pe, 4, MASTER, &[(PARAMS as u32, 4)]),
        stream(Slot::B, Dest::Pe, 4, GRAD, &[(PARAMS as u32, 4)]),
        stream(Slot::W, Dest::Dram, 4, UPDATED, &[(PARAMS as u32, 4)]),
        Instr::Run,
        Instr::End,
    ];
    let last_word = RX_2_FROM_1 + 4 * (SRC_WORDS as u64 - 1);
    let t2 = vec![
        stream(
            Slot::A,
            Dest::Tile(3),
            4,
            last_word,
            &[(SRC_WORDS as u32, -4)],
        ),
        Instr::Run,
        Instr::End,
    ];
    let t3 = vec![
        stream(
            Slot::W,
            Dest::Dram,
            4,
            RX_3_FROM_2,
            &[(SRC_WORDS as u32, 4)],
        ),
        Instr::Run,
        Instr::End,
    ];
    let seg2 = Segment {
        programs: [t0, t1, t2, t3].iter().map(|p| encode(p)).collect(),
    };

    ModuleJob {
        seed: SEED,
        dram_init,
        segments: vec![seg1, seg2],
        max_cycles_per_segment: MAX_CYCLES_PER_SEGMENT,
        dump: vec![DUMP],
        record_commands: true,
    }
}

/// `len` bytes at vault address `addr` of a run's dump.
fn bytes(r: &ModuleRunResult, vault: usize, addr: u64, len: usize) -> &[u8] {
    let o = (addr - DUMP.0) as usize;
    &r.dumps[vault][0][o..o + len]
}

fn i16s(b: &[u8]) -> Vec<i16> {
    b.chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

fn i32s(b: &[u8]) -> Vec<i32> {
    b.chunks(4)
        .map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// One forward layer in plain Rust: act(requant(bias + sum w * x)) per sample and lane.
fn golden_layer(
    q: &Fixed16,
    act: Activation,
    w: &[Vec<i16>],
    b: &[i32],
    x: &[Vec<i16>],
) -> Vec<Vec<i16>> {
    x.iter()
        .map(|xs| {
            (0..LANES)
                .map(|l| {
                    let acc = q.bias_to_acc(b[l])
                        + xs.iter()
                            .zip(&w[l])
                            .map(|(&x, &w)| Fixed16::mul(w, x))
                            .sum::<i64>();
                    q.activate(act, q.requant(acc).0)
                })
                .collect()
        })
        .collect()
}

/// The dumped bytes are what plain Rust arithmetic gives.
fn check_against_golden(config: &Config, d: &Data, r: &ModuleRunResult) {
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let guard = [FILL_BYTE; GUARD];

    // Forward layers on tile 0.
    let y1 = golden_layer(&q, Activation::Identity, &d.w1, &d.b1, &d.x);
    let n = BATCH * LANES;
    assert_eq!(
        i16s(bytes(r, 0, Y1, 2 * n)),
        y1.concat(),
        "layer 1 (identity)"
    );
    assert_eq!(bytes(r, 0, Y1 + 2 * n as u64, GUARD), guard, "past layer 1");
    let y2 = golden_layer(&q, Activation::Relu, &d.w2, &d.b2, &y1);
    let y2_32: Vec<i32> = y2.concat().into_iter().map(i32::from).collect();
    assert_eq!(i32s(bytes(r, 0, Y2, 4 * n)), y2_32, "layer 2 (ReLU)");
    assert!(
        y1.concat().iter().any(|&v| v < 0),
        "layer 1 should exercise negatives"
    );

    // Network copies.
    let src: Vec<u8> = d.src.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(bytes(r, 2, RX_2_FROM_1, src.len()), &src[..], "1 -> 2");
    assert_eq!(bytes(r, 2, RX_2_FROM_1 + src.len() as u64, GUARD), guard);
    let block: Vec<u8> = (0..BLOCK_ROWS)
        .flat_map(|row| {
            let o = row * ROW_STRIDE as usize;
            d.block[o..o + 2 * BLOCK_COLS].to_vec()
        })
        .collect();
    assert_eq!(bytes(r, 1, RX_1_FROM_3, block.len()), &block[..], "3 -> 1");
    assert_eq!(bytes(r, 1, RX_1_FROM_3 + block.len() as u64, GUARD), guard);
    let reversed: Vec<u8> = d.src.iter().rev().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(
        bytes(r, 3, RX_3_FROM_2, reversed.len()),
        &reversed[..],
        "2 -> 3 reversed"
    );

    // Element-wise update on tile 1: lane l's LFSR, seeded with the tile's seed, draws one value
    // per beat; each lane writes its new master weight.
    let mut lfsrs: Vec<Lfsr> = (0..LANES)
        .map(|l| Lfsr::seeded(SEED ^ tile_salt(1), l))
        .collect();
    let mut expected = vec![];
    for beat in 0..PARAMS / LANES {
        for (l, lfsr) in lfsrs.iter_mut().enumerate() {
            let p = beat * LANES + l;
            let (w, _) = Fixed16::sr_update(d.master[p], d.grad[p], ETA, lfsr.next_r());
            expected.push(w);
        }
    }
    assert_eq!(i32s(bytes(r, 1, UPDATED, 4 * PARAMS)), expected, "update");
}

/// Every test's Verilog runs share one directory, and so one Verilator build; a run owns the
/// directory while it lasts.
static WORK_DIR: Mutex<()> = Mutex::new(());

fn run_in_work_dir(config: &Config, job: &ModuleJob) -> anyhow::Result<ModuleRunResult> {
    let _owner = WORK_DIR.lock().unwrap_or_else(|e| e.into_inner());
    run_verilog(
        config,
        job,
        &Path::new(env!("CARGO_TARGET_TMPDIR")).join("module_cosim"),
    )
}

#[test]
fn verilog_module_matches_rust_hdl_and_golden() {
    let config = small_config();
    let d = data();
    let job = job(&d);

    let rust = run_rust::<FLIT>(&config, &job).unwrap();
    println!(
        "rust-hdl ModuleSim: segments {:?}, {} cycles in {:.1} s = {:.0} cycles/s",
        rust.segment_cycles,
        rust.total_cycles,
        rust.sim_seconds,
        rust.cycles_per_second()
    );
    check_against_golden(&config, &d, &rust);

    if !verilator_available() && !icarus_available() {
        println!("SKIPPED the Verilog side: neither verilator nor iverilog is on PATH");
        return;
    }
    let verilog = run_in_work_dir(&config, &job).unwrap();
    println!(
        "{:?}: build {:.1} s{}, segments {:?}, {} cycles in {:.2} s = {:.0} cycles/s ({:.0}x rust-hdl)",
        verilog.simulator,
        verilog.build_seconds,
        if verilog.build_seconds == 0.0 { " (reused)" } else { "" },
        verilog.segment_cycles,
        verilog.total_cycles,
        verilog.sim_seconds,
        verilog.cycles_per_second(),
        verilog.cycles_per_second() / rust.cycles_per_second()
    );
    if let Some(diff) = first_difference(&rust, &verilog) {
        panic!("rust-hdl and Verilog disagree: {diff}");
    }
    check_against_golden(&config, &d, &verilog);
    // The comparison notices one changed bit.
    let mut altered = verilog.clone();
    altered.dumps[TILES - 1][0][0] ^= 1;
    assert!(first_difference(&rust, &altered).is_some());
}

/// A program with an unknown opcode (opcode 7) on tile 2, after a segment that runs.
#[test]
fn faults_name_the_same_tile_code_and_cycle() {
    const BAD_OPCODE_WORD: u32 = 0x7000_0000;
    const FAULTY_TILE: usize = 2;
    let config = small_config();
    let mut job = job(&data());
    job.segments.truncate(1);
    job.segments.push(Segment {
        programs: (0..TILES)
            .map(|t| {
                if t == FAULTY_TILE {
                    vec![BAD_OPCODE_WORD]
                } else {
                    encode(&[Instr::End])
                }
            })
            .collect(),
    });
    let fault = |r: anyhow::Result<ModuleRunResult>| {
        let e = r.expect_err("the run should fail");
        let f = e
            .downcast_ref::<ProgramFault>()
            .unwrap_or_else(|| panic!("not a program fault: {e:#}"));
        (f.tile, f.code, f.cycle)
    };
    let rust = fault(run_rust::<FLIT>(&config, &job));
    assert_eq!((rust.0, rust.1), (FAULTY_TILE, fault::UNKNOWN_OPCODE));
    if !verilator_available() && !icarus_available() {
        println!("SKIPPED the Verilog side: neither verilator nor iverilog is on PATH");
        return;
    }
    assert_eq!(fault(run_in_work_dir(&config, &job)), rust);
}

#[test]
fn icarus_agrees_with_rust_hdl() {
    if !icarus_available() {
        println!("SKIPPED: iverilog is not on PATH");
        return;
    }
    let config = small_config();
    let d = data();
    let job = job(&d);
    let rust = run_rust::<FLIT>(&config, &job).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("module_cosim_icarus");
    let icarus = run_verilog_with(&config, &job, &dir, Simulator::Icarus).unwrap();
    println!(
        "Icarus: build {:.1} s, {} cycles in {:.2} s = {:.0} cycles/s",
        icarus.build_seconds,
        icarus.total_cycles,
        icarus.sim_seconds,
        icarus.cycles_per_second()
    );
    if let Some(diff) = first_difference(&rust, &icarus) {
        panic!("rust-hdl and Icarus disagree: {diff}");
    }
}

/// Repetitions of the job's segments for the speed comparison: rust-hdl runs a few (it manages
/// about 150 cycles/s), Verilator many, so that its start-up (loading the DRAM images, writing
/// them back) is amortised.
const RUST_REPEATS: usize = 5;
const VERILATOR_REPEATS: usize = 100;

/// Simulation speed of rust-hdl and Verilator on the same work. `cargo test -p nt-testbench
/// --test module_cosim -- --ignored --nocapture`.
#[test]
#[ignore = "a benchmark: a minute of rust-hdl simulation"]
fn speed_of_rust_hdl_and_verilator() {
    if !verilator_available() {
        println!("SKIPPED: verilator is not on PATH");
        return;
    }
    let config = small_config();
    let base = job(&data());
    let repeated = |n: usize| ModuleJob {
        segments: (0..n).flat_map(|_| base.segments.clone()).collect(),
        record_commands: false,
        ..base.clone()
    };
    let short = repeated(RUST_REPEATS);
    let rust = run_rust::<FLIT>(&config, &short).unwrap();
    let verilog = run_in_work_dir(&config, &short).unwrap();
    if let Some(diff) = first_difference(&rust, &verilog) {
        panic!("rust-hdl and Verilog disagree: {diff}");
    }
    let long = run_in_work_dir(&config, &repeated(VERILATOR_REPEATS)).unwrap();
    for (what, r) in [
        ("rust-hdl", &rust),
        ("Verilator", &verilog),
        ("Verilator", &long),
    ] {
        println!(
            "{what:9} {:7} cycles in {:6.2} s = {:8.0} cycles/s (build {:.1} s)",
            r.total_cycles,
            r.sim_seconds,
            r.cycles_per_second(),
            r.build_seconds
        );
    }
    println!(
        "Verilator / rust-hdl: {:.0}x",
        long.cycles_per_second() / rust.cycles_per_second()
    );
}
