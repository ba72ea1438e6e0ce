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

/// One memory macro: its shape and how often it is accessed.
#[derive(Clone, Debug)]
pub struct Memory {
    pub words: u64,
    pub bits: u64,
    pub instances: u64,
    /// Reads plus writes per clock cycle, per instance.
    pub accesses_per_cycle: f64,
}

impl Memory {
    pub fn area_um2(&self) -> f64 {
        (self.words * self.bits * self.instances) as f64 * AREA_PER_BIT_UM2
    }

    /// Power at `clock_mhz` (mW).
    pub fn power_mw(&self, clock_mhz: f64) -> f64 {
        let dynamic_pj_per_cycle = self.accesses_per_cycle * self.bits as f64 * ENERGY_PER_BIT_PJ;
        let dynamic_mw = dynamic_pj_per_cycle * clock_mhz * 1e-6 * 1e3; // pJ x MHz = uW
        let leakage_mw = (self.words * self.bits) as f64 * LEAKAGE_PER_BIT_PW * 1e-9;
        (dynamic_mw + leakage_mw) * self.instances as f64
    }
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
            accesses_per_cycle: 0.0,
        };
        assert!((m.area_um2() - 2.0 * 4096.0 * AREA_PER_BIT_UM2).abs() < 1e-9);
        let busy = Memory {
            accesses_per_cycle: 1.0,
            ..m.clone()
        };
        // One 16-bit access per cycle at 1 GHz: 16 x 0.04 pJ x 1e9 = 0.64 mW per instance.
        assert!((busy.power_mw(1000.0) - m.power_mw(1000.0) - 2.0 * 0.64).abs() < 1e-9);
    }
}
