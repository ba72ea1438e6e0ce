//! The DRAM memory map of a compiled network: one layout, the same in every vault, so that a
//! tensor copied between vaults lands at the same address.

use anyhow::{bail, Result};
use std::collections::BTreeMap;

/// Regions start on this boundary (one DRAM burst at the widest configuration).
pub const REGION_ALIGN: u64 = 64;

/// Bytes of a weight or bias record: the 32-bit master value, then the 16-bit MAC value (and two
/// bytes of padding), so that one update stream writes both.
pub const RECORD_BYTES: u64 = 8;
/// Offset of the MAC value inside a record.
pub const RECORD_MAC_OFFSET: u64 = 4;

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
