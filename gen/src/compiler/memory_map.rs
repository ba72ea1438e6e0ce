//! The DRAM memory map of a compiled network: one layout, the same in every vault, so that a
//! tensor copied between vaults lands at the same address.

use anyhow::{bail, Result};
use nt_hdl::dram_config::DramConfig;
use std::collections::BTreeMap;

/// Regions start on this boundary (one DRAM burst at the widest configuration).
pub const REGION_ALIGN: u64 = 64;
/// The narrowest element's alignment (16-bit activations).
const ELEMENT_ALIGN: u64 = 2;

/// Bytes of a weight or bias record: the 32-bit master value. Its 16-bit MAC value is not
/// stored: the streams that read MAC weights derive them from the masters (narrowed streams).
pub const RECORD_BYTES: u64 = 4;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    pub name: String,
    pub base: u64,
    pub bytes: u64,
}

#[derive(Clone, Debug, Default)]
pub struct MemoryMap {
    regions: BTreeMap<String, Region>,
    order: Vec<String>,
    next: u64,
}

impl MemoryMap {
    /// Reserves `bytes` under `name`; returns the base address.
    pub fn alloc(&mut self, name: &str, bytes: u64) -> u64 {
        assert!(!self.regions.contains_key(name), "region {name} twice");
        let base = self.next;
        self.next = (base + bytes).div_ceil(REGION_ALIGN) * REGION_ALIGN;
        self.regions.insert(
            name.to_string(),
            Region {
                name: name.to_string(),
                base,
                bytes,
            },
        );
        self.order.push(name.to_string());
        base
    }

    /// Reserves `bytes` under `name` as [`MemoryMap::alloc`] does, but past a gap (less than
    /// one DRAM row per bank) where needed so that an element at any offset from the base lies
    /// in the same DRAM row as the element at that offset from `partner`'s base, or in another
    /// bank (`partner` allocated before). A stream that alternates between the two regions then
    /// keeps a row open for each, where two rows of one bank would close each other at every
    /// element (a max pool's outputs and their positions, written in pairs, lay 32 KiB apart in
    /// bench_conv: every write a row miss).
    pub fn alloc_apart(&mut self, name: &str, bytes: u64, partner: u64, dram: &DramConfig) -> u64 {
        let row_shift = dram.row_shift();
        let period = (dram.row_bytes * dram.banks) as u64;
        let share_row = |a: u64, b: u64| a >> row_shift == b >> row_shift;
        // Every element offset over one cycle of the banks (elements are 2-byte aligned).
        let apart = |base: u64| {
            (0..period.min(bytes.max(1)))
                .step_by(ELEMENT_ALIGN as usize)
                .map(|k| (base + k, partner + k))
                .all(|(a, b)| share_row(a, b) || dram.bank_of(a) != dram.bank_of(b))
        };
        if let Some(base) = (0..period)
            .step_by(REGION_ALIGN as usize)
            .map(|gap| self.next + gap)
            .find(|&b| apart(b))
        {
            self.next = base;
        }
        self.alloc(name, bytes)
    }

    /// Bytes in use.
    pub fn used(&self) -> u64 {
        self.next
    }

    /// Regions in allocation order.
    pub fn regions(&self) -> impl Iterator<Item = &Region> {
        self.order.iter().map(|n| &self.regions[n])
    }

    /// Fails, naming the largest regions, when the map does not fit a vault.
    pub fn check_fits(&self, vault_bytes: u64) -> Result<()> {
        if self.next > vault_bytes {
            let mut big: Vec<&Region> = self.regions.values().collect();
            big.sort_by(|a, b| b.bytes.cmp(&a.bytes).then(a.name.cmp(&b.name)));
            let top: Vec<String> = big
                .iter()
                .take(3)
                .map(|r| format!("{} ({} bytes)", r.name, r.bytes))
                .collect();
            bail!(
                "the network needs {} bytes per vault but a vault holds {vault_bytes} (largest: {})",
                self.next,
                top.join(", ")
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No element of the new region shares a bank with the one at its offset in the partner
    /// but on another row.
    fn clash_free(dram: &DramConfig, partner: u64, base: u64, bytes: u64) -> bool {
        (0..bytes).step_by(2).all(|k| {
            let (a, b) = (base + k, partner + k);
            a >> dram.row_shift() == b >> dram.row_shift() || dram.bank_of(a) != dram.bank_of(b)
        })
    }

    #[test]
    fn a_region_apart_from_its_partner_shares_no_bank_on_another_row() {
        let dram = DramConfig::default();
        let period = (dram.row_bytes * dram.banks) as u64;
        // Eight banks' worth of rows: right after the partner, every element would meet its
        // partner's bank on another row.
        let mut map = MemoryMap::default();
        let y = map.alloc("y", 8 * period);
        assert!(!clash_free(&dram, y, map.used(), 8 * period));
        let arg = map.alloc_apart("arg", 8 * period, y, &dram);
        assert!(arg >= y + 8 * period && arg < y + 9 * period, "{arg:#x}");
        assert!(clash_free(&dram, y, arg, 8 * period));
        // Small neighbours share their rows: no gap.
        let mut map = MemoryMap::default();
        let y = map.alloc("y", 128);
        let next = map.used();
        assert_eq!(map.alloc_apart("arg", 128, y, &dram), next);
    }
}
