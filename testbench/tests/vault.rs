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
