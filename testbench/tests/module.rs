//! The whole module in rust-hdl: host interface, program faults, the network between tiles.

use nt_hdl::dataflow_program::{
    by_lane, compute_op, encode, fill_op, fill_start, op, opa_blocks, opb_across, opb_buffer,
    pair_fill_start, shape, split_fill, window, Descriptor, Dest, Instr, Slot,
};
use nt_hdl::host_interface::{SEED, STATUS};
use nt_hdl::pe_feeder::{mode, Feed, WindowField};
use nt_hdl::Config;
use nt_testbench::golden::fixed16::Fixed16;
use nt_testbench::module_driver::{ModuleHost, ModuleSim, ProgramFault};

fn small() -> Config {
    Config::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/small.toml"),
        &[],
    )
    .unwrap()
}

fn stream(slot: Slot, dest: Dest, size: u32, base: u32, loops: &[(u32, i32)]) -> Instr {
    Instr::Stream(Descriptor {
        slot,
        dest,
        size,
        narrow: false,
        base,
        loops: loops.to_vec(),
    })
}

/// `n` little-endian 32-bit words of vault 0 from byte `addr`.
fn words(m: &ModuleSim<64>, addr: u32, n: usize) -> Vec<i32> {
    m.drams[0]
        .peek(addr as u64, 4 * n)
        .chunks(4)
        .map(|c| i32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

/// Runs `prog` on tile 0 (the others end at once) until every tile is done and the vaults idle.
fn run_on_tile_0(m: &mut ModuleSim<64>, prog: &[Instr]) {
    for t in 0..m.tiles() {
        let p = if t == 0 {
            prog.to_vec()
        } else {
            vec![Instr::End]
        };
        m.load_program(t, &encode(&p)).unwrap();
    }
    m.run(20_000).unwrap();
    m.drain().unwrap();
}

#[test]
fn host_registers_read_back_and_idle_tiles_report_done() {
    let mut m = ModuleSim::<64>::new(&small()).unwrap();
    m.host_write(SEED, 0xDEAD_BEEF).unwrap();
    assert_eq!(m.host_read(SEED).unwrap(), 0xDEAD_BEEF);
    // Empty programs: every tile finishes at once.
    for t in 0..m.tiles() {
        m.load_program(t, &encode(&[Instr::End])).unwrap();
    }
    m.run(100).unwrap();
    assert_eq!(m.host_read(STATUS).unwrap() & 0b111, 0b001);
}

#[test]
fn a_program_fault_names_the_tile_and_the_fault() {
    let config = small();
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let outside = config.dram.vault_bytes() as u32;
    for t in 0..m.tiles() {
        let prog = if t == 2 {
            vec![
                stream(Slot::A, Dest::Pe, 2, outside - 4, &[(4, 2)]),
                Instr::Run,
                Instr::End,
            ]
        } else {
            vec![Instr::End]
        };
        m.load_program(t, &encode(&prog)).unwrap();
    }
    let err = m.run(10_000).unwrap_err();
    let fault = err.downcast_ref::<ProgramFault>().expect("a program fault");
    assert_eq!((fault.tile, fault.code), (2, 6));
    assert!(err.to_string().contains("outside the vault"), "{err}");
}

#[test]
fn a_tile_copies_a_block_into_another_vault_over_the_network() {
    let config = small();
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let data: Vec<u8> = (0..64u8).map(|i| i.wrapping_mul(37) ^ 0x5A).collect();
    m.drams[0].poke(0x1000, &data);
    let block = |dest: Dest| stream(Slot::A, dest, 2, 0x1000, &[(8, 2), (4, 16)]);
    for t in 0..m.tiles() {
        let prog = match t {
            0 => vec![block(Dest::Tile(3)), Instr::Run, Instr::End],
            3 => vec![
                stream(Slot::W, Dest::Dram, 2, 0x2000, &[(8, 2), (4, 16)]),
                Instr::Run,
                Instr::End,
            ],
            _ => vec![Instr::End],
        };
        m.load_program(t, &encode(&prog)).unwrap();
    }
    m.run(20_000).unwrap();
    m.drain().unwrap();
    assert_eq!(m.drams[3].peek(0x2000, 64), data);
    // 32 elements to one tile: packets of several elements, fewer flits than two per element.
    let flits = m.counters(0).unwrap().flits_sent;
    assert!(flits > 32 && flits < 2 * 32, "{flits} flits");
    // Nothing else was written in the other vaults.
    assert_eq!(m.drams[1].peek(0x2000, 64), vec![0; 64]);
}

/// Gradient runs of different widths back to back, each a single beat: two 4-lane runs (each
/// after a 4-element fill of buffer A) and then a 1-lane run after a 1-element fill. This is a
/// fully connected layer's weight gradient with the lanes over blocks of inputs, at batch 1,
/// followed by its bias gradient. Every result must be the product of its lane's buffer entry
/// and the broadcast element.
#[test]
fn gradient_runs_of_different_widths_follow_each_other() {
    let config = small();
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let (konst, x, e, gw, gb) = (0x0, 0x700u32, 0x940u32, 0x880u32, 0x8c0u32);
    let xs: [i16; 8] = [300, -512, 77, 1024, -3, 900, 0, 451];
    let err: i16 = -613;
    let le = |v: &[i16]| v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    m.poke(0, konst, &le(&[q.one() as i16])).unwrap();
    m.poke(0, x as u64, &le(&xs)).unwrap();
    m.poke(0, e as u64, &le(&[err])).unwrap();
    let mut prog = vec![];
    for block in 0..2u32 {
        prog.extend([
            fill_op(Feed::FillA),
            shape(1, 4),
            stream(Slot::A, Dest::Pe, 2, x + 8 * block, &[(4, 2), (1, 16)]),
            Instr::Run,
            op(mode::GRADIENT, 0, Feed::Compute, false, true),
            shape(1, 4),
            stream(Slot::B, Dest::Pe, 2, e, &[(1, 4), (1, 2)]),
            stream(Slot::W, Dest::Dram, 4, gw + 16 * block, &[(4, 4), (1, 32)]),
            Instr::Run,
        ]);
    }
    prog.extend([
        fill_op(Feed::FillA),
        shape(1, 1),
        stream(Slot::A, Dest::Pe, 2, e, &[(1, 2), (1, 4)]),
        Instr::Run,
        op(mode::GRADIENT, 0, Feed::Compute, false, true),
        shape(1, 1),
        stream(Slot::B, Dest::Pe, 2, konst as u32, &[(1, 0)]),
        stream(Slot::W, Dest::Dram, 4, gb, &[(1, 4)]),
        Instr::Run,
        Instr::End,
    ]);
    run_on_tile_0(&mut m, &prog);
    let expected: Vec<i32> = xs
        .iter()
        .map(|&v| q.grad_align(Fixed16::mul(v, err)).0)
        .collect();
    assert_eq!(words(&m, gw, 8), expected, "weight gradients");
    let bias = q.grad_align(Fixed16::mul(err, q.one() as i16)).0;
    assert_eq!(words(&m, gb, 1), vec![bias], "bias gradient");
}

/// Three gradient blocks of 4 inputs, each block's inputs filled into buffer A by the previous
/// block's compute, alternately from entry 1 and entry 0 while that compute reads the other
/// entry: each block's gradients must be its own inputs times the error, which fails if a
/// compute reads from the wrong entry or a fill lands on the entry being read.
#[test]
fn a_compute_fills_the_next_blocks_inputs_beside_its_own() {
    let config = small();
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let (x, e, gw) = (0x700u32, 0x940u32, 0x800u32);
    let xs: [i16; 12] = [300, -512, 77, 1024, -3, 900, 0, 451, 12, -7000, 255, -1];
    let err: i16 = -613;
    let le = |v: &[i16]| v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    m.poke(0, x as u64, &le(&xs)).unwrap();
    m.poke(0, e as u64, &le(&[err])).unwrap();
    let block = |b: u32| stream(Slot::A, Dest::Pe, 2, x + 8 * b, &[(4, 2), (1, 24)]);
    let mut prog = vec![fill_op(Feed::FillA), shape(1, 4), block(0), Instr::Run];
    for b in 0..3u32 {
        let base = (b % 2) as usize;
        prog.push(compute_op(mode::GRADIENT, 0, (false, true), base, b < 2));
        prog.push(shape(1, 4));
        if b < 2 {
            prog.extend([fill_start(1 - base), block(b + 1)]);
        }
        prog.extend([
            stream(Slot::B, Dest::Pe, 2, e, &[(1, 2)]),
            stream(Slot::W, Dest::Dram, 4, gw + 16 * b, &[(4, 4)]),
            Instr::Run,
        ]);
    }
    prog.push(Instr::End);
    run_on_tile_0(&mut m, &prog);
    let expected: Vec<i32> = xs
        .iter()
        .map(|&v| q.grad_align(Fixed16::mul(v, err)).0)
        .collect();
    assert_eq!(words(&m, gw, 12), expected);
}

/// Where a gradient run takes its errors from.
#[derive(Clone, Copy, PartialEq)]
enum Errors {
    /// Stream b, from `dt[o][t]`.
    Stream,
    /// The reuse buffer, loaded from `dt[o][t]`.
    Buffer,
    /// The reuse buffer, loaded from `e[t][o]` (as the errors lie after a backward product) and
    /// read across (`opb_across`).
    BufferAcross,
}

/// One gradient run over three blocks of 4 inputs held interleaved in buffer A (from entry 1, term
/// t of block j at entry 1 + 3 t + j), each of two outputs' errors over the 2 terms taken once per
/// block, from stream b or from the PE's reuse buffer, loaded first. Returns the gradients
/// written and what they must be: every input column times its output's errors.
fn gradient_over_blocks(errors: Errors) -> (Vec<i32>, Vec<i32>) {
    let config = small();
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let (x, e, gw) = (0x700u32, 0x940u32, 0x800u32);
    let (terms, inputs, outputs) = (2usize, 12usize, 2usize);
    // x[t][i], a row of inputs per term.
    let xs: [i16; 24] = [
        300, -512, 77, 1024, -3, 900, 0, 451, 12, -7000, 255, -1, 5, 6000, -77, 19, 2048, -900, 33,
        -451, 120, 7000, -255, 64,
    ];
    // dt[o][t], an output's errors over the terms side by side.
    let dt: [i16; 4] = [-613, 250, 97, -4000];
    // The same errors term by term, e[t][o].
    let by_term: [i16; 4] = [dt[0], dt[2], dt[1], dt[3]];
    let le = |v: &[i16]| v.iter().flat_map(|w| w.to_le_bytes()).collect::<Vec<u8>>();
    m.poke(0, x as u64, &le(&xs)).unwrap();
    let held = if errors == Errors::BufferAcross {
        by_term
    } else {
        dt
    };
    m.poke(0, e as u64, &le(&held)).unwrap();
    let (t32, o32, i32_) = (terms as u32, outputs as u32, inputs as u32);
    let row = 2 * i32_ as i32;
    let mut prog = vec![
        fill_op(Feed::FillA),
        shape(1, 4),
        fill_start(1),
        // Lane l, entry 1 + 3 t + j <- x[t][4 j + l]: a term's blocks side by side.
        stream(Slot::A, Dest::Pe, 2, x, &[(4, 2), (3, 8), (t32, row)]),
        Instr::Run,
    ];
    if errors != Errors::Stream {
        prog.extend([
            fill_op(Feed::FillB),
            opb_buffer(0),
            stream(Slot::A, Dest::Pe, 2, e, &[(o32 * t32, 2)]),
            Instr::Run,
        ]);
    }
    prog.extend([
        compute_op(mode::GRADIENT, 0, (false, true), 1, false),
        shape(terms, 4),
        opa_blocks(3),
    ]);
    // The beats start with the opb-buffer word, so the opb-across word comes before it.
    if errors == Errors::BufferAcross {
        prog.push(opb_across(outputs));
    }
    if errors != Errors::Stream {
        prog.push(opb_buffer(3 * outputs));
    }
    if errors == Errors::Stream {
        // Beats over (output, block, term), term innermost.
        prog.push(stream(
            Slot::B,
            Dest::Pe,
            2,
            e,
            &[(t32, 2), (3, 0), (o32, 2 * t32 as i32)],
        ));
    }
    prog.extend([
        stream(
            Slot::W,
            Dest::Dram,
            4,
            gw,
            &[(i32_, 4), (o32, 4 * i32_ as i32)],
        ),
        Instr::Run,
        Instr::End,
    ]);
    run_on_tile_0(&mut m, &prog);
    let expected: Vec<i32> = (0..outputs)
        .flat_map(|o| {
            (0..inputs).map(move |i| {
                let acc = (0..terms)
                    .map(|t| Fixed16::mul(xs[t * inputs + i], dt[o * terms + t]))
                    .sum();
                q.grad_align(acc).0
            })
        })
        .collect();
    (words(&m, gw, outputs * inputs), expected)
}

/// `opa_blocks` makes buffer A's index follow the blocks: without the word each block would read
/// entries 1 and 2, block 0's and block 1's first term.
#[test]
fn one_gradient_run_covers_blocks_of_inputs_side_by_side() {
    let (got, expected) = gradient_over_blocks(Errors::Stream);
    assert_eq!(got, expected);
}

/// The errors held in the reuse buffer: reduction m (output m / 3) takes entries 2 (m / 3) and
/// 2 (m / 3) + 1, so both outputs' gradients need the entry to move on after every third
/// reduction, and the run must end after its six reductions with no stream b to end it.
#[test]
fn a_gradient_run_takes_its_errors_from_the_reuse_buffer() {
    let (got, expected) = gradient_over_blocks(Errors::Buffer);
    assert_eq!(got, expected);
}

/// The errors held term by term: reduction m (output m / 3) takes entries m / 3 and m / 3 + 2,
/// the step between terms the two outputs.
#[test]
fn a_gradient_run_reads_errors_held_term_by_term_across_the_reuse_buffer() {
    let (got, expected) = gradient_over_blocks(Errors::BufferAcross);
    assert_eq!(got, expected);
}

/// A convolution's forward with its input maps in the reuse buffer (`window` words): three
/// samples of a 2-channel 4 x 5 map, 3 output channels on 4 lanes, the `kernel` x `kernel` window
/// moving by `stride`. Stream a brings the maps one after another while the compute reads the
/// windows, so the three maps take turns in the buffer's two halves (64 entries each, a map 40).
/// Returns the outputs written (channel fastest, then output pixel, then sample) and what they
/// must be.
fn window_forward(kernel: usize, stride: usize) -> (Vec<i16>, Vec<i16>) {
    let config = Config::load(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/small.toml"),
        &["pe.operand_buffer_depth=128".to_string()],
    )
    .unwrap();
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let (samples, ch, h, w, outs, lanes) = (3usize, 2usize, 4usize, 5usize, 3usize, 4usize);
    let (oh, ow) = ((h - kernel) / stride + 1, (w - kernel) / stride + 1);
    let (map, terms, pixels) = (ch * h * w, ch * kernel * kernel, oh * ow);
    // Values that differ everywhere, so that a wrong entry changes a sum.
    let x: Vec<i16> = (0..samples * map)
        .map(|i| ((i * 7919 + 13) % 4001) as i16 - 2000)
        .collect();
    let wt: Vec<i16> = (0..lanes * terms)
        .map(|i| ((i * 104_729 + 5) % 2001) as i16 - 1000)
        .collect();
    let bias: Vec<i32> = (0..lanes as i32).map(|l| (l - 1) * 3_000_017).collect();
    let (xa, wa, ba, ya) = (0x1000u32, 0x800u32, 0x780u32, 0x2000u32);
    let le = |v: &[i16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    m.poke(0, xa as u64, &le(&x)).unwrap();
    m.poke(0, wa as u64, &le(&wt)).unwrap();
    let b: Vec<u8> = bias.iter().flat_map(|v| v.to_le_bytes()).collect();
    m.poke(0, ba as u64, &b).unwrap();
    // Terms: a window's taps (kernel column, row, channel); reductions: output pixels.
    let fields = [
        (WindowField::TermX, kernel),
        (WindowField::TermXStep, 1),
        (WindowField::TermY, kernel),
        (WindowField::TermYStep, w),
        (WindowField::TermZStep, h * w),
        (WindowField::RedX, ow),
        (WindowField::RedXStep, stride),
        (WindowField::RedYStep, stride * w),
        (WindowField::PerMap, pixels),
        (WindowField::Map, map),
    ];
    let mut prog = vec![
        fill_op(Feed::FillB),
        shape(1, lanes),
        stream(Slot::A, Dest::Pe, 4, ba, &[(lanes as u32, 4)]),
        Instr::Run,
        fill_op(Feed::FillA),
        shape(terms, lanes),
        by_lane(0),
        stream(Slot::A, Dest::Pe, 2, wa, &[((lanes * terms) as u32, 2)]),
        Instr::Run,
        op(mode::FORWARD, 0, Feed::Compute, false, true),
        shape(terms, outs),
    ];
    prog.extend(fields.map(|(f, v)| window(f, v)));
    prog.extend([
        opb_buffer(samples * pixels),
        stream(Slot::A, Dest::Pe, 2, xa, &[((samples * map) as u32, 2)]),
        stream(
            Slot::W,
            Dest::Dram,
            2,
            ya,
            &[((samples * pixels * outs) as u32, 2)],
        ),
        Instr::Run,
        Instr::End,
    ]);
    run_on_tile_0(&mut m, &prog);
    let got: Vec<i16> = m.drams[0]
        .peek(ya as u64, 2 * samples * pixels * outs)
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let mut expected = vec![];
    for s in 0..samples {
        for p in 0..pixels {
            let (oy, ox) = (p / ow, p % ow);
            for o in 0..outs {
                let mut acc = q.bias_to_acc(bias[o]);
                for c in 0..ch {
                    for ky in 0..kernel {
                        for kx in 0..kernel {
                            let r = (c * kernel + ky) * kernel + kx;
                            let at = ((s * ch + c) * h + oy * stride + ky) * w + ox * stride + kx;
                            acc += Fixed16::mul(wt[o * terms + r], x[at]);
                        }
                    }
                }
                expected.push(q.requant(acc).0);
            }
        }
    }
    (got, expected)
}

/// A 3 x 3 kernel at stride 1: two rows of three windows a sample.
#[test]
fn a_convolution_reads_its_windows_out_of_maps_in_the_reuse_buffer() {
    let (got, expected) = window_forward(3, 1);
    assert_eq!(got, expected);
}

/// A 2 x 2 kernel at stride 2: the windows step two entries along a row and two rows down.
#[test]
fn a_strided_convolution_reads_its_windows_out_of_the_reuse_buffer() {
    let (got, expected) = window_forward(2, 2);
    assert_eq!(got, expected);
}

/// Stores `values` at `addr` of tile 0's vault and runs `fill` (which loads buffer A's 4 lanes
/// with 3 entries from them), then hands out entry k of every lane for k = 0, 1, 2: forward runs
/// with a zero bias and the unit vector e_k as stream b. Returns the 12 results, entry by entry.
fn fill_and_read_entries((addr, values): (u32, &[i16]), fill: &[Instr]) -> Vec<i16> {
    let config = small();
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let (zero, unit, y) = (0x480u32, 0x500u32, 0x600u32);
    let le = |v: &[i16]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
    m.poke(0, zero as u64, &[0; 4]).unwrap();
    // Unit vectors e_0, e_1, e_2 one after another.
    let units: Vec<i16> = (0..9)
        .map(|i| if i % 4 == 0 { q.one() as i16 } else { 0 })
        .collect();
    m.poke(0, unit as u64, &le(&units)).unwrap();
    m.poke(0, addr as u64, &le(values)).unwrap();
    let mut prog = vec![
        fill_op(Feed::FillB),
        shape(1, 4),
        stream(Slot::A, Dest::Pe, 4, zero, &[(4, 0)]),
        Instr::Run,
    ];
    prog.extend_from_slice(fill);
    for k in 0..3u32 {
        prog.extend([
            op(mode::FORWARD, 0, Feed::Compute, false, true),
            shape(3, 4),
            stream(Slot::B, Dest::Pe, 2, unit + 6 * k, &[(3, 2)]),
            stream(Slot::W, Dest::Dram, 2, y + 8 * k, &[(4, 2)]),
            Instr::Run,
        ]);
    }
    prog.push(Instr::End);
    run_on_tile_0(&mut m, &prog);
    m.drams[0]
        .peek(y as u64, 24)
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect()
}

/// A pair fill: a 3 x 4 matrix stored entry after entry (the 4 lanes' operands of an entry side
/// by side) goes into buffer A two operands a 4-byte element, the low half to an even lane and
/// the high half to the next. Forward runs with a zero bias and the unit vector e_k as stream b
/// then hand out entry k: every result must be the matrix element of its lane and k.
#[test]
fn a_pair_fill_puts_each_half_of_an_element_in_its_lane() {
    let x = 0x400u32;
    let entries: [[i16; 4]; 3] = [[11, -12, 13, -14], [-21, 22, 1023, 24], [31, -32000, 33, 0]];
    let fill = [
        fill_op(Feed::FillA),
        shape(1, 4),
        pair_fill_start(0),
        // Element k: lanes 2 (k % 2) and 2 (k % 2) + 1 of entry k / 2.
        stream(Slot::A, Dest::Pe, 4, x, &[(2, 4), (3, 8)]),
        Instr::Run,
    ];
    let got = fill_and_read_entries((x, &entries.concat()), &fill);
    assert_eq!(got, entries.concat());
}

/// A 4 x 3 matrix of operands, lane by entry, around the 16-bit range's ends.
const MATRIX: [[i16; 3]; 4] = [
    [11, -12, 13],
    [-21, 22, 1023],
    [31, -32000, 33],
    [0, 42, -43],
];

/// A fill by lane in two runs: a 4 x 3 matrix stored row after row (lane l's entries side by
/// side) goes into buffer A, columns 0..2 in the first run and column 2 in the second. Forward
/// runs with a zero bias and the unit vector e_k as stream b then hand out column k: every
/// result must be the matrix entry of its lane and k, which pins down where each element went.
#[test]
fn a_fill_by_lane_puts_each_lanes_entries_in_order() {
    let w = 0x400u32;
    let rows = MATRIX;
    let fill = [
        fill_op(Feed::FillA),
        shape(2, 4),
        by_lane(0),
        stream(Slot::A, Dest::Pe, 2, w, &[(2, 2), (4, 6)]),
        Instr::Run,
        shape(3, 4),
        by_lane(2),
        stream(Slot::A, Dest::Pe, 2, w + 4, &[(1, 2), (4, 6)]),
        Instr::Run,
    ];
    let got = fill_and_read_entries((w, &rows.concat()), &fill);
    let expected: Vec<i16> = (0..3).flat_map(|k| rows.map(|r| r[k])).collect();
    assert_eq!(got, expected);
}

/// A split fill by lane: a 4 x 3 matrix stored row after row (lane l's entries side by side)
/// goes into buffer A, lanes 0 and 2 from stream a and lanes 1 and 3 from stream b, each lane's
/// entries in turn. A by-lane word after a split run ends the split: the next run's stream a
/// fills every lane again. Forward runs with a zero bias and the unit vector e_k as stream b then
/// hand out column k: every result must be the matrix entry of its lane and k, which pins down
/// where each element of both streams went.
#[test]
fn a_split_fill_takes_the_even_lanes_from_stream_a_and_the_odd_from_stream_b() {
    let w = 0x400u32;
    let rows = MATRIX;
    let expected: Vec<i16> = (0..3).flat_map(|k| rows.map(|r| r[k])).collect();
    let split = [
        fill_op(Feed::FillA),
        shape(3, 4),
        by_lane(0),
        split_fill(),
        stream(Slot::A, Dest::Pe, 2, w, &[(3, 2), (2, 12)]),
        stream(Slot::B, Dest::Pe, 2, w + 6, &[(3, 2), (2, 12)]),
        Instr::Run,
    ];
    assert_eq!(fill_and_read_entries((w, &rows.concat()), &split), expected);
    let split_then_whole = [
        fill_op(Feed::FillA),
        shape(2, 4),
        by_lane(0),
        split_fill(),
        stream(Slot::A, Dest::Pe, 2, w, &[(2, 2), (2, 12)]),
        stream(Slot::B, Dest::Pe, 2, w + 6, &[(2, 2), (2, 12)]),
        Instr::Run,
        shape(3, 4),
        by_lane(2),
        stream(Slot::A, Dest::Pe, 2, w + 4, &[(1, 2), (4, 6)]),
        Instr::Run,
    ];
    assert_eq!(
        fill_and_read_entries((w, &rows.concat()), &split_then_whole),
        expected
    );
}

/// A split fill of weight rows as the compiler makes one: 4 rows of 64 master weights, read
/// narrowed (each master hands on its MAC weight), the even rows on stream a and the odd ones on
/// stream b at once. A forward run against a vector of ones then sums each lane's row: every
/// sum must be its row's, so every entry of every lane arrived once and in its place.
#[test]
fn a_split_fill_of_long_weight_rows_gives_every_lane_its_row() {
    let config = small();
    let q = Fixed16::new(config.format.frac_bits, config.format.grad_frac_bits);
    let mut m = ModuleSim::<64>::new(&config).unwrap();
    let (w, zero, ones, y) = (0x40u32, 0x2040u32, 0x2100u32, 0x2400u32);
    let (lanes, cols) = (4usize, 64usize);
    let row = (cols * 4) as i32;
    let values: Vec<i32> = (0..lanes * cols).map(|i| (i * 7 % 13) as i32 - 6).collect();
    let masters: Vec<u8> = values
        .iter()
        .flat_map(|&v| (v << (q.g - q.f)).to_le_bytes())
        .collect();
    m.poke(0, w as u64, &masters).unwrap();
    m.poke(0, zero as u64, &[0; 16]).unwrap();
    let one: Vec<u8> = (0..cols)
        .flat_map(|_| (q.one() as i16).to_le_bytes())
        .collect();
    m.poke(0, ones as u64, &one).unwrap();
    let narrowed = |slot: Slot, base: u32| {
        Instr::Stream(Descriptor {
            slot,
            dest: Dest::Pe,
            size: 4,
            narrow: true,
            base,
            loops: vec![(cols as u32, 4), (lanes as u32 / 2, 2 * row)],
        })
    };
    let prog = vec![
        fill_op(Feed::FillA),
        shape(cols, lanes),
        by_lane(0),
        split_fill(),
        narrowed(Slot::A, w),
        narrowed(Slot::B, w + row as u32),
        Instr::Run,
        fill_op(Feed::FillB),
        shape(1, lanes),
        stream(Slot::A, Dest::Pe, 4, zero, &[(lanes as u32, 4)]),
        Instr::Run,
        op(mode::FORWARD, 0, Feed::Compute, false, true),
        shape(cols, lanes),
        stream(Slot::B, Dest::Pe, 2, ones, &[(cols as u32, 2)]),
        stream(Slot::W, Dest::Dram, 2, y, &[(lanes as u32, 2)]),
        Instr::Run,
        Instr::End,
    ];
    run_on_tile_0(&mut m, &prog);
    let got: Vec<i16> = m.drams[0]
        .peek(y as u64, 2 * lanes)
        .chunks(2)
        .map(|c| i16::from_le_bytes([c[0], c[1]]))
        .collect();
    let sums: Vec<i16> = values
        .chunks(cols)
        .map(|r| r.iter().sum::<i32>() as i16)
        .collect();
    assert_eq!(got, sums);
}
