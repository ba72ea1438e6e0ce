//! The network on chip under traffic: every packet delivered once, intact, to the right tile, in
//! order per source-destination pair; the mesh drains after injection stops and no packet waits
//! without bound. The emitted Verilog gives the same outputs in every cycle as rust-hdl.

use nt_hdl::router::{Router, PORT_EAST, PORT_NORTH, PORT_SOUTH, PORT_TILE, PORT_WEST};
use nt_hdl::rr_arbiter::PORTS;
use nt_hdl::Config;
use nt_testbench::noc_driver::{self, MESH_TOP};
use nt_testbench::noc_traffic::{self, Geometry, Pattern, Scoreboard, TrafficReport, TrafficSpec};
use nt_testbench::sim::Clocked;
use std::path::PathBuf;

fn config(rows: usize, cols: usize) -> Config {
    let mut c = Config::default();
    c.array.rows = rows;
    c.array.cols = cols;
    c.validate().unwrap();
    c
}

/// Cycles within which a mesh with only in-flight packets left must be empty: every flit it can
/// hold (input buffers, tile buffers, one unfinished packet per source) through a single ejection
/// port at the sinks' rate, plus the longest path at two cycles per hop.
fn drain_bound(c: &Config, spec: &TrafficSpec) -> u64 {
    let n = (c.array.rows * c.array.cols) as u64;
    let d = c.noc.input_buffer_depth as u64;
    let held = n * ((PORTS as u64 + 1) * d + spec.max_payload as u64 + 1);
    let path = 2 * (c.array.rows + c.array.cols) as u64 + 4;
    (held as f64 / spec.sink_rate).ceil() as u64 + path
}

/// Longest a packet may spend in the mesh or a source may wait for a credit. Round-robin serves a
/// waiting header after at most the other four inputs' packets at each router of its path, but
/// those may wait downstream in turn, and shares shrink geometrically along a chain of routers
/// (the parking-lot effect of all-to-one traffic). The bound allows two maximal packets from
/// every tile per hop of the longest path; the measured worst cases are about half of it (4x4
/// all-to-one: about 600 of 1280 cycles). Saturating runs last twice the bound, so a packet that
/// an unfair arbiter never served would exceed it.
fn starvation_bound(c: &Config, spec: &TrafficSpec) -> u64 {
    let n = (c.array.rows * c.array.cols) as u64;
    let hops = (c.array.rows + c.array.cols) as u64;
    let packet = spec.max_payload as u64 + 1;
    let slowdown = (1.0 / spec.sink_rate).ceil() as u64;
    2 * n * packet * hops * slowdown
}

fn run(c: &Config, spec: &TrafficSpec) -> TrafficReport {
    let mut sim = noc_driver::mesh_sim(c).unwrap();
    noc_traffic::run(sim.as_mut(), c, spec).unwrap()
}

/// Runs traffic and checks every property; returns the report for further checks.
fn check(c: &Config, spec: &TrafficSpec) -> TrafficReport {
    let what = format!(
        "{}x{} {:?} offered {}",
        c.array.rows, c.array.cols, spec.pattern, spec.offered
    );
    let r = run(c, spec);
    assert_eq!(
        r.errors.total(),
        0,
        "{what}: {:?}\n{}",
        r.errors,
        r.errors.messages.join("\n")
    );
    assert!(r.packets_sent > 0, "{what}: no traffic");
    assert_eq!(r.packets_delivered, r.packets_sent, "{what}: deliveries");
    let drained = r
        .drain_cycles
        .unwrap_or_else(|| panic!("{what}: not drained within {} cycles", spec.drain_limit));
    let bound = drain_bound(c, spec);
    assert!(
        drained <= bound,
        "{what}: drained in {drained} cycles, bound {bound}"
    );
    let starve = starvation_bound(c, spec);
    eprintln!(
        "{what}: accepted {:.3}, drained in {drained} (bound {bound}), longest in mesh {}, longest source stall {} (bound {starve})",
        r.accepted, r.max_network_latency, r.max_source_stall
    );
    assert!(
        r.max_network_latency <= starve && r.max_source_stall <= starve,
        "{what}: a packet waited {} cycles in the mesh / a source {} cycles (bound {starve})",
        r.max_network_latency,
        r.max_source_stall
    );
    r
}

fn spec(pattern: Pattern, offered: f64, seed: u64) -> TrafficSpec {
    TrafficSpec {
        pattern,
        offered,
        seed,
        ..Default::default()
    }
}

/// Light load, medium load and more than the mesh accepts.
const LOADS: [f64; 3] = [0.05, 0.3, 1.0];

#[test]
fn uniform_random_from_light_load_to_saturation() {
    for (rows, cols) in [(2, 2), (3, 3), (4, 4)] {
        let c = config(rows, cols);
        for (k, &load) in LOADS.iter().enumerate() {
            let r = check(&c, &spec(Pattern::Uniform, load, 10 + k as u64));
            if load < 0.1 {
                // Below saturation the mesh accepts what is offered.
                assert!(
                    (r.accepted - r.offered).abs() < 0.25 * r.offered + 0.01,
                    "{rows}x{cols}: accepted {} of {} offered",
                    r.accepted,
                    r.offered
                );
            }
        }
    }
}

#[test]
fn transpose_traffic() {
    for n in [2, 3, 4] {
        for (k, &load) in LOADS.iter().enumerate() {
            check(
                &config(n, n),
                &spec(Pattern::Transpose, load, 20 + k as u64),
            );
        }
    }
}

#[test]
fn hotspot_traffic() {
    for (n, hot) in [(2, 3), (3, 4), (4, 5)] {
        for (k, &load) in LOADS.iter().enumerate() {
            check(
                &config(n, n),
                &spec(Pattern::Hotspot(hot), load, 30 + k as u64),
            );
        }
    }
}

#[test]
fn nearest_neighbour_traffic_is_accepted_in_full() {
    for n in [2, 3, 4] {
        for (k, &load) in LOADS.iter().enumerate() {
            let r = check(
                &config(n, n),
                &spec(Pattern::NearestNeighbour, load, 40 + k as u64),
            );
            // One hop per packet: the mesh carries far more than uniform traffic.
            if load >= 1.0 {
                assert!(r.accepted > 0.5, "{n}x{n}: accepted only {}", r.accepted);
            }
        }
    }
}

#[test]
fn all_to_one_is_fair_and_limited_by_the_ejection_port() {
    for n in [2, 3, 4] {
        let c = config(n, n);
        let target = n * n / 2;
        for (k, &load) in LOADS.iter().enumerate() {
            let mut s = spec(Pattern::AllToOne(target), load, 50 + k as u64);
            if load >= 1.0 {
                s.measure = 2 * starvation_bound(&c, &s);
            }
            let r = check(&c, &s);
            let senders = (n * n - 1) as f64;
            assert!(
                r.accepted * senders <= 1.0 + 1e-9,
                "{n}x{n}: one tile port accepted {} flits per cycle",
                r.accepted * senders
            );
            if load >= 1.0 {
                assert!(
                    r.accepted * senders > 0.9,
                    "{n}x{n}: the ejection port ran at {}",
                    r.accepted * senders
                );
            }
        }
    }
}

#[test]
fn slow_sinks_back_pressure_without_loss() {
    let c = config(3, 3);
    for (k, pattern) in [Pattern::Uniform, Pattern::AllToOne(0)]
        .into_iter()
        .enumerate()
    {
        let mut s = spec(pattern, 1.0, 60 + k as u64);
        s.sink_rate = 0.3;
        s.drain_limit = 6000;
        check(&c, &s);
    }
}

#[test]
fn other_flit_widths_buffer_depths_and_shapes() {
    let mut cases = vec![];
    let mut c = config(3, 3);
    c.noc.flit_width = 32;
    cases.push(c);
    for depth in [1, 2, 16] {
        let mut c = config(3, 3);
        c.noc.input_buffer_depth = depth;
        cases.push(c);
    }
    cases.push(config(1, 4));
    cases.push(config(4, 1));
    cases.push(config(2, 3));
    for (k, c) in cases.iter().enumerate() {
        for load in [0.2, 1.0] {
            check(c, &spec(Pattern::Uniform, load, 70 + k as u64));
        }
    }
}

#[test]
fn scoreboard_detects_every_kind_of_error() {
    let geo = Geometry { rows: 2, cols: 2 };
    let hdr = |src: usize, dst: usize, tag: u8, len: u8| {
        let (sx, sy) = geo.xy(src);
        let (dx, dy) = geo.xy(dst);
        nt_hdl::flit::Header {
            dest_x: dx as u8,
            dest_y: dy as u8,
            src_x: sx as u8,
            src_y: sy as u8,
            kind: 0,
            tag,
            length: len,
        }
        .encode()
    };
    let fresh = |packets: &[(usize, usize, Vec<u64>)]| {
        let mut b = Scoreboard::new(geo.clone(), 64);
        for (s, d, f) in packets {
            b.expect(*s, *d, f.clone());
        }
        b
    };
    let p0 = vec![hdr(0, 3, 0, 2), 11, 12];
    let p1 = vec![hdr(0, 3, 1, 0)];
    let feed = |b: &mut Scoreboard, node: usize, flits: &[u64]| {
        for (i, &f) in flits.iter().enumerate() {
            b.receive(node, i + 1 == flits.len(), f);
        }
    };
    // Correct delivery: no error.
    let mut b = fresh(&[(0, 3, p0.clone()), (0, 3, p1.clone())]);
    feed(&mut b, 3, &p0);
    feed(&mut b, 3, &p1);
    b.finish();
    assert_eq!(b.errors.total(), 0);
    // Loss.
    let mut b = fresh(&[(0, 3, p0.clone()), (0, 3, p1.clone())]);
    feed(&mut b, 3, &p0);
    b.finish();
    assert_eq!(b.errors.lost, 1);
    // Duplication.
    let mut b = fresh(&[(0, 3, p1.clone())]);
    feed(&mut b, 3, &p1);
    feed(&mut b, 3, &p1);
    assert_eq!(b.errors.duplicated, 1);
    // Corruption of a payload flit.
    let mut b = fresh(&[(0, 3, p0.clone())]);
    feed(&mut b, 3, &[p0[0], 11, 13]);
    assert_eq!(b.errors.corrupted, 1);
    // Misrouting: the packet for tile 3 arrives at tile 2.
    let mut b = fresh(&[(0, 3, p1.clone())]);
    feed(&mut b, 2, &p1);
    assert_eq!(b.errors.misrouted, 1);
    // Reordering within a pair.
    let mut b = fresh(&[(0, 3, p0.clone()), (0, 3, p1.clone())]);
    feed(&mut b, 3, &p1);
    feed(&mut b, 3, &p0);
    assert_eq!(b.errors.out_of_order, 1);
    // A tail mark in the wrong place.
    let mut b = fresh(&[(0, 3, p0.clone())]);
    feed(&mut b, 3, &p0[..2]);
    assert_eq!(b.errors.corrupted, 1);
}

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs traffic in rust-hdl, replays the same inputs through the emitted Verilog under Icarus and
/// requires identical outputs in every cycle.
fn cosim(c: &Config, s: &TrafficSpec, dir: &str) {
    let mut s = s.clone();
    s.record = true;
    let r = check(c, &s);
    let verilog = noc_driver::mesh_verilog(c, "co-simulation").unwrap();
    assert!(verilog.contains(&format!("module {MESH_TOP}(")));
    let icarus = noc_driver::run_verilog(c, &verilog, &r.inputs, &scratch(dir)).unwrap();
    assert_eq!(icarus.len(), r.outputs.len());
    for (cycle, (v, rust)) in icarus.iter().zip(&r.outputs).enumerate() {
        assert_eq!(v, rust, "cycle {cycle}: rust-hdl and Verilog differ");
    }
    assert!(
        r.outputs
            .iter()
            .filter(|o| o.tiles.iter().any(|t| t.valid))
            .count()
            > 50,
        "too little traffic to compare"
    );
}

#[test]
fn emitted_mesh_verilog_matches_rust_hdl_cycle_for_cycle() {
    let mut s = spec(Pattern::Uniform, 0.8, 90);
    s.measure = 300;
    cosim(&config(2, 2), &s, "noc_cosim_2x2");
    let mut c = config(3, 3);
    c.noc.flit_width = 32;
    c.noc.input_buffer_depth = 2;
    let mut s = spec(Pattern::Hotspot(4), 0.6, 91);
    s.measure = 200;
    s.sink_rate = 0.7;
    cosim(&c, &s, "noc_cosim_3x3");
}

#[test]
fn emitted_verilog_of_the_default_4x4_mesh_matches() {
    let mut s = spec(Pattern::Uniform, 0.6, 92);
    s.warmup = 50;
    s.measure = 150;
    cosim(&Config::default(), &s, "noc_cosim_4x4");
}

fn tool(dir: &std::path::Path, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program} (scripts/setup.sh installs it): {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} {args:?} failed:\n{text}");
    text
}

#[test]
fn router_and_mesh_verilog_lint_clean_and_compile() {
    let dir = scratch("noc_lint");
    // An inner router of a 3x3 mesh in both widths; the mesh wiring (all edge cases) on 2x2.
    let mut c = config(3, 3);
    let mut files = vec![];
    for width in [64, 32] {
        c.noc.flit_width = width;
        files.push((
            format!("router{width}.v"),
            noc_driver::ROUTER_TOP,
            noc_driver::router_verilog(&c, 1, 1, "lint").unwrap(),
        ));
    }
    files.push((
        "mesh.v".to_string(),
        MESH_TOP,
        noc_driver::mesh_verilog(&config(2, 2), "lint").unwrap(),
    ));
    {
        for (file, top, text) in files {
            std::fs::write(dir.join(&file), text).unwrap();
            let lint = tool(
                &dir,
                "verilator",
                &["--lint-only", "-Wall", "--top-module", top, &file],
            );
            assert!(!lint.contains("%Warning"), "{file}: {lint}");
            tool(&dir, "iverilog", &["-g2012", "-o", "/dev/null", &file]);
        }
    }
}

/// Output links of a router, in port order (north, east, south, west, tile): valid, tail, data.
fn router_outputs(r: &Router<64>) -> [(bool, bool, u64); PORTS] {
    [
        (&r.north_out_valid, &r.north_out_tail, &r.north_out_data),
        (&r.east_out_valid, &r.east_out_tail, &r.east_out_data),
        (&r.south_out_valid, &r.south_out_tail, &r.south_out_data),
        (&r.west_out_valid, &r.west_out_tail, &r.west_out_data),
        (&r.tile_out_valid, &r.tile_out_tail, &r.tile_out_data),
    ]
    .map(|(v, t, d)| (v.val(), t.val(), d.val().to_u64()))
}

fn header_to(x: usize, y: usize, length: u8) -> u64 {
    nt_hdl::flit::Header {
        dest_x: x as u8,
        dest_y: y as u8,
        length,
        ..Default::default()
    }
    .encode()
}

/// Rising edges from a flit on an input link to the same flit on an output link.
const HOP_CYCLES: usize = 2;

#[test]
fn router_routes_x_then_y_in_two_cycles_per_hop() {
    let c = config(3, 3);
    // From the centre (1,1): column first, then row, then the tile.
    let cases = [
        ((2, 0), PORT_EAST),
        ((0, 2), PORT_WEST),
        ((1, 0), PORT_NORTH),
        ((1, 2), PORT_SOUTH),
        ((1, 1), PORT_TILE),
    ];
    for ((x, y), port) in cases {
        let mut sim = Clocked::new(Router::<64>::new(&c.noc, 1, 1)).unwrap();
        let h = header_to(x, y, 0);
        sim.uut.tile_in_valid.next = true;
        sim.uut.tile_in_tail.next = true;
        sim.uut.tile_in_data.next = h.into();
        let mut seen = vec![];
        for cycle in 0..6 {
            sim.tick().unwrap();
            sim.uut.tile_in_valid.next = false;
            for (p, (v, t, d)) in router_outputs(&sim.uut).into_iter().enumerate() {
                if v {
                    seen.push((cycle + 1, p, t, d));
                }
            }
        }
        assert_eq!(
            seen,
            vec![(HOP_CYCLES, port, true, h)],
            "header for ({x},{y}) from router (1,1)"
        );
    }
}

#[test]
fn router_keeps_an_output_for_one_packet_until_its_tail() {
    let c = config(3, 3);
    let mut sim = Clocked::new(Router::<64>::new(&c.noc, 1, 1)).unwrap();
    // Two 3-flit packets for the east output arrive together from the north and the west.
    let north: Vec<u64> = vec![header_to(2, 1, 2), 0xA1, 0xA2];
    let west: Vec<u64> = vec![header_to(2, 1, 2), 0xB1, 0xB2];
    let mut east = vec![];
    for cycle in 0..16 {
        let k = cycle as usize;
        let u = &mut sim.uut;
        u.north_in_valid.next = k < 3;
        u.north_in_tail.next = k == 2;
        u.north_in_data.next = north.get(k).copied().unwrap_or(0).into();
        u.west_in_valid.next = k < 3;
        u.west_in_tail.next = k == 2;
        u.west_in_data.next = west.get(k).copied().unwrap_or(0).into();
        // The downstream buffer frees every slot at once.
        u.east_credit_in.next = u.east_out_valid.val();
        sim.tick().unwrap();
        let (v, t, d) = router_outputs(&sim.uut)[PORT_EAST];
        if v {
            east.push((d, t));
        }
    }
    let flits: Vec<u64> = east.iter().map(|f| f.0).collect();
    let tails: Vec<bool> = east.iter().map(|f| f.1).collect();
    assert!(
        flits == [north.clone(), west.clone()].concat()
            || flits == [west.clone(), north.clone()].concat(),
        "packets interleaved or lost: {flits:x?}"
    );
    assert_eq!(tails, [false, false, true, false, false, true]);
}
