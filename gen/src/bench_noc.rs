//! `ntgen bench noc`: latency against offered load for uniform random traffic on the configured
//! mesh, up to and past saturation, with the saturation throughput next to the bisection bound.
//!
//! Each load point runs the rust-hdl mesh with the testbench's sources, sinks and scoreboard: a
//! warm-up, a measurement window in which packets are tagged, then creation stops and every queued
//! packet is still delivered, so the latency of each tagged packet is known. The scoreboard checks
//! every delivery; lost packets are reported, not hidden.

use crate::cli::ConfigArgs;
use anyhow::{bail, Context, Result};
use clap::Args;
use nt_hdl::Config;
use nt_testbench::noc_driver::mesh_sim;
use nt_testbench::noc_traffic::{self, Pattern, TrafficSpec};
use serde::Serialize;
use serde_json::json;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// Offered loads swept, flits per node per cycle; the last ones lie past any 4x4 mesh's capacity.
const LOADS: [f64; 12] = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0];
/// Payload flits per packet are uniform in 0..=MAX_PAYLOAD (mean packet: 3 flits).
const MAX_PAYLOAD: usize = 4;
/// Cycles allowed for the backlog after the window, in multiples of warm-up plus window.
const DRAIN_FACTOR: u64 = 10;
/// Latency percentile reported beside the mean.
const TAIL_PERCENTILE: f64 = 99.0;

#[derive(Args, Debug)]
pub struct BenchNocArgs {
    #[command(flatten)]
    pub config: ConfigArgs,
    /// Print the result as JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Also draw latency against offered load into this SVG file.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Warm-up cycles per load point.
    #[arg(long, default_value_t = 300)]
    pub warmup: u64,
    /// Measurement-window cycles per load point.
    #[arg(long, default_value_t = 1000)]
    pub window: u64,
    /// Seed of the traffic's random choices.
    #[arg(long, default_value_t = 2017)]
    pub seed: u64,
}

#[derive(Serialize, Clone, Debug)]
pub struct LoadPoint {
    pub offered: f64,
    pub accepted: f64,
    pub mean_latency: f64,
    pub p99_latency: u64,
}

/// Uniform-random channel-load bound: over every straight cut of the mesh, the traffic crossing
/// it (each node sends the share of its load addressed to the other side) must fit the links
/// crossing it, one flit per link and direction per cycle; a node also ejects at most one flit
/// per cycle. Returns flits per node per cycle.
pub fn bisection_bound(rows: usize, cols: usize) -> f64 {
    let n = (rows * cols) as f64;
    let mut bound: f64 = 1.0;
    let mut cuts = |lanes: usize, sides: usize, per_line: usize| {
        for k in 1..sides {
            let a = (k * per_line) as f64;
            let b = n - a;
            bound = bound.min(lanes as f64 * (n - 1.0) / (a * b));
        }
    };
    cuts(rows, cols, rows);
    cuts(cols, rows, cols);
    bound
}

pub fn command(args: &BenchNocArgs) -> Result<()> {
    let config = args.config.load()?;
    if config.array.rows * config.array.cols < 2 {
        bail!("array.rows x array.cols = 1: uniform traffic needs at least two tiles");
    }
    let t0 = Instant::now();
    let mut curve = vec![];
    let mut lost = 0;
    let mut errors = 0;
    for (k, &offered) in LOADS.iter().enumerate() {
        let spec = TrafficSpec {
            pattern: Pattern::Uniform,
            offered,
            max_payload: MAX_PAYLOAD,
            warmup: args.warmup,
            measure: args.window,
            withdraw_at_stop: false,
            drain_limit: DRAIN_FACTOR * (args.warmup + args.window),
            sink_rate: 1.0,
            seed: args.seed + k as u64,
            record: false,
        };
        let mut sim = mesh_sim(&config)?;
        let r = noc_traffic::run(sim.as_mut(), &config, &spec)
            .with_context(|| format!("simulating offered load {offered}"))?;
        lost += r.errors.lost;
        errors += r.errors.total();
        if !args.json {
            eprintln!(
                "offered {offered:.2}: accepted {:.3}, mean latency {:.1}, {} cycles",
                r.accepted,
                r.mean_latency(),
                r.cycles
            );
        }
        curve.push(LoadPoint {
            offered: r.offered,
            accepted: r.accepted,
            mean_latency: r.mean_latency(),
            p99_latency: r.percentile_latency(TAIL_PERCENTILE),
        });
    }
    let saturation = curve.iter().map(|p| p.accepted).fold(0.0, f64::max);
    let bound = bisection_bound(config.array.rows, config.array.cols);
    let result = json!({
        "mesh": { "rows": config.array.rows, "cols": config.array.cols },
        "flit_width": config.noc.flit_width,
        "input_buffer_depth": config.noc.input_buffer_depth,
        "traffic": "uniform random",
        "max_payload_flits": MAX_PAYLOAD,
        "latency_from": "packet creation (source queue included) to tail delivery, cycles",
        "warmup_cycles": args.warmup,
        "window_cycles": args.window,
        "saturation_flits_per_node_cycle": saturation,
        "bisection_bound_flits_per_node_cycle": bound,
        "saturation_fraction_of_bound": saturation / bound,
        "packets_lost": lost,
        "scoreboard_errors": errors,
        "latency_curve": curve,
        "wall_seconds": t0.elapsed().as_secs_f64(),
    });
    if let Some(path) = &args.plot {
        std::fs::write(path, svg(&config, &curve, saturation, bound))
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&result)?);
    } else {
        println!(
            "{}x{} mesh, {}-bit flits, {}-flit input buffers, uniform random traffic",
            config.array.rows,
            config.array.cols,
            config.noc.flit_width,
            config.noc.input_buffer_depth
        );
        println!("  offered  accepted  mean latency  p99 latency");
        for p in &curve {
            println!(
                "  {:7.3}  {:8.3}  {:12.1}  {:11}",
                p.offered, p.accepted, p.mean_latency, p.p99_latency
            );
        }
        println!(
            "saturation {saturation:.3} flits/node/cycle = {:.0}% of the bisection bound {bound:.3}; {lost} packets lost",
            100.0 * saturation / bound
        );
    }
    if errors > 0 {
        bail!("the scoreboard found {errors} errors ({lost} packets lost)");
    }
    Ok(())
}

/// Latency (mean and p99) against offered load, with the saturation throughput and the
/// bisection bound marked.
fn svg(config: &Config, curve: &[LoadPoint], saturation: f64, bound: f64) -> String {
    const W: f64 = 640.0;
    const H: f64 = 420.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 40.0;
    const BOTTOM: f64 = 60.0;
    let x_max = curve
        .iter()
        .map(|p| p.offered)
        .fold(bound, f64::max)
        .max(1.0);
    let y_max = curve
        .iter()
        .map(|p| p.p99_latency as f64)
        .fold(10.0, f64::max)
        * 1.05;
    let px = |x: f64| LEFT + (W - LEFT - RIGHT) * x / x_max;
    let py = |y: f64| H - BOTTOM - (H - TOP - BOTTOM) * y / y_max;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="14">{}x{} mesh, uniform random: latency vs offered load</text>"#,
        W / 2.0,
        config.array.rows,
        config.array.cols
    );
    let (x0, y0, x1, y1) = (px(0.0), py(0.0), px(x_max), py(y_max));
    let _ = writeln!(
        s,
        r#"<path d="M{x0:.1},{y1:.1} L{x0:.1},{y0:.1} L{x1:.1},{y0:.1}" fill="none" stroke="black"/>"#
    );
    for i in 0..=5 {
        let xv = x_max * i as f64 / 5.0;
        let yv = y_max * i as f64 / 5.0;
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{xv:.2}</text>"#,
            px(xv),
            y0 + 18.0
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{yv:.0}</text>"#,
            x0 - 6.0,
            py(yv) + 4.0
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">offered load (flits/node/cycle)</text>"#,
        (x0 + x1) / 2.0,
        H - 15.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{:.1}" text-anchor="middle" transform="rotate(-90 18 {:.1})">latency (cycles)</text>"#,
        (y0 + y1) / 2.0,
        (y0 + y1) / 2.0
    );
    for (value, colour, label) in [
        (saturation, "#d62728", "saturation"),
        (bound, "#7f7f7f", "bisection bound"),
    ] {
        let x = px(value);
        let _ = writeln!(
            s,
            r#"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{y1:.1}" stroke="{colour}" stroke-dasharray="5,4"/>"#
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{label} {value:.3}</text>"#,
            x + 4.0,
            y1 + 14.0 + if label == "saturation" { 0.0 } else { 14.0 }
        );
    }
    for (values, colour, label, row) in [
        (
            curve
                .iter()
                .map(|p| (p.offered, p.mean_latency))
                .collect::<Vec<_>>(),
            "#1f77b4",
            "mean",
            0.0,
        ),
        (
            curve
                .iter()
                .map(|p| (p.offered, p.p99_latency as f64))
                .collect::<Vec<_>>(),
            "#ff7f0e",
            "p99",
            1.0,
        ),
    ] {
        let points: Vec<String> = values
            .iter()
            .map(|&(x, y)| format!("{:.1},{:.1}", px(x), py(y)))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline points="{}" fill="none" stroke="{colour}" stroke-width="2"/>"#,
            points.join(" ")
        );
        for &(x, y) in &values {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{colour}"/>"#,
                px(x),
                py(y)
            );
        }
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" fill="{colour}">{label} latency</text>"#,
            x0 + 10.0,
            y1 + 14.0 + 14.0 * row
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn bisection_bound_of_square_and_odd_meshes() {
        // 4x4: the middle cut has 4 links per direction and 8 x 8 node pairs across it.
        assert!((super::bisection_bound(4, 4) - 4.0 * 15.0 / 64.0).abs() < 1e-12);
        // 1x2: one link each way, each node sends everything across.
        assert!((super::bisection_bound(1, 2) - 1.0).abs() < 1e-12);
        // 3x3: any cut carries 3 * 8 / 18 > 1, so one flit per node and cycle at the ejection
        // ports is the tighter limit.
        assert_eq!(super::bisection_bound(3, 3), 1.0);
        // 2x8: the middle vertical cut has two links for 8 x 8 node pairs.
        assert!((super::bisection_bound(2, 8) - 2.0 * 15.0 / 64.0).abs() < 1e-12);
    }
}
