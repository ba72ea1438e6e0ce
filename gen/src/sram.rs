//! SRAM area and energy model for the design's memories (operand buffers, queues, program
//! memories), which synthesis would otherwise count as flip-flop arrays.
//!
//! Figures for a 15nm-class FinFET process at 0.8 V (docs/flow.md gives the sources):
//! - area: a 0.07 um^2 high-density 6T bit cell (16nm FinFET class) at 50% array efficiency for
//!   macros of a few kilobits: 0.14 um^2 per bit;
//! - dynamic energy: 0.04 pJ per bit read or written (Horowitz, ISSCC 2014: an 8 KB SRAM reads 64
//!   bits for 10 pJ at 45nm, 0.16 pJ/bit, scaled by 0.25 to 15nm and 0.8 V);
//! - leakage: 30 pW per bit.

/// Area of one stored bit, array periphery included (um^2).
pub const AREA_PER_BIT_UM2: f64 = 0.07 / 0.5;
/// Energy per bit read or written (pJ).
pub const ENERGY_PER_BIT_PJ: f64 = 0.16 * 0.25;
/// Leakage per stored bit (pW).
pub const LEAKAGE_PER_BIT_PW: f64 = 30.0;

/// One memory macro: its shape and how many the design holds.
#[derive(Clone, Debug)]
pub struct Memory {
    pub words: u64,
    pub bits: u64,
    pub instances: u64,
}

impl Memory {
    pub fn area_um2(&self) -> f64 {
        (self.words * self.bits * self.instances) as f64 * AREA_PER_BIT_UM2
    }

    /// Leakage of every instance (mW).
    pub fn leakage_mw(&self) -> f64 {
        (self.words * self.bits * self.instances) as f64 * LEAKAGE_PER_BIT_PW * 1e-9
    }
}

/// Power of `bits_per_cycle` bits read or written at `clock_mhz` (mW).
pub fn access_power_mw(bits_per_cycle: f64, clock_mhz: f64) -> f64 {
    // pJ per cycle x MHz = uW.
    bits_per_cycle * ENERGY_PER_BIT_PJ * clock_mhz * 1e-3
}

/// Energy of `bits` bits read or written (uJ).
pub fn access_energy_uj(bits: f64) -> f64 {
    bits * ENERGY_PER_BIT_PJ * 1e-6
}

/// Memories marked in emitted Verilog by `// nt:memory words=N bits=B` inside their module.
pub fn memories_in(verilog: &str) -> Vec<(String, u64, u64)> {
    let mut out = vec![];
    let mut module = String::new();
    for line in verilog.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("module ") {
            module = rest.split('(').next().unwrap_or("").trim().to_string();
        } else if let Some(rest) = t.strip_prefix("// nt:memory ") {
            let field = |k: &str| {
                rest.split_whitespace()
                    .find_map(|f| f.strip_prefix(k).and_then(|v| v.strip_prefix('=')))
                    .and_then(|v| v.parse().ok())
            };
            if let (Some(w), Some(b)) = (field("words"), field("bits")) {
                out.push((module.clone(), w, b));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_marked_memories() {
        let v = "module a_buf(x);\n  // nt:memory words=256 bits=16 ports=1r1w\nendmodule\nmodule b(y);\nendmodule\n";
        assert_eq!(memories_in(v), vec![("a_buf".to_string(), 256, 16)]);
    }

    #[test]
    fn costs_scale_with_size_and_use() {
        let m = Memory {
            words: 256,
            bits: 16,
            instances: 2,
        };
        assert!((m.area_um2() - 2.0 * 4096.0 * AREA_PER_BIT_UM2).abs() < 1e-9);
        // 8,192 bits at 30 pW each.
        assert!((m.leakage_mw() - 8192.0 * 30e-9).abs() < 1e-12);
        // One 16-bit access per cycle at 1 GHz: 16 x 0.04 pJ x 1e9 = 0.64 mW.
        assert!((access_power_mw(16.0, 1000.0) - 0.64).abs() < 1e-9);
        // The same accesses over a microsecond: 0.64 mW x 1 us = 640 pJ.
        assert!((access_energy_uj(16.0 * 1000.0) - 640e-6).abs() < 1e-12);
    }
}
