//! `ntgen bench memory`: sustained bandwidth of one vault (the rust-hdl vault controller with the
//! DRAM model and its timing checker in the loop) as a percentage of the vault's peak.
//!
//! Two workloads: long sequential burst reads, and reads of random 32-byte-aligned bursts over the
//! whole vault. Bandwidth counts the bytes read between the first request and the last read beat;
//! peak is `bytes_per_cycle` every DRAM cycle. Refresh is part of every run that spans an interval.

use crate::cli::BenchMemoryArgs;
use anyhow::{Context, Result};
use nt_hdl::Config;
use nt_testbench::vault_driver::{run_rust, sequential_reads, Op, RunStats};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::json;

/// Bytes of the sequential workload: spans several refresh intervals at the default timing.
const SEQUENTIAL_BYTES: u64 = 512 * 1024;
/// Requests of the random workload.
const RANDOM_READS: usize = 4000;
/// Seed of the random addresses (the figures are reproducible).
const RANDOM_SEED: u64 = 2017;

fn pct_of_peak(config: &Config, s: &RunStats) -> f64 {
    100.0 * s.bytes_read as f64 / (s.cycles as f64 * config.dram.bytes_per_cycle as f64)
}

fn random_reads(config: &Config) -> Vec<Op> {
    let mut rng = ChaCha8Rng::seed_from_u64(RANDOM_SEED);
    let bb = config.dram.burst_bytes() as u64;
    let bursts = config.dram.vault_bytes() / bb;
    (0..RANDOM_READS)
        .map(|_| Op {
            write: false,
            addr: rng.gen_range(0..bursts) * bb,
            data: vec![],
            mask: vec![],
        })
        .collect()
}

pub fn bench_memory_command(args: &BenchMemoryArgs) -> Result<()> {
    let config = args.config.load()?;
    let seq = run_rust(
        &config,
        &sequential_reads(&config, 0, SEQUENTIAL_BYTES),
        0.0,
        0,
        false,
    )
    .context("sequential read workload")?
    .stats;
    let rnd = run_rust(&config, &random_reads(&config), 0.0, 0, false)
        .context("random read workload")?
        .stats;
    let seq_pct = pct_of_peak(&config, &seq);
    let rnd_pct = pct_of_peak(&config, &rnd);
    let hit_rate = |s: &RunStats| s.row_hits as f64 / (s.row_hits + s.row_misses).max(1) as f64;
    // The row-hit rate of the sequential stream: the figure the open-page policy is for.
    let row_hit_rate = hit_rate(&seq);
    if args.json {
        let report = json!({
            "seq_read_pct_of_peak": seq_pct,
            "random_read_pct_of_peak": rnd_pct,
            "row_hit_rate": row_hit_rate,
            "random_row_hit_rate": hit_rate(&rnd),
            "peak_gb_per_s": config.dram.peak_gb_per_s(),
            "sequential": { "bytes": seq.bytes_read, "cycles": seq.cycles, "refreshes": seq.dram.refresh, "refresh_stall_cycles": seq.refresh_stalls },
            "random": { "bytes": rnd.bytes_read, "cycles": rnd.cycles, "refreshes": rnd.dram.refresh, "refresh_stall_cycles": rnd.refresh_stalls },
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let peak = config.dram.peak_gb_per_s();
        println!(
            "vault peak: {peak:.2} GB/s ({} B per {} ns cycle)",
            config.dram.bytes_per_cycle, config.dram.tck_ns
        );
        println!(
            "sequential reads: {seq_pct:.1}% of peak ({:.2} GB/s; {} B in {} cycles, {} refreshes)",
            peak * seq_pct / 100.0,
            seq.bytes_read,
            seq.cycles,
            seq.dram.refresh
        );
        println!(
            "random 32-byte reads: {rnd_pct:.1}% of peak ({:.2} GB/s; {} B in {} cycles)",
            peak * rnd_pct / 100.0,
            rnd.bytes_read,
            rnd.cycles
        );
        println!(
            "row-hit rate: {:.3} sequential, {:.3} random",
            row_hit_rate,
            hit_rate(&rnd)
        );
    }
    Ok(())
}
