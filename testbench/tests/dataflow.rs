//! The data-flow engine: descriptor programs for sequential, strided, transposed, negative-stride
//! and convolution-window access against address sequences computed in plain Rust
//! (`Descriptor::addresses`, itself checked against hand-written sequences here); the data
//! each stream delivers or writes; faulty programs; the emitted Verilog cycle for cycle.

use nt_hdl::dataflow_engine::{fault, DataflowEngine, WRITE_QUEUE_BURSTS};
use nt_hdl::dataflow_program::{encode, Descriptor, Dest, Instr, Slot};
use nt_hdl::Config;
use nt_testbench::dataflow_driver::{self, initial_byte, DataflowRun, MemoryBehaviour, ENGINE_TOP};
use nt_testbench::golden::fixed16::Fixed16;
use std::path::PathBuf;

const MAX_CYCLES: u64 = 40_000;

/// The element addresses of a descriptor, loop 0 fastest, by index arithmetic.
fn reference(d: &Descriptor) -> Vec<u64> {
    d.addresses().collect()
}

fn value_at(run: &DataflowRun, addr: u64, size: u32) -> u32 {
    (0..size as u64).fold(0, |v, i| {
        let b = run
            .written
            .get(&(addr + i))
            .copied()
            .unwrap_or_else(|| initial_byte(addr + i));
        v | (b as u32) << (8 * i)
    })
}

fn desc(slot: Slot, dest: Dest, size: u32, base: u32, loops: &[(u32, i32)]) -> Descriptor {
    Descriptor {
        slot,
        dest,
        size,
        narrow: false,
        base,
        loops: loops.to_vec(),
    }
}

/// A read of 4-byte master weights handed out as their MAC weights.
fn narrowed(slot: Slot, base: u32, loops: &[(u32, i32)]) -> Descriptor {
    Descriptor {
        narrow: true,
        ..desc(slot, Dest::Pe, 4, base, loops)
    }
}

fn run(program: &[Instr], w: &[u32], seed: u64) -> DataflowRun {
    let c = Config::default();
    let mem = MemoryBehaviour {
        seed,
        ..Default::default()
    };
    dataflow_driver::run_rust(&c, &encode(program), w, &mem, MAX_CYCLES, false).unwrap()
}

fn accesses(r: &DataflowRun, slot: u8) -> Vec<u64> {
    r.accesses
        .iter()
        .filter(|a| a.0 == slot)
        .map(|a| a.1)
        .collect()
}

/// Bytes of a burst at the default configuration (8 bytes per cycle, BL 4).
const BURST: u64 = 32;

/// Consecutive runs of one burst collapsed: the bursts a stream walks through, in order.
fn burst_walk(addrs: &[u64]) -> Vec<u64> {
    let mut v: Vec<u64> = addrs.iter().map(|a| a / BURST).collect();
    v.dedup();
    v
}

/// The write requests of a write stream whose bursts all wait in the write queue at once: one
/// per burst, in the order the stream first reaches them (the engine adds an element to its
/// burst's entry wherever that entry waits in the queue).
fn write_bursts(addrs: &[u64]) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    burst_walk(addrs)
        .into_iter()
        .filter(|b| seen.insert(*b))
        .map(|b| b * BURST)
        .collect()
}

/// A read stream requested the bursts its elements lie in, in order, and no more requests than
/// elements (elements of one burst share a request; a burst may be fetched again).
fn assert_read_bursts(r: &DataflowRun, slot: u8, want: &[u64]) {
    let got = accesses(r, slot);
    assert_eq!(burst_walk(&got), burst_walk(want), "slot {slot} bursts");
    assert!(
        got.len() <= want.len(),
        "slot {slot}: more requests than elements"
    );
}

/// Runs read descriptors (slot A, and B if given) and checks bursts and delivered data.
fn check_reads(a: Descriptor, b: Option<Descriptor>, seed: u64) -> DataflowRun {
    let mut p = vec![Instr::Stream(a.clone())];
    if let Some(b) = &b {
        p.push(Instr::Stream(b.clone()));
    }
    p.extend([Instr::Run, Instr::End]);
    let r = run(&p, &[], seed);
    assert!(
        r.done && r.error_code == 0,
        "program did not finish cleanly: {r:?}"
    );
    for (slot, d, got) in [(0u8, Some(&a), &r.a), (1, b.as_ref(), &r.b)] {
        let Some(d) = d else { continue };
        let want = reference(d);
        assert_read_bursts(&r, slot, &want);
        let vals: Vec<u32> = want.iter().map(|&x| value_at(&r, x, d.size)).collect();
        let data: Vec<u32> = got.iter().map(|e| e.0).collect();
        assert_eq!(data, vals, "slot {slot} data");
    }
    r
}

#[test]
fn sequential_stream() {
    check_reads(desc(Slot::A, Dest::Pe, 2, 0x1000, &[(64, 2)]), None, 1);
}

#[test]
fn strided_streams_on_both_read_slots_at_once() {
    let r = check_reads(
        desc(Slot::A, Dest::Pe, 4, 0x2000, &[(20, 4), (3, 400)]),
        Some(desc(Slot::B, Dest::Tile(5), 1, 0x3001, &[(40, 96)])),
        2,
    );
    assert!(r.b.iter().all(|e| e.1 == 1 && e.2 == 5), "B goes to tile 5");
    assert!(r.a.iter().all(|e| e.1 == 0), "A goes to the local PE");
}

#[test]
fn transposed_matrix_reads_columns_of_a_row_major_matrix() {
    let (rows, cols) = (7u32, 9u32);
    // Element (i, j) of a row-major matrix of 16-bit values is at base + 2 * (i * cols + j);
    // column order walks i fastest.
    let d = desc(
        Slot::A,
        Dest::Pe,
        2,
        0x8000,
        &[(rows, 2 * cols as i32), (cols, 2)],
    );
    check_reads(d.clone(), None, 3);
    let want: Vec<u64> = (0..cols)
        .flat_map(|j| (0..rows).map(move |i| 0x8000 + 2 * (i * cols + j) as u64))
        .collect();
    assert_eq!(reference(&d), want);
}

#[test]
fn negative_strides_walk_backwards() {
    check_reads(
        desc(Slot::A, Dest::Pe, 4, 0x5000, &[(32, -4)]),
        Some(desc(Slot::B, Dest::Pe, 2, 0x6000, &[(5, 2), (4, -64)])),
        4,
    );
}

#[test]
fn convolution_windows_over_six_loops() {
    // 3x3 windows, stride 2, over a 9x9 16-bit image of 2 channels, for 2 samples.
    let (h, w, c) = (9i32, 9i32, 2i32);
    let d = desc(
        Slot::A,
        Dest::Pe,
        2,
        0x1_0000,
        &[
            (3, 2),
            (3, 2 * w),
            (4, 4),
            (4, 4 * w),
            (c as u32, 2 * h * w),
            (2, 2 * h * w * c),
        ],
    );
    check_reads(d, None, 5);
}

/// Runs read stream `a` and write stream `wd` together, `w` the elements offered for writing:
/// the run ends without a fault, and `a` requested the bursts its elements lie in.
fn read_and_write(a: &Descriptor, wd: &Descriptor, w: &[u32], seed: u64) -> DataflowRun {
    let r = run(
        &[
            Instr::Stream(a.clone()),
            Instr::Stream(wd.clone()),
            Instr::Run,
            Instr::End,
        ],
        w,
        seed,
    );
    assert!(r.done && r.error_code == 0, "{r:?}");
    assert_read_bursts(&r, 0, &reference(a));
    r
}

#[test]
fn read_and_write_back_streams_run_together() {
    // Both bytes of every element vary, so a write that drops its upper byte fails.
    let src: Vec<u32> = (0..24).map(|i| 0xA5A5_0000 + i * 0x0103).collect();
    let a = desc(Slot::A, Dest::Pe, 2, 0x4000, &[(30, 2)]);
    let wd = desc(Slot::W, Dest::Dram, 2, 0x9000, &[(6, 6), (4, 100)]);
    let r = read_and_write(&a, &wd, &src, 6);
    // Sequential 2-byte elements share bursts: 60 bytes need 2 or 3 requests, not 30.
    assert!(accesses(&r, 0).len() <= 3, "{:?}", accesses(&r, 0));
    assert_eq!(accesses(&r, 2), write_bursts(&reference(&wd)));
    // Each element's two bytes, and nothing else, were written.
    let mut want = std::collections::HashMap::new();
    for (i, &addr) in reference(&wd).iter().enumerate() {
        want.insert(addr, src[i] as u8);
        want.insert(addr + 1, (src[i] >> 8) as u8);
    }
    assert_eq!(r.written, want);
    assert_eq!(r.elements, 30 + 24);
}

#[test]
fn writes_reach_the_vault_in_groups_while_reads_run() {
    // A read and a write stream of 32 bursts each at once, as the weight update runs them: the
    // write queue holds its bursts until it is full, so the vault sees them back to back
    // instead of one between every two reads (a bus turnaround each way every time).
    let src: Vec<u32> = (0..256).map(|i| 0x5A00_0000 + i * 0x0101).collect();
    let a = desc(Slot::A, Dest::Pe, 4, 0x4000, &[(256, 4)]);
    let wd = desc(Slot::W, Dest::Dram, 4, 0x9000, &[(256, 4)]);
    let r = read_and_write(&a, &wd, &src, 8);
    assert_eq!(accesses(&r, 2), write_bursts(&reference(&wd)));
    let mut groups = vec![];
    let mut n = 0;
    for &(_, _, write) in &r.accesses {
        if write {
            n += 1;
        } else if n > 0 {
            groups.push(n);
            n = 0;
        }
    }
    groups.push(n);
    let (_, whole) = groups.split_last().unwrap();
    assert!(
        !whole.is_empty() && whole.iter().all(|&n| n >= WRITE_QUEUE_BURSTS),
        "write requests between reads: {groups:?}"
    );
    for (i, &addr) in reference(&wd).iter().enumerate() {
        assert_eq!(value_at(&r, addr, 4), src[i], "element {i}");
    }
}

#[test]
fn two_runs_in_one_program() {
    let a1 = desc(Slot::A, Dest::Pe, 4, 0x100, &[(8, 4)]);
    let a2 = desc(Slot::A, Dest::Pe, 4, 0x900, &[(8, -8)]);
    let r = run(
        &[
            Instr::Stream(a1.clone()),
            Instr::Run,
            Instr::Stream(a2.clone()),
            Instr::Run,
            Instr::End,
        ],
        &[],
        7,
    );
    assert!(r.done && r.error_code == 0);
    let mut want = reference(&a1);
    want.extend(reference(&a2));
    assert_read_bursts(&r, 0, &want);
    let data: Vec<u32> = r.a.iter().map(|e| e.0).collect();
    let vals: Vec<u32> = want.iter().map(|&x| value_at(&r, x, 4)).collect();
    assert_eq!(data, vals);
}

fn fault_of(program: Vec<u32>, w: &[u32]) -> DataflowRun {
    let c = Config::default();
    let r = dataflow_driver::run_rust(
        &c,
        &program,
        w,
        &MemoryBehaviour::default(),
        MAX_CYCLES,
        false,
    )
    .unwrap();
    assert!(!r.done, "a faulty program must not finish");
    assert_eq!(r.error_count, 1);
    r
}

#[test]
fn faulty_programs_raise_the_error_and_touch_nothing_outside() {
    let vault = Config::default().dram.vault_bytes();
    // Unknown opcode.
    assert_eq!(
        fault_of(vec![0x7000_0000], &[]).error_code,
        fault::UNKNOWN_OPCODE
    );
    // A zero count.
    let mut p = encode(&[
        Instr::Stream(desc(Slot::A, Dest::Pe, 2, 0, &[(4, 2), (1, 0)])),
        Instr::Run,
        Instr::End,
    ]);
    p[4] = 0;
    assert_eq!(fault_of(p, &[]).error_code, fault::BAD_COUNT);
    // Seven loops.
    let mut p = encode(&[
        Instr::Stream(desc(Slot::A, Dest::Pe, 2, 0, &[(1, 0)])),
        Instr::Run,
        Instr::End,
    ]);
    p[0] |= 7 << 18;
    assert_eq!(fault_of(p, &[]).error_code, fault::BAD_LOOPS);
    // A write stream sent to the PE.
    let p = encode(&[
        Instr::Stream(desc(Slot::W, Dest::Pe, 2, 0, &[(1, 0)])),
        Instr::Run,
        Instr::End,
    ]);
    assert_eq!(fault_of(p, &[]).error_code, fault::BAD_SLOT);
    // A narrowed stream of 2-byte elements, and a narrowed write stream.
    for (slot, dest, size) in [(Slot::A, Dest::Pe, 2), (Slot::W, Dest::Dram, 4)] {
        let p = encode(&[
            Instr::Stream(Descriptor {
                narrow: true,
                ..desc(slot, dest, size, 0, &[(4, size as i32)])
            }),
            Instr::Run,
            Instr::End,
        ]);
        let r = fault_of(p, &[]);
        assert_eq!(
            r.error_code,
            fault::BAD_SIZE,
            "narrowed {slot:?} of size {size}"
        );
        assert!(r.accesses.is_empty());
    }
    // Misaligned 4-byte elements.
    let p = encode(&[
        Instr::Stream(desc(Slot::A, Dest::Pe, 4, 2, &[(4, 4)])),
        Instr::Run,
        Instr::End,
    ]);
    let r = fault_of(p, &[]);
    assert_eq!(r.error_code, fault::MISALIGNED);
    assert!(r.accesses.is_empty());
    // Runs off the end of the vault: the in-range elements happen, the rest never do.
    let base = vault as u32 - 16;
    let p = encode(&[
        Instr::Stream(desc(Slot::W, Dest::Dram, 4, base, &[(8, 4)])),
        Instr::Run,
        Instr::End,
    ]);
    let r = fault_of(p, &[7; 8]);
    assert_eq!(r.error_code, fault::OUT_OF_VAULT);
    assert_eq!(
        accesses(&r, 2),
        write_bursts(&reference(&desc(Slot::W, Dest::Dram, 4, base, &[(4, 4)])))
    );
    assert!(
        r.written.keys().all(|&a| a >= base as u64 && a < vault),
        "wrote outside its range"
    );
    assert_eq!(r.written.len(), 16);
    // A negative stride below address zero wraps to a huge address: rejected.
    let p = encode(&[
        Instr::Stream(desc(Slot::A, Dest::Pe, 2, 4, &[(5, -2)])),
        Instr::Run,
        Instr::End,
    ]);
    let r = fault_of(p, &[]);
    assert_eq!(r.error_code, fault::OUT_OF_VAULT);
    // The three elements inside the vault share one burst, requested before the fault.
    assert_eq!(burst_walk(&accesses(&r, 0)), vec![0]);
    // No END before the end of program memory.
    let p = vec![(2u32) << 28; 256];
    assert_eq!(fault_of(p, &[]).error_code, fault::PROGRAM_END);
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn emitted_verilog_matches_rust_hdl_cycle_for_cycle() {
    let c = Config::default();
    let src: Vec<u32> = (0..12).map(|i| 0x1234_5678 ^ (i * 0x0101_0101)).collect();
    let program = encode(&[
        Instr::Stream(desc(Slot::A, Dest::Pe, 2, 0x4000, &[(5, 2), (3, -64)])),
        Instr::Stream(desc(Slot::B, Dest::Tile(3), 1, 0x4101, &[(10, 33)])),
        Instr::Stream(desc(Slot::W, Dest::Dram, 4, 0x7000, &[(4, 4), (3, 128)])),
        Instr::Run,
        Instr::Stream(desc(Slot::A, Dest::Pe, 4, 0x7000, &[(12, 4)])),
        Instr::Stream(narrowed(Slot::B, 0x7000, &[(12, 4)])),
        Instr::Run,
        // Faults after the work: the error path is co-simulated too.
        Instr::Stream(desc(Slot::A, Dest::Pe, 4, 0x7FFF_FFF0, &[(2, 4)])),
        Instr::Run,
        Instr::End,
    ]);
    let mem = MemoryBehaviour {
        seed: 9,
        ..Default::default()
    };
    let r = dataflow_driver::run_rust(&c, &program, &src, &mem, MAX_CYCLES, true).unwrap();
    assert_eq!(r.error_code, fault::OUT_OF_VAULT);
    let verilog = nt_hdl::verilog::emit(&mut DataflowEngine::new(&c), ENGINE_TOP, "co-simulation");
    let icarus =
        dataflow_driver::run_verilog(&c, &verilog, &r.inputs, &scratch("dataflow_cosim")).unwrap();
    assert_eq!(icarus.len(), r.outputs.len());
    for (cycle, (a, b)) in r.outputs.iter().zip(&icarus).enumerate() {
        assert_eq!(a, b, "cycle {cycle}: rust-hdl and Verilog differ");
    }
}

#[test]
fn narrowed_streams_hand_out_the_mac_weights_of_master_weights() {
    // Masters around the rounding and saturation points of the default formats (G - F = 14
    // bits dropped), written by one run and read back by the next, narrowed on slot A in
    // memory order and on slot B backwards, as a backward product's transposed read walks.
    let c = Config::default();
    let q = Fixed16::new(c.format.frac_bits, c.format.grad_frac_bits);
    let half = 1i32 << (c.format.grad_frac_bits - c.format.frac_bits - 1);
    let mut masters = vec![
        0,
        1,
        -1,
        half - 1,
        half,
        -half,
        -half - 1,
        3 * half,
        -3 * half,
    ];
    masters.extend([
        32767 * 2 * half,
        32767 * 2 * half + half,
        i32::MAX,
        i32::MIN,
    ]);
    masters.extend([
        -32768 * 2 * half,
        -32768 * 2 * half - half - 1,
        0x0123_4567,
        -0x0765_4321,
    ]);
    let n = masters.len() as u32;
    let at = 0x5000;
    let program = [
        Instr::Stream(desc(Slot::W, Dest::Dram, 4, at, &[(n, 4)])),
        Instr::Run,
        Instr::Stream(narrowed(Slot::A, at, &[(n, 4)])),
        Instr::Stream(narrowed(Slot::B, at + 4 * (n - 1), &[(n, -4)])),
        Instr::Run,
        Instr::End,
    ];
    let src: Vec<u32> = masters.iter().map(|&m| m as u32).collect();
    let r = run(&program, &src, 3);
    assert!(r.done && r.error_code == 0, "{r:?}");
    let want: Vec<u32> = masters
        .iter()
        .map(|&m| q.mac_weight(m).0 as u16 as u32)
        .collect();
    assert!(want.contains(&0x7FFF) && want.contains(&0x8000) && want.contains(&1));
    let a: Vec<u32> = r.a.iter().map(|e| e.0).collect();
    let b: Vec<u32> = r.b.iter().rev().map(|e| e.0).collect();
    assert_eq!(a, want, "slot A");
    assert_eq!(b, want, "slot B");
    // A master's bursts are fetched as any 4-byte stream's.
    assert_read_bursts(&r, 0, &reference(&narrowed(Slot::A, at, &[(n, 4)])));
}

#[test]
fn engine_streams_through_the_vault_controller_and_the_dram_model() {
    // The whole memory path of a tile: the engine's requests go through the vault controller,
    // whose commands pass the DRAM timing checker; reads return what was loaded, write-backs land.
    let c = Config::default();
    let init: Vec<(u64, Vec<u8>)> = vec![
        (0x2000, (0..=255u8).collect()),
        (0x8000, (0..=255u8).rev().collect()),
    ];
    let a = desc(Slot::A, Dest::Pe, 2, 0x2000, &[(4, 2), (5, 32)]);
    let b = desc(Slot::B, Dest::Pe, 1, 0x80FF, &[(20, -3)]);
    let wd = desc(Slot::W, Dest::Dram, 4, 0xC000, &[(3, 4), (4, 256)]);
    let src: Vec<u32> = (0..12).map(|i| 0xC0DE_0000 + i).collect();
    let program = encode(&[
        Instr::Stream(a.clone()),
        Instr::Stream(b.clone()),
        Instr::Stream(wd.clone()),
        Instr::Run,
        Instr::End,
    ]);
    let (r, dram) = dataflow_driver::run_on_vault(&c, &program, &src, &init, MAX_CYCLES).unwrap();
    assert!(r.done && r.error_code == 0, "{r:?}");
    let byte = |addr: u64| dram.peek(addr, 1)[0] as u32;
    let want_a: Vec<u32> = reference(&a)
        .iter()
        .map(|&x| byte(x) | byte(x + 1) << 8)
        .collect();
    let want_b: Vec<u32> = reference(&b).iter().map(|&x| byte(x)).collect();
    assert_eq!(r.a, want_a);
    assert_eq!(r.b, want_b);
    for (i, &addr) in reference(&wd).iter().enumerate() {
        assert_eq!(
            dram.peek(addr, 4),
            src[i].to_le_bytes(),
            "write-back element {i}"
        );
    }
    // Bytes beside a written element are untouched.
    assert_eq!(dram.peek(0xC00C, 4), [0; 4]);
    assert!(r.dram.rd as usize <= want_a.len() + want_b.len());
    // The three elements of each row share one write.
    assert_eq!(r.dram.wr as usize, write_bursts(&reference(&wd)).len());
}

#[test]
fn two_streams_in_one_bank_on_different_rows_take_turns_instead_of_alternating() {
    // Streams A and B walk two regions one bank-row stride apart, so each of their bursts needs
    // the bank the other is reading on another row. Served interleaved in order, every burst
    // would cost a precharge and an activate; B yielding to A keeps the switches per bank few.
    let c = Config::default();
    let stride = (c.dram.row_bytes * c.dram.banks) as u32;
    let rows = 8usize;
    let elements = (rows * c.dram.row_bytes / 4) as u32;
    let init: Vec<(u64, Vec<u8>)> = (0..2u64)
        .map(|k| {
            let bytes = (0..elements * 4).map(|i| (i * 7 + k as u32 * 3) as u8);
            (k * stride as u64, bytes.collect())
        })
        .collect();
    let a = desc(Slot::A, Dest::Pe, 4, 0, &[(elements, 4)]);
    let b = desc(Slot::B, Dest::Pe, 4, stride, &[(elements, 4)]);
    let program = encode(&[
        Instr::Stream(a.clone()),
        Instr::Stream(b.clone()),
        Instr::Run,
        Instr::End,
    ]);
    let (r, dram) = dataflow_driver::run_on_vault(&c, &program, &[], &init, MAX_CYCLES).unwrap();
    assert!(r.done && r.error_code == 0, "{r:?}");
    let word = |addr: u64| u32::from_le_bytes(dram.peek(addr, 4).try_into().unwrap());
    assert_eq!(
        r.a,
        reference(&a).iter().map(|&x| word(x)).collect::<Vec<_>>()
    );
    assert_eq!(
        r.b,
        reference(&b).iter().map(|&x| word(x)).collect::<Vec<_>>()
    );
    // Each stream opens its 8 rows once; a few more switches where B runs low and asks anyway.
    // Alternating burst by burst opens a row for every one of the 128 bursts.
    let bursts = 2 * rows as u64 * (c.dram.row_bytes / c.dram.burst_bytes()) as u64;
    assert!(
        r.dram.act <= 4 * rows as u64,
        "{} activates for {bursts} bursts over {} rows",
        r.dram.act,
        2 * rows
    );
}

#[test]
fn the_write_stream_takes_elements_while_its_queue_drains() {
    // A source offering an element every cycle, as the PE does in a weight gradient: the write
    // queue goes to the vault in groups, and meanwhile the stream fills the queue's free entries
    // rather than waiting for it to empty, so the source never waits on a drain.
    let c = Config::default();
    let bursts = 4 * WRITE_QUEUE_BURSTS;
    let elements = (bursts * c.dram.burst_bytes() / 4) as u32;
    let wd = desc(Slot::W, Dest::Dram, 4, 0x6000, &[(elements, 4)]);
    let src: Vec<u32> = (0..elements)
        .map(|i| 0x3C00_0000 ^ (i * 0x0001_0203))
        .collect();
    let program = encode(&[Instr::Stream(wd.clone()), Instr::Run, Instr::End]);
    let (r, dram) = dataflow_driver::run_on_vault(&c, &program, &src, &[], MAX_CYCLES).unwrap();
    assert!(r.done && r.error_code == 0, "{r:?}");
    for (i, &addr) in reference(&wd).iter().enumerate() {
        assert_eq!(dram.peek(addr, 4), src[i].to_le_bytes(), "element {i}");
    }
    // One element a cycle, then the last queue's bursts and the rows they open. A stream that
    // waited for every drain to end would also lose about a drain's bus time per group (909
    // cycles here, against 636).
    let drain = (WRITE_QUEUE_BURSTS as u32 * c.dram.timing().bl) as u64;
    assert!(
        r.cycles <= elements as u64 + 3 * drain,
        "{elements} elements took {} cycles",
        r.cycles
    );
}

/// Up to `max_loops` random loops of elements of `size` bytes: strides of either sign (zero
/// among them), counts of at most `max_count` whose product stays within about `budget`.
fn random_loops(
    rng: &mut rand_chacha::ChaCha8Rng,
    size: u32,
    max_loops: i32,
    budget: u32,
    max_count: u32,
) -> Vec<(u32, i32)> {
    use rand::Rng;
    let n = rng.gen_range(1..=max_loops);
    let mut budget = budget;
    (0..n)
        .map(|_| {
            let c = rng.gen_range(1..=budget.clamp(1, max_count));
            budget = (budget / c).max(1);
            (c, rng.gen_range(-40..=40) * size as i32)
        })
        .collect()
}

#[test]
fn lane_scattered_results_write_each_burst_once() {
    // A result vector of 16 lanes, each lane's value in its own row (a convolution's weight
    // gradient: a lane's row is its output channel's), the next vectors beside the last: each
    // burst is written once, full, where a buffer of one burst wrote a burst per value.
    let c = Config::default();
    let lanes = WRITE_QUEUE_BURSTS as u32;
    let per_burst = c.dram.burst_bytes() as u32 / 4;
    let stride = 33 * c.dram.burst_bytes() as i32;
    let wd = desc(
        Slot::W,
        Dest::Dram,
        4,
        0x2000,
        &[(lanes, stride), (per_burst, 4)],
    );
    let src: Vec<u32> = (0..lanes * per_burst)
        .map(|i| 0x7100_0000 ^ (i * 0x0102_0305))
        .collect();
    let r = run(
        &[Instr::Stream(wd.clone()), Instr::Run, Instr::End],
        &src,
        9,
    );
    assert!(r.done && r.error_code == 0, "{r:?}");
    for (i, &addr) in reference(&wd).iter().enumerate() {
        assert_eq!(value_at(&r, addr, 4), src[i], "element {i}");
    }
    let writes = accesses(&r, 2);
    assert_eq!(writes, write_bursts(&reference(&wd)));
    assert_eq!(writes.len(), lanes as usize);
    assert_eq!(r.written.len(), (lanes * per_burst * 4) as usize);
}

#[test]
fn random_write_streams_leave_every_byte_its_last_value() {
    // Strides of either sign, zero among them, revisit bytes and bursts in every order, while
    // the request and write-data ports stall at random: every byte ends with the value of the
    // last element written over it, and no burst is written more often than the stream enters it.
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(31);
    for round in 0..64 {
        let size = [1u32, 2, 4][rng.gen_range(0..3)];
        let loops = random_loops(&mut rng, size, 4, 600, 24);
        let wd = desc(
            Slot::W,
            Dest::Dram,
            size,
            0x10000 + rng.gen_range(0..64) * size,
            &loops,
        );
        let addrs = reference(&wd);
        let src: Vec<u32> = (0..addrs.len()).map(|_| rng.gen()).collect();
        let r = run(
            &[Instr::Stream(wd.clone()), Instr::Run, Instr::End],
            &src,
            200 + round,
        );
        assert!(r.done && r.error_code == 0, "round {round}: {r:?}");
        let mut want = std::collections::HashMap::new();
        for (&addr, &v) in addrs.iter().zip(&src) {
            for b in 0..size as u64 {
                want.insert(addr + b, (v >> (8 * b)) as u8);
            }
        }
        assert_eq!(r.written, want, "round {round}: {loops:?}");
        let writes = accesses(&r, 2).len();
        assert!(
            writes >= write_bursts(&addrs).len() && writes <= burst_walk(&addrs).len(),
            "round {round}: {writes} write requests for {loops:?}"
        );
    }
}

#[test]
fn random_descriptors_match_the_reference_order() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(77);
    for round in 0..12 {
        let sa = [1, 2, 4][rng.gen_range(0..3)];
        let sb = [1, 2, 4][rng.gen_range(0..3)];
        // Bases far enough from zero that negative strides stay inside the vault.
        let a = desc(
            Slot::A,
            Dest::Pe,
            sa,
            0x10_0000 + rng.gen_range(0..1000) * sa,
            &random_loops(&mut rng, sa, 6, 48, 5),
        );
        let b = desc(
            Slot::B,
            Dest::Tile(rng.gen()),
            sb,
            0x20_0000 + rng.gen_range(0..1000) * sb,
            &random_loops(&mut rng, sb, 6, 48, 5),
        );
        check_reads(a, Some(b), 100 + round);
    }
}
