//! Clock gating of a netlist's enabled flip-flops: the step a commercial synthesis flow's
//! clock-gating insertion does and this Yosys does not. Yosys infers an enable where a
//! register's next value is its own output under a condition (a PE stage's registers hold
//! between beats); synth.ys keeps those flip-flops as `$_DFFE_*` cells. Here the flip-flops that
//! share a clock and an enable, at least [`MIN_GATED_FLOPS`] of them, take their clock from one
//! integrated clock-gating cell of the library and become plain flip-flops; map.ys turns the
//! other enables into multiplexers, as before. While the enable is low the gated flip-flops'
//! clock pins stand still, which is most of an idle block's power (docs/flow.md).

use crate::fanout;
use anyhow::{bail, Context, Result};
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// Flip-flops one gate must serve at least: one NanGate 15nm gate (0.84 um^2) costs about what
/// the feedback multiplexers (0.64 um^2 each) of two of them do, and a clock-tree branch more.
pub const MIN_GATED_FLOPS: usize = 4;

/// Prefix of the gate cells the pass adds (the timing script stops them by this name at rest).
pub const GATE_PREFIX: &str = "clock_gate_";

/// An integrated clock-gating cell (`clock_gating_integrated_cell : latch_posedge...`): the
/// clock passes while the enable, latched while the clock is low, is high.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClockGate {
    pub cell: String,
    pub clock_pin: String,
    pub enable_pin: String,
    /// The scan-test enable, tied low.
    pub test_pin: Option<String>,
    pub out_pin: String,
}

/// What the pass did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Gated {
    pub gates: usize,
    pub flops: usize,
    /// Per gate: the names its enable net goes by, and the flip-flops it serves.
    pub enables: Vec<GateEnable>,
}

/// One gate's enable and load.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GateEnable {
    /// The public one-bit net names of the enable (`k2_emit.q`, a port's name), sorted; none
    /// where synthesis derived it from several signals.
    pub names: Vec<String>,
    pub flops: usize,
}

/// The plain flip-flop type of an enabled one with a rising clock edge and a positive enable
/// (`$_DFFE_PN0P_` -> `$_DFF_PN0_`), the kind a rising-edge gate serves; None for any other.
fn without_enable(cell_type: &str) -> Option<String> {
    let rest = cell_type.strip_prefix("$_DFFE_P")?;
    let control = rest.strip_suffix("P_")?;
    Some(format!("$_DFF_P{control}_"))
}

/// Gates every module of a Yosys JSON netlist in place; what it did per module (each module
/// once, however many instances it has).
pub fn gate_netlist(netlist: &mut Value, gate: &ClockGate) -> Result<BTreeMap<String, Gated>> {
    let modules = netlist
        .get_mut("modules")
        .and_then(Value::as_object_mut)
        .context("the JSON netlist has no modules")?;
    let mut done = BTreeMap::new();
    for (name, module) in modules.iter_mut() {
        if module["attributes"].get("blackbox").is_some() {
            continue;
        }
        let g = gate_module(module, gate).with_context(|| format!("gating module {name}"))?;
        if g.gates > 0 {
            done.insert(name.clone(), g);
        }
    }
    Ok(done)
}

fn gate_module(module: &mut Value, gate: &ClockGate) -> Result<Gated> {
    let mut next_bit = fanout::next_free_bit(module);
    // The public one-bit names of each net bit, for the enables'.
    let mut names_of: BTreeMap<u64, Vec<String>> = BTreeMap::new();
    if let Some(names) = module["netnames"].as_object() {
        for (name, n) in names {
            let public = n["hide_name"].as_u64() == Some(0);
            if let (true, Some([bit])) = (public, n["bits"].as_array().map(Vec::as_slice)) {
                if let Some(bit) = bit.as_u64() {
                    names_of.entry(bit).or_default().push(name.clone());
                }
            }
        }
    }
    let Some(cells) = module["cells"].as_object_mut() else {
        return Ok(Gated::default());
    };
    // Flip-flops by (clock, enable); constant clocks or enables are left to Yosys.
    let mut groups: BTreeMap<(u64, u64), Vec<String>> = BTreeMap::new();
    for (name, c) in cells.iter() {
        let Some(t) = c["type"].as_str() else {
            continue;
        };
        if without_enable(t).is_none() {
            continue;
        }
        let pin = |p: &str| c["connections"][p].get(0).and_then(Value::as_u64);
        if let (Some(clk), Some(en)) = (pin("C"), pin("E")) {
            groups.entry((clk, en)).or_default().push(name.clone());
        }
    }
    let mut done = Gated::default();
    let mut clock_nets = vec![];
    for ((clk, en), flops) in groups {
        if flops.len() < MIN_GATED_FLOPS {
            continue;
        }
        let name = format!("{GATE_PREFIX}{}", done.gates);
        if cells.contains_key(&name) {
            bail!("the netlist already has a cell named {name}");
        }
        let gclk = next_bit;
        next_bit += 1;
        let mut dirs = Map::new();
        let mut conns = Map::new();
        let mut pin = |p: &str, dir: &str, net: Value| {
            dirs.insert(p.to_string(), json!(dir));
            conns.insert(p.to_string(), json!([net]));
        };
        pin(&gate.clock_pin, "input", json!(clk));
        pin(&gate.enable_pin, "input", json!(en));
        if let Some(t) = &gate.test_pin {
            pin(t, "input", json!("0"));
        }
        pin(&gate.out_pin, "output", json!(gclk));
        for f in &flops {
            let c = cells.get_mut(f).expect("a grouped cell");
            let plain = without_enable(c["type"].as_str().unwrap_or("")).expect("an enabled type");
            c["type"] = json!(plain);
            for m in ["connections", "port_directions"] {
                if let Some(o) = c[m].as_object_mut() {
                    o.remove("E");
                }
            }
            c["connections"]["C"] = json!([gclk]);
        }
        cells.insert(
            name.clone(),
            json!({
                "hide_name": 0,
                "type": gate.cell,
                "parameters": {},
                "attributes": {},
                "port_directions": dirs,
                "connections": conns,
            }),
        );
        clock_nets.push((format!("{name}_clock"), gclk));
        done.gates += 1;
        done.flops += flops.len();
        done.enables.push(GateEnable {
            names: names_of.get(&en).cloned().unwrap_or_default(),
            flops: flops.len(),
        });
    }
    if let Some(names) = module["netnames"].as_object_mut() {
        for (name, bit) in clock_nets {
            names.insert(
                name,
                json!({ "hide_name": 0, "bits": [bit], "attributes": {} }),
            );
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gate() -> ClockGate {
        ClockGate {
            cell: "ICG".into(),
            clock_pin: "CK".into(),
            enable_pin: "EN".into(),
            test_pin: Some("SE".into()),
            out_pin: "GCK".into(),
        }
    }

    fn dffe(clk: u64, en: u64, d: u64, q: u64) -> Value {
        json!({
            "hide_name": 1,
            "type": "$_DFFE_PN0P_",
            "parameters": {}, "attributes": {},
            "port_directions": { "C": "input", "D": "input", "E": "input", "R": "input", "Q": "output" },
            "connections": { "C": [clk], "D": [d], "E": [en], "R": ["1"], "Q": [q] },
        })
    }

    /// Clock 2; enable 3 serves five flip-flops, enable 4 two, enable 5 four with another
    /// clock (6); a plain flip-flop on clock 2. Net names reach bit 99; enable 3 goes by two
    /// public names (and a hidden one, and a bit of a bus), enable 5 by none.
    fn netlist() -> Value {
        let mut cells = Map::new();
        for k in 0..5 {
            cells.insert(format!("a{k}"), dffe(2, 3, 10 + k, 20 + k));
        }
        for k in 0..2 {
            cells.insert(format!("b{k}"), dffe(2, 4, 30 + k, 40 + k));
        }
        for k in 0..4 {
            cells.insert(format!("c{k}"), dffe(6, 5, 50 + k, 60 + k));
        }
        cells.insert(
            "plain".into(),
            json!({ "type": "$_DFF_PN0_", "connections": { "C": [2], "D": [7], "R": ["1"], "Q": [8] } }),
        );
        json!({ "modules": {
            "lib_cell": { "attributes": { "blackbox": "00000000000000000000000000000001" } },
            "top": {
                "attributes": {},
                "ports": { "clock": { "direction": "input", "bits": [2] } },
                "cells": cells,
                "netnames": {
                    "unused": { "hide_name": 0, "bits": [99], "attributes": {} },
                    "load_a": { "hide_name": 0, "bits": [3], "attributes": {} },
                    "k2_emit.q": { "hide_name": 0, "bits": [3], "attributes": {} },
                    "$auto$3": { "hide_name": 1, "bits": [3], "attributes": {} },
                    "bus": { "hide_name": 0, "bits": [3, 4], "attributes": {} },
                },
            },
        }})
    }

    #[test]
    fn flip_flops_sharing_a_clock_and_an_enable_take_one_gate() {
        let mut n = netlist();
        let done = gate_netlist(&mut n, &gate()).unwrap();
        assert_eq!(done.len(), 1);
        let enables = vec![
            GateEnable {
                names: vec!["k2_emit.q".into(), "load_a".into()],
                flops: 5,
            },
            GateEnable {
                names: vec![],
                flops: 4,
            },
        ];
        assert_eq!(
            done["top"],
            Gated {
                gates: 2,
                flops: 9,
                enables
            }
        );
        let cells = n["modules"]["top"]["cells"].as_object().unwrap();
        // Gates in (clock, enable) order: (2, 3) then (6, 5); their outputs on fresh bits.
        let g0 = &cells["clock_gate_0"];
        assert_eq!(g0["type"], "ICG");
        assert_eq!(g0["connections"]["CK"], json!([2]));
        assert_eq!(g0["connections"]["EN"], json!([3]));
        assert_eq!(g0["connections"]["SE"], json!(["0"]));
        assert_eq!(g0["port_directions"]["GCK"], "output");
        let g1 = &cells["clock_gate_1"];
        assert_eq!(g1["connections"]["CK"], json!([6]));
        assert_eq!(g1["connections"]["EN"], json!([5]));
        let (q0, q1) = (
            g0["connections"]["GCK"][0].as_u64().unwrap(),
            g1["connections"]["GCK"][0].as_u64().unwrap(),
        );
        assert!(q0 >= 100 && q1 >= 100 && q0 != q1, "{q0} {q1}");
        for k in 0..5 {
            let a = &cells[&format!("a{k}")];
            assert_eq!(a["type"], "$_DFF_PN0_");
            assert_eq!(a["connections"]["C"], json!([q0]));
            assert_eq!(a["connections"]["D"], json!([10 + k]));
            assert!(a["connections"].get("E").is_none() && a["port_directions"].get("E").is_none());
        }
        for k in 0..4 {
            assert_eq!(cells[&format!("c{k}")]["connections"]["C"], json!([q1]));
        }
        // Two flip-flops are too few for a gate: Yosys gives them multiplexers.
        for k in 0..2 {
            let b = &cells[&format!("b{k}")];
            assert_eq!(b["type"], "$_DFFE_PN0P_");
            assert_eq!(b["connections"]["C"], json!([2]));
        }
        assert_eq!(cells["plain"]["connections"]["C"], json!([2]));
        let names = n["modules"]["top"]["netnames"].as_object().unwrap();
        assert_eq!(names["clock_gate_0_clock"]["bits"], json!([q0]));
    }

    #[test]
    fn only_positive_enables_lose_their_enable() {
        assert_eq!(
            without_enable("$_DFFE_PN0P_").as_deref(),
            Some("$_DFF_PN0_")
        );
        assert_eq!(without_enable("$_DFFE_PP_").as_deref(), Some("$_DFF_P_"));
        assert_eq!(without_enable("$_DFFE_PN0N_"), None);
        assert_eq!(without_enable("$_DFFE_NN0P_"), None, "a falling clock edge");
        assert_eq!(without_enable("$_DFF_PN0_"), None);
        assert_eq!(without_enable("NAND2_X1"), None);
    }
}
