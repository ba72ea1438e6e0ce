//! The vault controller against the DRAM model: scoreboarded random traffic with refresh, zero
//! timing violations, counters, bandwidth, and the emitted Verilog cycle for cycle.

use nt_hdl::vault_controller::VaultController;
use nt_hdl::Config;
use nt_testbench::dram::{Command, Dram};
use nt_testbench::vault_driver::{self, random_ops, sequential_reads, VAULT_TOP};
use std::path::PathBuf;

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn cashmc() -> Config {
    Config::load(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../configs/dram_cashmc_x32.toml"),
        &[],
    )
    .unwrap()
}

#[test]
fn random_mix_reads_return_the_last_write_with_refresh_and_no_violation() {
    let c = Config::default();
    // A 64 KiB window: 16 banks x 16 rows, so row conflicts are frequent.
    let ops = random_ops(&c, 1, 2500, 0x40_0000, 64 * 1024);
    let run = vault_driver::run_rust(&c, &ops, 0.3, 2, false).unwrap();
    let s = &run.stats;
    let reads = ops.iter().filter(|o| !o.write).count();
    assert_eq!(s.reads_checked, reads);
    assert!(
        s.dram.refresh >= 2,
        "a long run must refresh (got {})",
        s.dram.refresh
    );
    assert_eq!(s.bytes_read, reads as u64 * 32);
    assert_eq!(s.bytes_written, (ops.len() - reads) as u64 * 32);
    assert_eq!(s.row_hits + s.row_misses, ops.len() as u64);
    // Each ACT is issued for one request, counted a miss; a refresh may close a row opened early
    // for a request and force a second ACT for it.
    assert!(s.row_misses <= s.dram.act, "{s:?}");
    assert!(s.dram.act - s.row_misses <= s.dram.refresh * 16, "{s:?}");
    assert!(s.row_misses > 100 && s.row_hits > 100, "{s:?}");
    assert!(s.refresh_stalls > 0);
}

#[test]
fn cashmc_timing_set_runs_clean_too() {
    let c = cashmc();
    let ops = random_ops(&c, 3, 1500, 0, 32 * 1024);
    let run = vault_driver::run_rust(&c, &ops, 0.2, 4, false).unwrap();
    assert_eq!(
        run.stats.reads_checked,
        ops.iter().filter(|o| !o.write).count()
    );
}

#[test]
fn smallest_and_widest_organisations_run_clean() {
    // The look-ahead's per-slot and per-bank vectors at their edges: two banks behind a
    // two-entry queue, and 32 banks (the widest bank field) behind eight entries.
    for (banks, depth, rows) in [(2, 2, 32768), (32, 8, 16384)] {
        let mut c = Config::default();
        c.dram.banks = banks;
        c.dram.queue_depth = depth;
        c.dram.rows = rows;
        c.validate().unwrap();
        let ops = random_ops(&c, 21, 800, 0, 32 * 1024);
        let run = vault_driver::run_rust(&c, &ops, 0.2, 5, false).unwrap();
        let s = &run.stats;
        assert_eq!(s.reads_checked, ops.iter().filter(|o| !o.write).count());
        assert_eq!(s.row_hits + s.row_misses, ops.len() as u64, "{s:?}");
    }
}

#[test]
fn sequential_reads_reach_ninety_percent_of_peak() {
    let c = Config::default();
    // 320 KiB: 40k cycles at peak, spanning four refresh intervals.
    let ops = sequential_reads(&c, 0, 320 * 1024);
    let run = vault_driver::run_rust(&c, &ops, 0.0, 0, false).unwrap();
    let s = &run.stats;
    let pct = 100.0 * s.bytes_read as f64 / (s.cycles as f64 * c.dram.bytes_per_cycle as f64);
    assert!(s.dram.refresh >= 3, "{s:?}");
    assert!(pct >= 90.0, "sequential reads at {pct:.1}% of peak ({s:?})");
    assert!(pct <= 100.0, "faster than the bus: {pct:.1}%");
}

/// Banks the controller activates for reads of `rows` bursts, one per `stride` bytes.
fn banks_activated(c: &Config, stride: u64, rows: u64) -> (std::collections::BTreeSet<u64>, u64) {
    let ops: Vec<_> = (0..rows)
        .flat_map(|r| sequential_reads(c, r * stride, 32))
        .collect();
    let run = vault_driver::run_rust(c, &ops, 0.0, 0, true).unwrap();
    assert_eq!(run.stats.reads_checked, ops.len());
    let ports = vault_driver::output_ports(c.dram.bytes_per_cycle / 4);
    let at = |name: &str| ports.iter().position(|p| p.name == name).unwrap();
    let (cmd, bank) = (at("cmd"), at("cmd_bank"));
    let banks = run
        .outputs
        .iter()
        .filter(|o| o[cmd] == nt_hdl::vault_controller::cmd_code::ACT)
        .map(|o| o[bank])
        .collect();
    (banks, run.stats.cycles)
}

#[test]
fn with_bank_xor_a_walk_down_the_rows_of_a_matrix_spreads_over_every_bank() {
    // Rows of 2 KiB (a 256-input layer's weight records): one burst of each, as a transposed
    // product reads them. Under the plain mapping they take turns on two banks, a row miss each.
    let mut c = Config::default();
    let stride = (c.dram.banks * c.dram.row_bytes / 2) as u64;
    let (plain_banks, plain_cycles) = banks_activated(&c, stride, 64);
    c.dram.bank_xor = true;
    let (xor_banks, xor_cycles) = banks_activated(&c, stride, 64);
    assert_eq!(xor_banks.len(), c.dram.banks, "{xor_banks:?}");
    assert_eq!(plain_banks.len(), 2, "{plain_banks:?}");
    assert!(
        2 * xor_cycles < plain_cycles,
        "{xor_cycles} cycles with the XOR mapping, {plain_cycles} without"
    );
    // Data still round-trip under the XOR mapping, refresh and row conflicts included.
    let ops = random_ops(&c, 5, 1500, 0x40_0000, 64 * 1024);
    let run = vault_driver::run_rust(&c, &ops, 0.3, 6, false).unwrap();
    assert_eq!(
        run.stats.reads_checked,
        ops.iter().filter(|o| !o.write).count()
    );
}

#[test]
fn the_checker_rejects_a_bad_command_sequence_fed_directly() {
    let mut d = Dram::new(&Config::default().dram);
    d.step(Command::Act { bank: 5, row: 9 }, None).unwrap();
    for _ in 0..10 {
        d.step(Command::Nop, None).unwrap();
    }
    let v = d.step(Command::Rd { bank: 5, col: 0 }, None).unwrap_err();
    assert_eq!((v.constraint, v.bank, v.cycle), ("tRCD", Some(5), 11));
    assert!(
        v.to_string().contains("cycle 11: tRCD violated on bank 5"),
        "{v}"
    );
}

/// The emitted Verilog under Icarus, fed the same inputs cycle by cycle (the DRAM model's read
/// beats included), gives the same outputs in every cycle as rust-hdl.
fn cosim(c: &Config, ops_seed: u64, count: usize, dir: &str) {
    let ops = random_ops(c, ops_seed, count, 0x10_0000, 16 * 1024);
    let run = vault_driver::run_rust(c, &ops, 0.3, ops_seed, true).unwrap();
    let verilog = nt_hdl::verilog::emit(&mut VaultController::new(c), VAULT_TOP, "co-simulation");
    let icarus = vault_driver::run_verilog(c, &verilog, &run.inputs, &scratch(dir)).unwrap();
    assert_eq!(icarus.len(), run.outputs.len());
    for (cycle, (r, v)) in run.outputs.iter().zip(&icarus).enumerate() {
        assert_eq!(r, v, "cycle {cycle}: rust-hdl and Verilog differ");
    }
}

#[test]
fn emitted_verilog_matches_rust_hdl_cycle_for_cycle_through_refresh() {
    let mut c = Config::default();
    // A short refresh interval (1250 cycles) puts several refreshes in a short run.
    c.dram.refi_ns = 1000.0;
    c.dram.queue_depth = 4;
    c.validate().unwrap();
    cosim(&c, 7, 500, "vault_cosim");
}

#[test]
fn emitted_verilog_of_the_default_controller_matches() {
    cosim(&Config::default(), 8, 300, "vault_cosim_default");
}

#[test]
fn back_to_back_writes_then_reads_of_the_same_bursts() {
    // Write turnaround (WTR, RTRS) and write recovery on every bank, with no idle cycles.
    let c = Config::default();
    let mut ops = random_ops(&c, 11, 0, 0, 1 << 20);
    for pass in 0..2u8 {
        for i in 0..300u64 {
            let addr = 0x20_0000 + i * 32 * 37 % (1 << 16);
            let write = pass == 0 || i % 3 == 0;
            ops.push(nt_testbench::vault_driver::Op {
                write,
                addr,
                data: (0..32)
                    .map(|b| (i as u8).wrapping_mul(13) ^ b ^ pass)
                    .collect(),
                mask: vec![true; 32],
            });
        }
    }
    let run = vault_driver::run_rust(&c, &ops, 0.0, 0, false).unwrap();
    assert_eq!(
        run.stats.reads_checked,
        ops.iter().filter(|o| !o.write).count()
    );
    assert_eq!(
        run.stats.dram.wr as usize,
        ops.iter().filter(|o| o.write).count()
    );
}

#[test]
fn idle_stays_low_until_the_last_write_is_in_the_dram() {
    // A short burst of writes and nothing after: the queue empties at the last WR, and the data
    // beats follow CWL cycles later. The driver checks `idle` against what is outstanding on
    // every cycle and ends the run on it.
    let c = Config::default();
    let mut ops = random_ops(&c, 5, 0, 0, 1 << 20);
    for i in 0..12u64 {
        ops.push(nt_testbench::vault_driver::Op {
            write: true,
            addr: 0x1_0000 + i * 32 * 41 % (1 << 15),
            data: (0..32).map(|b| (i as u8).wrapping_mul(29) ^ b).collect(),
            mask: vec![true; 32],
        });
    }
    let run = vault_driver::run_rust(&c, &ops, 0.0, 0, false).unwrap();
    assert_eq!(run.stats.dram.wr, 12);
}
