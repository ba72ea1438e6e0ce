//! The processing engine in rust-hdl simulation and as emitted Verilog under Icarus, against the
//! golden model, in every mode.

use nt_hdl::pe::{Pe, PE_LATENCY};
use nt_hdl::Config;
use nt_testbench::golden::{Activation, Fixed16};
use nt_testbench::pe_driver::{self, Job, PE_TOP};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::PathBuf;

fn config(lanes: usize) -> Config {
    let mut c = Config::default();
    c.pe.lanes = lanes;
    c.pe.operand_buffer_depth = 64;
    c
}

fn rand_vec(rng: &mut ChaCha8Rng, n: usize, lo: i16, hi: i16) -> Vec<i16> {
    (0..n).map(|_| rng.gen_range(lo..=hi)).collect()
}

fn rand_mat(rng: &mut ChaCha8Rng, rows: usize, n: usize, lo: i16, hi: i16) -> Vec<Vec<i16>> {
    (0..rows).map(|_| rand_vec(rng, n, lo, hi)).collect()
}

/// Picks from typical values (|v| about 1.0), extremes and zero.
fn corner(rng: &mut ChaCha8Rng) -> i16 {
    match rng.gen_range(0..8) {
        0 => i16::MIN,
        1 => i16::MAX,
        2 => 0,
        3 => -1,
        4 => 1,
        _ => rng.gen_range(-2048..=2048),
    }
}

/// Max-pool terms: few distinct values, so that ties (and the first-maximum rule) are common.
fn pool_terms(rng: &mut ChaCha8Rng, k: usize) -> Vec<i16> {
    let pick = [i16::MIN, -3, 0, 5, 5, i16::MAX];
    (0..k)
        .map(|_| match rng.gen_range(0..3) {
            0 => pick[rng.gen_range(0..pick.len())],
            _ => corner(rng),
        })
        .collect()
}

/// Routing beats: window positions 0..3, each lane's stored index hits about one in four.
fn select_job(rng: &mut ChaCha8Rng, lanes: usize, k: usize) -> Job {
    Job::Select {
        at: (0..k).map(|i| (i % 4) as i16).collect(),
        index: (0..k)
            .map(|_| (0..lanes).map(|_| rng.gen_range(0..4)).collect())
            .collect(),
        delta: (0..k)
            .map(|_| (0..lanes).map(|_| corner(rng)).collect())
            .collect(),
    }
}

fn random_jobs(rng: &mut ChaCha8Rng, lanes: usize, count: usize) -> Vec<Job> {
    let mut jobs = vec![Job::Seed { seed: rng.gen() }];
    for _ in 0..count {
        let k = rng.gen_range(1..24);
        let act = Activation::ALL[rng.gen_range(0..Activation::ALL.len())];
        let job = match rng.gen_range(0..7) {
            0 => Job::Forward {
                act,
                x: rand_vec(rng, k, -1500, 1500),
                w: rand_mat(rng, lanes, k, -1500, 1500),
                bias: (0..lanes)
                    .map(|_| rng.gen_range(-(1 << 26)..(1 << 26)))
                    .collect(),
                from_buffer: rng.gen(),
            },
            1 => Job::Backward {
                act,
                delta: (0..k).map(|_| corner(rng)).collect(),
                wt: (0..lanes)
                    .map(|_| (0..k).map(|_| corner(rng)).collect())
                    .collect(),
                y_prev: (0..lanes).map(|_| corner(rng)).collect(),
            },
            2 => Job::Gradient {
                x: (0..k).map(|_| corner(rng)).collect(),
                delta: (0..lanes)
                    .map(|_| (0..k).map(|_| corner(rng)).collect())
                    .collect(),
            },
            3 => Job::Update {
                eta: rng.gen(),
                w: (0..k)
                    .map(|_| (0..lanes).map(|_| rng.gen()).collect())
                    .collect(),
                g: (0..k)
                    .map(|_| {
                        (0..lanes)
                            .map(|_| rng.gen_range(-(1 << 30)..(1 << 30)))
                            .collect()
                    })
                    .collect(),
            },
            4 => Job::Max {
                x: (0..lanes).map(|_| pool_terms(rng, k)).collect(),
            },
            5 => select_job(rng, lanes, k),
            _ => Job::Forward {
                act,
                x: (0..k).map(|_| corner(rng)).collect(),
                w: (0..lanes)
                    .map(|_| (0..k).map(|_| corner(rng)).collect())
                    .collect(),
                bias: (0..lanes).map(|_| rng.gen()).collect(),
                from_buffer: false,
            },
        };
        jobs.push(job);
    }
    jobs
}

/// Runs jobs in rust-hdl and checks every result, the result timing and the counters.
fn check_rust(c: &Config, jobs: &[Job]) {
    let beats = pe_driver::program(jobs, c.pe.lanes).unwrap();
    let outs = pe_driver::run_rust(c, &beats, None).unwrap();
    let (want, want_sat) = pe_driver::expected(jobs, c);
    let got = pe_driver::results(&outs);
    assert_eq!(got.len(), want.len(), "number of results");
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g, w, "result {i} differs from the golden model");
    }
    // Each result appears PE_LATENCY edges after the beat that completes it.
    let emitting: Vec<usize> = beats
        .iter()
        .enumerate()
        .filter(|(_, b)| {
            b.valid && (b.last || nt_hdl::ops::PeMode::ALL[b.mode as usize].emits_every_beat())
        })
        .map(|(i, _)| i + PE_LATENCY - 1)
        .collect();
    let valid_at: Vec<usize> = outs
        .iter()
        .enumerate()
        .filter(|(_, o)| o.valid)
        .map(|(i, _)| i)
        .collect();
    assert_eq!(valid_at, emitting, "result timing");
    let last = outs.last().unwrap();
    assert_eq!(
        last.busy_cycles as usize,
        beats.iter().filter(|b| b.valid).count(),
        "busy counter"
    );
    assert_eq!(last.sat_events as u64, want_sat, "saturation counter");
}

#[test]
fn forward_every_activation_matches_golden() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let c = config(4);
    let jobs: Vec<Job> = Activation::ALL
        .iter()
        .flat_map(|&act| (0..3).map(move |_| act).collect::<Vec<_>>())
        .map(|act| {
            let k = rng.gen_range(1..40);
            Job::Forward {
                act,
                x: rand_vec(&mut rng, k, -3000, 3000),
                w: rand_mat(&mut rng, 4, k, -3000, 3000),
                bias: (0..4)
                    .map(|_| rng.gen_range(-(1 << 27)..(1 << 27)))
                    .collect(),
                from_buffer: false,
            }
        })
        .collect();
    check_rust(&c, &jobs);
}

#[test]
fn backward_gradient_and_update_match_golden() {
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let c = config(4);
    let mut jobs = vec![Job::Seed { seed: 0xDEAD_BEEF }];
    for act in Activation::ALL {
        jobs.push(Job::Backward {
            act,
            delta: rand_vec(&mut rng, 9, -1024, 1024),
            wt: rand_mat(&mut rng, 4, 9, -1024, 1024),
            y_prev: rand_vec(&mut rng, 4, -1024, 1024),
        });
    }
    jobs.push(Job::Gradient {
        x: rand_vec(&mut rng, 16, -2000, 2000),
        delta: rand_mat(&mut rng, 4, 16, -2000, 2000),
    });
    jobs.push(Job::Update {
        eta: 655,
        w: (0..20)
            .map(|_| {
                (0..4)
                    .map(|_| rng.gen_range(-(1 << 26)..(1 << 26)))
                    .collect()
            })
            .collect(),
        g: (0..20)
            .map(|_| {
                (0..4)
                    .map(|_| rng.gen_range(-(1 << 24)..(1 << 24)))
                    .collect()
            })
            .collect(),
    });
    check_rust(&c, &jobs);
}

#[test]
fn corner_values_saturate_and_count() {
    let c = config(4);
    let big = vec![i16::MIN; 8];
    let jobs = vec![
        Job::Seed { seed: 1 },
        // (-32768)^2 * 8 overflows 16 bits after requantization: saturates high on every lane.
        Job::Forward {
            act: Activation::Identity,
            x: big.clone(),
            w: vec![big.clone(); 4],
            bias: vec![0; 4],
            from_buffer: false,
        },
        // ... and low when one operand is MAX.
        Job::Forward {
            act: Activation::Identity,
            x: big.clone(),
            w: vec![vec![i16::MAX; 8]; 4],
            bias: vec![i32::MIN, i32::MAX, 0, -1],
            from_buffer: false,
        },
        Job::Backward {
            act: Activation::Tanh,
            delta: big.clone(),
            wt: vec![big.clone(); 4],
            y_prev: vec![i16::MIN, i16::MAX, 0, 1024],
        },
        Job::Gradient {
            x: big.clone(),
            delta: vec![big.clone(); 4],
        },
        Job::Update {
            eta: u16::MAX,
            w: vec![vec![i32::MIN, i32::MAX, 0, 1 << 30]],
            g: vec![vec![i32::MAX, i32::MIN, i32::MIN, i32::MAX]],
        },
        Job::Forward {
            act: Activation::Sigmoid,
            x: vec![0; 3],
            w: vec![vec![0; 3]; 4],
            bias: vec![0; 4],
            from_buffer: true,
        },
    ];
    let (_, sat) = pe_driver::expected(&jobs, &c);
    assert!(sat >= 20, "the corner jobs must saturate often (got {sat})");
    check_rust(&c, &jobs);
}

#[test]
fn max_keeps_the_first_maximum_and_select_routes() {
    let mut rng = ChaCha8Rng::seed_from_u64(20);
    let c = config(4);
    let jobs = vec![
        // Ties: lane 0 all equal (index 0), lane 1 the maximum twice (first wins), lane 2 the
        // extremes, lane 3 a single strictly increasing run (last term).
        Job::Max {
            x: vec![
                vec![7, 7, 7, 7],
                vec![-3, 9, 2, 9],
                vec![i16::MIN, i16::MAX, i16::MAX, i16::MIN],
                vec![-4, -3, -2, -1],
            ],
        },
        // One term: the term itself, index 0.
        Job::Max {
            x: vec![vec![i16::MIN], vec![0], vec![-1], vec![i16::MAX]],
        },
        Job::Select {
            at: vec![0, 1, 2, 3],
            index: vec![vec![0, 1, 3, 1]; 4],
            delta: vec![vec![100, -200, i16::MIN, i16::MAX]; 4],
        },
        Job::Max {
            x: (0..4).map(|_| pool_terms(&mut rng, 30)).collect(),
        },
        select_job(&mut rng, 4, 12),
    ];
    let (want, _) = pe_driver::expected(&jobs, &c);
    assert_eq!(want[0].wide, vec![0, 1, 1, 3]);
    assert_eq!(want[0].narrow, vec![7, 9, i16::MAX as u16, (-1i16) as u16]);
    assert_eq!(want[2].narrow, vec![100, 0, 0, 0]);
    assert_eq!(
        want[3].narrow,
        vec![0, (-200i16) as u16, 0, i16::MAX as u16]
    );
    check_rust(&c, &jobs);
}

#[test]
fn reductions_of_thousands_of_terms_are_exact() {
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let c = config(2);
    let n = 4096;
    let jobs = vec![
        // All extremes: the accumulator reaches 2^30 * 4096 = 2^42, far beyond 32 bits.
        Job::Gradient {
            x: vec![i16::MIN; n],
            delta: vec![vec![i16::MIN; n], vec![i16::MAX; n]],
        },
        Job::Forward {
            act: Activation::Relu,
            x: rand_vec(&mut rng, n, i16::MIN, i16::MAX),
            w: rand_mat(&mut rng, 2, n, -64, 64),
            bias: vec![rng.gen(), rng.gen()],
            from_buffer: false,
        },
    ];
    check_rust(&c, &jobs);
}

#[test]
fn random_job_streams_back_to_back() {
    let mut rng = ChaCha8Rng::seed_from_u64(14);
    let c = config(4);
    let jobs = random_jobs(&mut rng, 4, 60);
    check_rust(&c, &jobs);
}

#[test]
fn other_fraction_bits_and_the_default_sixteen_lanes() {
    let mut rng = ChaCha8Rng::seed_from_u64(15);
    for (f, g) in [(8, 20), (13, 30), (5, 10)] {
        let mut c = config(2);
        c.format.frac_bits = f;
        c.format.grad_frac_bits = g;
        let jobs = random_jobs(&mut rng, 2, 25);
        check_rust(&c, &jobs);
    }
    let c = Config::default();
    let jobs = random_jobs(&mut rng, 16, 8);
    check_rust(&c, &jobs);
}

#[test]
fn buffer_reuse_broadcasts_the_stored_operand() {
    let mut rng = ChaCha8Rng::seed_from_u64(16);
    let c = config(4);
    let x = rand_vec(&mut rng, 32, -1000, 1000);
    let jobs: Vec<Job> = (0..3)
        .map(|_| Job::Forward {
            act: Activation::LeakyRelu,
            x: x.clone(),
            w: rand_mat(&mut rng, 4, 32, -1000, 1000),
            bias: vec![0; 4],
            from_buffer: true,
        })
        .collect();
    check_rust(&c, &jobs);
    // The golden model agrees with a plain dot product here (no saturation in range).
    let q = Fixed16::default();
    if let Job::Forward { w, .. } = &jobs[0] {
        let acc: i64 = (0..32).map(|k| w[0][k] as i64 * x[k] as i64).sum();
        assert_eq!(
            q.requant(acc).0 as i64,
            (acc as f64 / 1024.0).round() as i64
        );
    }
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// The emitted Verilog, simulated by Icarus, gives the same outputs in every cycle as rust-hdl.
fn cosim(c: &Config, jobs: &[Job], dir: &str) {
    let beats = pe_driver::program(jobs, c.pe.lanes).unwrap();
    let rust = pe_driver::run_rust(c, &beats, None).unwrap();
    let verilog = nt_hdl::verilog::emit(&mut Pe::new(c), PE_TOP, "co-simulation");
    let icarus = pe_driver::run_verilog(c, &verilog, &beats, &scratch(dir)).unwrap();
    assert_eq!(rust.len(), icarus.len());
    for (cycle, (r, v)) in rust.iter().zip(&icarus).enumerate() {
        assert_eq!(r, v, "cycle {cycle}: rust-hdl and Verilog differ");
    }
    let (want, _) = pe_driver::expected(jobs, c);
    assert_eq!(pe_driver::results(&icarus), want);
}

#[test]
fn emitted_verilog_matches_rust_hdl_cycle_for_cycle() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let c = config(4);
    let mut jobs = random_jobs(&mut rng, 4, 50);
    // Every mode at least once, max and select included, whatever the draw gave.
    jobs.push(Job::Max {
        x: (0..4).map(|_| pool_terms(&mut rng, 6)).collect(),
    });
    jobs.push(select_job(&mut rng, 4, 8));
    cosim(&c, &jobs, "pe_cosim_4");
}

#[test]
fn emitted_verilog_of_the_default_pe_matches() {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let c = Config::default();
    let jobs = random_jobs(&mut rng, 16, 10);
    cosim(&c, &jobs, "pe_cosim_16");
}

#[test]
fn vcd_names_ports_and_pipeline_registers_as_the_verilog_does() {
    let c = config(2);
    let mut rng = ChaCha8Rng::seed_from_u64(19);
    let jobs = random_jobs(&mut rng, 2, 3);
    let beats = pe_driver::program(&jobs, 2).unwrap();
    let path = scratch("pe_vcd").join("pe.vcd");
    pe_driver::run_rust(&c, &beats, Some(&path)).unwrap();
    let mut parser = vcd::Parser::new(std::io::BufReader::new(std::fs::File::open(&path).unwrap()));
    let header = parser.parse_header().unwrap();
    let var = |path: &[&str]| header.find_var(path).map(|v| v.code);
    let valid = var(&["nt_pe", "out_valid"]).expect("port out_valid");
    assert!(
        var(&["nt_pe", "lanes_0", "acc", "q"]).is_some(),
        "lane 0 accumulator register"
    );
    assert!(
        var(&["nt_pe", "lanes_1", "prod_r1", "q"]).is_some(),
        "lane 1 product register"
    );
    assert!(var(&["nt_pe", "opa_1"]).is_some(), "per-lane operand port");
    // The emitted Verilog has the same instances.
    let verilog = nt_hdl::verilog::emit(&mut Pe::new(&c), PE_TOP, "");
    assert!(verilog.contains("nt_pe_lanes_0 lanes_0("));
    assert!(verilog.contains("nt_pe_lanes_0_acc acc("));
    let mut rises = 0;
    for cmd in parser {
        if let vcd::Command::ChangeScalar(code, vcd::Value::V1) = cmd.unwrap() {
            if code == valid {
                rises += 1;
            }
        }
    }
    assert!(rises > 0, "out_valid never rose in the VCD");
}

/// The reuse buffer reads its array only when the word it holds could be stale: the simulation
/// counts each enabled read and write, which the power report charges as SRAM access energy.
#[test]
fn the_reuse_buffer_reads_only_when_its_word_could_change() {
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let c = config(4);
    let jobs: Vec<Job> = (0..2)
        .map(|_| Job::Forward {
            act: Activation::Identity,
            x: rand_vec(&mut rng, 32, -1000, 1000),
            w: rand_mat(&mut rng, 4, 32, -1000, 1000),
            bias: vec![0; 4],
            from_buffer: true,
        })
        .collect();
    let beats = pe_driver::program(&jobs, c.pe.lanes).unwrap();
    let mut toggles = nt_testbench::sim::Toggles::default();
    pe_driver::run_rust_counting(&c, &beats, None, Some(&mut toggles)).unwrap();
    let mask = c.pe.operand_buffer_depth as u16 - 1;
    let (mut writes, mut reads) = (0, 0);
    let (mut last, mut wrote) = (0, false);
    for b in &beats {
        let address = b.buffer_read_address & mask;
        reads += (address != last || wrote) as u64;
        writes += b.buffer_write_enable as u64;
        (last, wrote) = (address, b.buffer_write_enable);
    }
    assert!(writes > 0 && reads > 0 && reads < beats.len() as u64);
    assert_eq!(toggles.memory_bits_accessed, 16 * (reads + writes));
}

/// A forward reduction leaves the registers only an update, a max or a backward reduction reads
/// at rest (their toggles were a quarter of a busy lane's), and the toggle count takes only
/// flip-flops as registers: a requantizer's combinational output `q` is not one. The flags
/// that enable the lanes' clock gates are high as often as the beats and results say.
#[test]
fn a_forward_stream_moves_no_register_another_mode_reads() {
    let mut rng = ChaCha8Rng::seed_from_u64(18);
    let c = config(4);
    let jobs: Vec<Job> = (0..3)
        .map(|_| Job::Forward {
            act: Activation::Relu,
            x: rand_vec(&mut rng, 48, -3000, 3000),
            w: rand_mat(&mut rng, 4, 48, -3000, 3000),
            bias: vec![1 << 20; 4],
            from_buffer: false,
        })
        .collect();
    let beats = pe_driver::program(&jobs, c.pe.lanes).unwrap();
    let mut toggles = nt_testbench::sim::Toggles::default();
    pe_driver::run_rust_counting(&c, &beats, None, Some(&mut toggles)).unwrap();
    let lane = |register: &str| {
        toggles
            .blocks
            .get(&format!("lanes/{register}"))
            .map_or(0, |b| b.register_toggles)
    };
    assert!(lane("opa_r0") > 0 && lane("acc") > 0, "the MAC path moved");
    for idle in ["opa_r1", "weight_r2", "step_r2", "y_r2", "yy_r2"] {
        assert_eq!(lane(idle), 0, "{idle} toggled in a forward stream");
    }
    let requant = toggles.blocks.get("lanes/requant");
    assert_eq!(
        requant.map_or(0, |b| b.register_bits),
        0,
        "a requantizer counted as registers"
    );
    // The flags the clock gates' enables are named after: three results a lane, no update.
    let cycles = toggles.cycles as f64;
    assert_eq!(toggles.duty_of("lanes/k2_emit/q"), Some(3.0 / cycles));
    assert_eq!(toggles.duty_of("lanes/load_update"), Some(0.0));
    assert_eq!(toggles.duty_of("lanes/in_valid"), Some(3.0 * 48.0 / cycles));
}
