//! The `[dram]` section: organisation and timing of one vault's DRAM, and the vault controller's
//! request queue.
//!
//! Timing is written either in DRAM clock cycles (`timing_unit = "cycles"`, the Ramulator style)
//! or in nanoseconds (`timing_unit = "ns"`, the gem5/CasHMC style); [`DramConfig::timing`] turns
//! either into whole cycles of `tck_ns`, rounding up, so a constraint is never shortened. The vault
//! controller runs on the DRAM clock: one controller cycle is one tCK.
//!
//! Defaults: HMC 2.1 as Ramulator models it (HMC_2500): tCK 0.8 ns, CL = RCD = RP = 17, RAS = 34,
//! RC = 51, BL = 4, FAW = 17, RFC = 200, REFI 7.8 us, 16 banks of 256-byte rows, 32 data TSVs at
//! 2.5 Gb/s = 10 GB/s = 8 bytes per cycle. The derived constraints CWL = 13, CCD = 4, RTP = 9,
//! WTR = 9, WR = 19, RRD = 8 and RTRS = 2 are Ramulator's HMC_2500 values too (bank groups are not
//! modelled, so the longer same-group WTR and RRD apply everywhere).

use anyhow::{bail, Result};
use serde::{Deserialize, Serialize};

/// Widest DRAM timing in cycles the controller's per-bank and bus timers hold.
pub const MAX_TIMING_CYCLES: u32 = 255;
/// Widest refresh cycle time (tRFC) in cycles the refresh timer holds.
pub const MAX_RFC_CYCLES: u32 = 1023;
/// Widest refresh interval in cycles the refresh interval counter holds.
pub const MAX_REFI_CYCLES: u32 = 65535;
/// Beats per burst the controller's write-data buffer pointers allow.
pub const MAX_BURST_BEATS: u32 = 8;
/// Largest burst: the data-flow engine carries an element's offset in a burst in its tag.
pub const MAX_BURST_BYTES: usize = 64;
/// Cycles the controller's read and write data schedules span (CL + BL and CWL + BL fit).
pub const SCHEDULE_CYCLES: u32 = 32;
/// Reads in flight the controller's response tag queue holds.
pub const MAX_READS_IN_FLIGHT: u32 = 16;
/// Deepest request queue: the controller's per-slot look-ahead vectors are this wide.
pub const MAX_QUEUE_DEPTH: usize = 16;
/// Most banks per vault: the controller's per-bank flag vectors are this wide.
pub const MAX_BANKS: usize = 32;
/// Byte addresses inside a vault are at most this wide.
pub const MAX_VAULT_ADDR_BITS: u32 = 32;
/// A cycle count computed from nanoseconds within this fraction of a whole number is taken as that
/// number (3.2 ns / 0.8 ns must be 4 cycles, not 5).
const NS_ROUNDING_SLACK: f64 = 1e-6;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimingUnit {
    Cycles,
    Ns,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DramConfig {
    /// Banks per vault (power of two, 2..=`MAX_BANKS`).
    pub banks: usize,
    /// Rows per bank (power of two).
    pub rows: usize,
    /// Bytes per row (power of two); a row is also the largest HMC block.
    pub row_bytes: usize,
    /// Bytes the vault's data TSVs move per DRAM clock cycle (multiple of 4, power of two).
    pub bytes_per_cycle: usize,
    /// DRAM clock period (tCK) in nanoseconds; also the vault controller's clock.
    pub tck_ns: f64,
    /// Unit of the timing values below.
    pub timing_unit: TimingUnit,
    /// Read command to first data beat.
    pub cl: f64,
    /// Write command to first data beat.
    pub cwl: f64,
    /// Activate to read or write, same bank.
    pub rcd: f64,
    /// Precharge to activate, same bank.
    pub rp: f64,
    /// Activate to precharge, same bank.
    pub ras: f64,
    /// Activate to activate, same bank.
    pub rc: f64,
    /// Data beats of one burst (cycles the data bus is busy per column command).
    pub bl: f64,
    /// Column command to column command.
    pub ccd: f64,
    /// Read to precharge, same bank.
    pub rtp: f64,
    /// End of write data to read command.
    pub wtr: f64,
    /// End of write data to precharge, same bank (write recovery).
    pub wr: f64,
    /// Activate to activate, different banks.
    pub rrd: f64,
    /// Window in which at most four activates may be issued.
    pub faw: f64,
    /// Refresh to any activate or refresh.
    pub rfc: f64,
    /// Idle cycles on the data bus between a read burst and a write burst.
    pub rtrs: f64,
    /// Average refresh interval in nanoseconds (always ns: it is specified so everywhere).
    pub refi_ns: f64,
    /// Entries of the vault controller's request queue (power of two, 2..=`MAX_QUEUE_DEPTH`).
    pub queue_depth: usize,
    /// Permutation-based interleaving: the bank of an address is its bank field XOR the low bits
    /// of its row field, so that accesses a multiple of `banks x row_bytes` apart (the rows of a
    /// weight matrix read down a column) spread over every bank instead of taking turns on one or
    /// two. Off (the default): the plain row | bank | column mapping. docs/vault.md gives what
    /// it does to the benchmark steps.
    pub bank_xor: bool,
    /// Energy per bit moved inside the stack (DRAM dies and TSVs), picojoules: the system
    /// GOPS/W charges every byte read or written at this rate. Default 3.7 pJ/bit for the DRAM
    /// dies of an HMC (Jeddeloh & Keeth, VLSI 2012); the whole cube with its SerDes links is
    /// about 10.5 pJ/bit.
    pub energy_pj_per_bit: f64,
}

/// The DRAM timing in whole controller cycles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DramTiming {
    pub cl: u32,
    pub cwl: u32,
    pub rcd: u32,
    pub rp: u32,
    pub ras: u32,
    pub rc: u32,
    pub bl: u32,
    pub ccd: u32,
    pub rtp: u32,
    pub wtr: u32,
    pub wr: u32,
    pub rrd: u32,
    pub faw: u32,
    pub rfc: u32,
    pub rtrs: u32,
    pub refi: u32,
}

impl Default for DramConfig {
    fn default() -> Self {
        DramConfig {
            banks: 16,
            rows: 32768,
            row_bytes: 256,
            bytes_per_cycle: 8,
            tck_ns: 0.8,
            timing_unit: TimingUnit::Cycles,
            cl: 17.0,
            cwl: 13.0,
            rcd: 17.0,
            rp: 17.0,
            ras: 34.0,
            rc: 51.0,
            bl: 4.0,
            ccd: 4.0,
            rtp: 9.0,
            wtr: 9.0,
            wr: 19.0,
            rrd: 8.0,
            faw: 17.0,
            rfc: 200.0,
            rtrs: 2.0,
            refi_ns: 7800.0,
            queue_depth: 16,
            bank_xor: false,
            energy_pj_per_bit: 3.7,
        }
    }
}

fn ceil_cycles(ns: f64, tck: f64) -> u32 {
    let c = ns / tck;
    let r = c.round();
    if (c - r).abs() < NS_ROUNDING_SLACK {
        r as u32
    } else {
        c.ceil() as u32
    }
}

impl DramConfig {
    /// The row bits XORed into the bank field (zero without `bank_xor`).
    pub fn bank_xor_mask(&self) -> u64 {
        if self.bank_xor {
            // Only bits of the row field: a vault of fewer rows than banks XORs what it has.
            self.banks.min(self.rows) as u64 - 1
        } else {
            0
        }
    }

    /// Every timing field with its name, in the configured unit.
    fn timing_fields(&self) -> [(&'static str, f64); 15] {
        [
            ("cl", self.cl),
            ("cwl", self.cwl),
            ("rcd", self.rcd),
            ("rp", self.rp),
            ("ras", self.ras),
            ("rc", self.rc),
            ("bl", self.bl),
            ("ccd", self.ccd),
            ("rtp", self.rtp),
            ("wtr", self.wtr),
            ("wr", self.wr),
            ("rrd", self.rrd),
            ("faw", self.faw),
            ("rfc", self.rfc),
            ("rtrs", self.rtrs),
        ]
    }

    fn to_cycles(&self, v: f64) -> u32 {
        match self.timing_unit {
            TimingUnit::Cycles => v.ceil() as u32,
            TimingUnit::Ns => ceil_cycles(v, self.tck_ns),
        }
    }

    /// The timing in controller cycles (rounded up). Call on a validated configuration.
    pub fn timing(&self) -> DramTiming {
        let c = |v| self.to_cycles(v);
        DramTiming {
            cl: c(self.cl),
            cwl: c(self.cwl),
            rcd: c(self.rcd),
            rp: c(self.rp),
            ras: c(self.ras),
            rc: c(self.rc),
            bl: c(self.bl),
            ccd: c(self.ccd),
            rtp: c(self.rtp),
            wtr: c(self.wtr),
            wr: c(self.wr),
            rrd: c(self.rrd),
            faw: c(self.faw),
            rfc: c(self.rfc),
            rtrs: c(self.rtrs),
            refi: ceil_cycles(self.refi_ns, self.tck_ns),
        }
    }

    /// Bytes one column command moves: a burst.
    pub fn burst_bytes(&self) -> usize {
        self.bytes_per_cycle * self.timing().bl as usize
    }

    /// Bursts per row.
    pub fn columns(&self) -> usize {
        self.row_bytes / self.burst_bytes()
    }

    /// Bit position of an address's bank field (row | bank | column | offset, from the top).
    pub fn bank_shift(&self) -> u32 {
        self.row_bytes.trailing_zeros()
    }

    /// Bit position of an address's row field.
    pub fn row_shift(&self) -> u32 {
        self.bank_shift() + self.banks.trailing_zeros()
    }

    /// The bank an address falls in, as the vault controller maps it.
    pub fn bank_of(&self, address: u64) -> usize {
        let bank =
            (address >> self.bank_shift()) ^ ((address >> self.row_shift()) & self.bank_xor_mask());
        (bank as usize) & (self.banks - 1)
    }

    /// Bytes of one vault.
    pub fn vault_bytes(&self) -> u64 {
        (self.banks * self.rows * self.row_bytes) as u64
    }

    /// Peak bandwidth of the vault's data TSVs in GB/s.
    pub fn peak_gb_per_s(&self) -> f64 {
        self.bytes_per_cycle as f64 / self.tck_ns
    }

    /// Checks every field; the error names the first bad one as `dram.<field>`.
    pub fn validate(&self) -> Result<()> {
        let pow2 = |field: &str, v: usize, lo: usize, hi: usize| -> Result<()> {
            if !v.is_power_of_two() || v < lo || v > hi {
                bail!("dram.{field} = {v}: must be a power of two from {lo} to {hi}");
            }
            Ok(())
        };
        pow2("banks", self.banks, 2, MAX_BANKS)?;
        pow2("rows", self.rows, 2, 1 << 16)?;
        pow2("row_bytes", self.row_bytes, 16, 4096)?;
        pow2("bytes_per_cycle", self.bytes_per_cycle, 4, 16)?;
        pow2("queue_depth", self.queue_depth, 2, MAX_QUEUE_DEPTH)?;
        if !(self.energy_pj_per_bit.is_finite() && self.energy_pj_per_bit > 0.0) {
            bail!(
                "dram.energy_pj_per_bit = {}: must be a positive number of picojoules",
                self.energy_pj_per_bit
            );
        }
        let tck = self.tck_ns;
        if !tck.is_finite() || tck <= 0.0 || tck > 100.0 {
            bail!("dram.tck_ns = {tck}: must be a positive period up to 100 ns");
        }
        for (field, v) in self.timing_fields() {
            if !v.is_finite() || v <= 0.0 {
                bail!("dram.{field} = {v}: must be a positive time");
            }
            let c = self.to_cycles(v);
            let max = if field == "rfc" {
                MAX_RFC_CYCLES
            } else {
                MAX_TIMING_CYCLES
            };
            if c > max {
                bail!("dram.{field} = {v}: {c} cycles, more than the {max} the controller's timers hold");
            }
        }
        let t = self.timing();
        if t.rc < t.ras {
            bail!(
                "dram.rc = {}: must be at least dram.ras ({})",
                self.rc,
                self.ras
            );
        }
        let refi = self.refi_ns;
        if !refi.is_finite() || refi <= 0.0 {
            bail!("dram.refi_ns = {refi}: must be a positive time");
        }
        if t.refi > MAX_REFI_CYCLES || t.refi <= 4 * (t.rfc + t.rc) {
            bail!(
                "dram.refi_ns = {refi}: {} cycles, must exceed 4 * (rfc + rc) = {} and be at most {MAX_REFI_CYCLES}",
                t.refi,
                4 * (t.rfc + t.rc)
            );
        }
        let burst = self.bytes_per_cycle * t.bl as usize;
        if burst > self.row_bytes || !burst.is_multiple_of(4) || !burst.is_power_of_two() {
            bail!(
                "dram.bl = {}: a burst of {burst} bytes must be a power of two no larger than dram.row_bytes",
                self.bl
            );
        }
        if t.ccd < t.bl {
            bail!(
                "dram.ccd = {}: must be at least dram.bl: bursts would overlap on the bus",
                self.ccd
            );
        }
        // Limits of the vault controller's data schedules, timers and queues.
        if t.bl > MAX_BURST_BEATS {
            bail!(
                "dram.bl = {}: at most {MAX_BURST_BEATS} beats per burst",
                self.bl
            );
        }
        if self.bytes_per_cycle * t.bl as usize > MAX_BURST_BYTES {
            bail!(
                "dram.bl = {}: bursts larger than {MAX_BURST_BYTES} bytes are not supported",
                self.bl
            );
        }
        if t.cwl < 2 || t.cwl + t.bl > SCHEDULE_CYCLES {
            bail!(
                "dram.cwl = {}: must be at least 2 cycles and cwl + bl at most {SCHEDULE_CYCLES}",
                self.cwl
            );
        }
        if t.cl + t.bl > SCHEDULE_CYCLES {
            bail!(
                "dram.cl = {}: cl + bl must be at most {SCHEDULE_CYCLES} cycles",
                self.cl
            );
        }
        if (t.cl + t.bl) / t.ccd.max(t.bl) + 1 > MAX_READS_IN_FLIGHT {
            bail!(
                "dram.ccd = {}: more than {MAX_READS_IN_FLIGHT} reads would be in flight",
                self.ccd
            );
        }
        if t.cwl + t.bl + t.wr.max(t.wtr) > MAX_TIMING_CYCLES {
            bail!(
                "dram.wr = {}: cwl + bl + max(wr, wtr) exceeds {MAX_TIMING_CYCLES} cycles",
                self.wr
            );
        }
        if self.vault_bytes() > 1u64 << MAX_VAULT_ADDR_BITS {
            bail!(
                "dram.rows = {}: banks x rows x row_bytes exceeds a {MAX_VAULT_ADDR_BITS}-bit address",
                self.rows
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;

    const CASHMC: &str = include_str!("../../configs/dram_cashmc_x32.toml");
    const RAMULATOR: &str = include_str!("../../configs/hmc_ramulator.toml");

    #[test]
    fn defaults_are_hmc_2500() {
        let t = DramConfig::default().timing();
        assert_eq!(
            (t.cl, t.rcd, t.rp, t.ras, t.rc, t.bl),
            (17, 17, 17, 34, 51, 4)
        );
        assert_eq!((t.faw, t.rfc, t.refi), (17, 200, 9750));
        assert_eq!(DramConfig::default().burst_bytes(), 32);
        assert!((DramConfig::default().peak_gb_per_s() - 10.0).abs() < 1e-9);
        let c = Config::from_toml_str(RAMULATOR, "hmc_ramulator.toml").unwrap();
        assert_eq!(c.dram, DramConfig::default());
    }

    #[test]
    fn cashmc_set_converts_from_ns_rounding_up() {
        let c = Config::from_toml_str(CASHMC, "dram_cashmc_x32.toml").unwrap();
        let t = c.dram.timing();
        // 9.9/0.8 = 12.375 -> 13; 10.2 -> 12.75 -> 13; 7.7 -> 9.6 -> 10; 21.6 -> 27; 32 -> 40;
        // 19.2 -> 24; 59 -> 73.75 -> 74; 3.2 -> 4 exactly.
        assert_eq!((t.cl, t.rcd, t.rp, t.ras, t.rc), (13, 13, 10, 27, 40));
        assert_eq!((t.faw, t.rfc, t.bl), (24, 74, 4));
    }

    #[test]
    fn rejects_bad_dram_fields_by_name() {
        let d = DramConfig {
            rc: 20.0,
            ..Default::default()
        };
        assert!(format!("{:#}", d.validate().unwrap_err()).contains("dram.rc"));
        let d = DramConfig {
            cl: 300.0,
            ..Default::default()
        };
        assert!(format!("{:#}", d.validate().unwrap_err()).contains("dram.cl"));
        let d = DramConfig {
            refi_ns: 100.0,
            ..Default::default()
        };
        assert!(format!("{:#}", d.validate().unwrap_err()).contains("dram.refi_ns"));
        let d = DramConfig {
            cwl: 1.0,
            ..Default::default()
        };
        assert!(format!("{:#}", d.validate().unwrap_err()).contains("dram.cwl"));
        let d = DramConfig {
            cl: 30.0,
            ..Default::default()
        };
        assert!(format!("{:#}", d.validate().unwrap_err()).contains("dram.cl"));
        let d = DramConfig {
            queue_depth: 3,
            ..Default::default()
        };
        assert!(format!("{:#}", d.validate().unwrap_err()).contains("dram.queue_depth"));
        let d = DramConfig {
            timing_unit: TimingUnit::Ns,
            tck_ns: f64::NAN,
            ..Default::default()
        };
        assert!(format!("{:#}", d.validate().unwrap_err()).contains("dram.tck_ns"));
    }
}
