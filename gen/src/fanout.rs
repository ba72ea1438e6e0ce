//! Fanout buffering of a mapped netlist: the step a placement flow's `repair_design` does and
//! this Yosys's ABC script does not. Without it a flip-flop that selects the operands of every
//! lane drives a thousand pins through one X1 output, and timing reads that as the design's limit.
//!
//! The pass works on the netlist Yosys writes as JSON: every net driven by a cell (or, inside a
//! submodule, by an input port) with more than [`MAX_FANOUT`] loads gets a tree of the library's
//! buffer, [`MAX_FANOUT`] loads per buffer. Nets that reach a clock pin, directly or through a
//! submodule's port, are left alone: clock trees are a placement step, and timing takes the
//! clock as ideal.

use crate::clock_gating::ClockGate;
use anyhow::{bail, Context, Result};
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};

/// Loads one net (or one buffer) may drive before it is split.
pub const MAX_FANOUT: usize = 16;

/// Prefix of the buffer cells and nets the pass adds.
const BUFFER_PREFIX: &str = "fanout_buf_";

/// What the pass needs from the cell library.
#[derive(Clone, Debug, Default)]
pub struct CellFacts {
    /// The buffer used for trees: (cell, input pin, output pin).
    pub buffer: Option<(String, String, String)>,
    /// (cell, pin) pairs marked `clock : true`.
    pub clock_pins: BTreeSet<(String, String)>,
    /// The smallest integrated clock-gating cell that gates on a rising edge, if any.
    pub clock_gate: Option<ClockGate>,
}

/// One `pin (name) { ... }` group's attributes.
struct Pin<'a> {
    name: &'a str,
    direction: &'a str,
    function: Option<String>,
    clock: bool,
    /// Which `clock_gate_*_pin` role it has, if any (`clock`, `enable`, `test`, `out`).
    gate_role: Option<&'a str>,
}

/// A simple attribute `key : value ;` of a group, the value without quotes.
fn attribute<'a>(group: &'a str, key: &str) -> Option<&'a str> {
    group.split([';', '{', '}', '\n']).find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == key).then(|| v.trim().trim_matches('"'))
    })
}

impl CellFacts {
    /// Reads the buffers and clock pins of a Liberty library. Of the buffers (one input, one
    /// output whose function is the input), a 4x-drive one where the names say (`BUF_X4`,
    /// `BUFx4`), else the one of median area: strong enough for 16 loads, small enough not to
    /// load its own driver much. The embedded library has `BUF_X4` too, so that both build the
    /// same trees.
    pub fn from_liberty(text: &str) -> CellFacts {
        let mut facts = CellFacts::default();
        let mut buffers: Vec<(f64, String, String, String)> = vec![];
        let mut gates: Vec<(f64, ClockGate)> = vec![];
        for (cell, body) in crate::flow::groups(text, "cell") {
            let pins: Vec<Pin> = crate::flow::groups(body, "pin")
                .into_iter()
                .map(|(name, g)| Pin {
                    name,
                    direction: attribute(g, "direction").unwrap_or(""),
                    function: attribute(g, "function").map(|f| {
                        f.chars()
                            .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
                            .collect()
                    }),
                    clock: attribute(g, "clock") == Some("true"),
                    gate_role: ["clock", "enable", "test", "out"]
                        .into_iter()
                        .find(|r| attribute(g, &format!("clock_gate_{r}_pin")) == Some("true")),
                })
                .collect();
            let area = || -> f64 {
                attribute(body, "area")
                    .and_then(|a| a.parse().ok())
                    .unwrap_or(0.0)
            };
            let posedge_gate = attribute(body, "clock_gating_integrated_cell")
                .is_some_and(|k| k.starts_with("latch_posedge"));
            if posedge_gate {
                let role = |r: &str| {
                    pins.iter()
                        .find(|p| p.gate_role == Some(r))
                        .map(|p| p.name.to_string())
                };
                if let (Some(clock_pin), Some(enable_pin), Some(out_pin)) =
                    (role("clock"), role("enable"), role("out"))
                {
                    gates.push((
                        area(),
                        ClockGate {
                            cell: cell.to_string(),
                            clock_pin,
                            enable_pin,
                            test_pin: role("test"),
                            out_pin,
                        },
                    ));
                }
            }
            for p in pins.iter().filter(|p| p.clock) {
                facts
                    .clock_pins
                    .insert((cell.to_string(), p.name.to_string()));
            }
            let inputs: Vec<&Pin> = pins.iter().filter(|p| p.direction == "input").collect();
            let outputs: Vec<&Pin> = pins.iter().filter(|p| p.direction == "output").collect();
            if let ([i], [o]) = (inputs.as_slice(), outputs.as_slice()) {
                if o.function.as_deref() == Some(i.name) {
                    buffers.push((area(), cell.into(), i.name.into(), o.name.into()));
                }
            }
        }
        buffers.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)));
        let median = buffers.len().saturating_sub(1) / 2;
        let pick = buffers
            .iter()
            .position(|b| is_drive_4(&b.1))
            .unwrap_or(median);
        facts.buffer = buffers
            .get(pick)
            .map(|(_, c, i, o)| (c.clone(), i.clone(), o.clone()));
        gates.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cell.cmp(&b.1.cell)));
        facts.clock_gate = gates.into_iter().next().map(|(_, g)| g);
        facts
    }
}

/// A cell name that says drive strength 4: `..X4` or `..x4` not followed by a digit.
fn is_drive_4(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.match_indices("x4").any(|(i, _)| {
        !lower[i + 2..]
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit())
    })
}

/// A load: (cell name, port, bit index in the port).
type Load = (String, String, usize);

/// Buffers every module of a Yosys JSON netlist in place and drops the library's blackbox
/// modules (so that the result reads back after `read_liberty -lib`). Returns the buffers added.
pub fn buffer_netlist(netlist: &mut Value, facts: &CellFacts) -> Result<usize> {
    let Some((buf, buf_in, buf_out)) = &facts.buffer else {
        bail!("the cell library has no buffer (a cell whose output function is its one input)");
    };
    let modules = netlist
        .get_mut("modules")
        .and_then(Value::as_object_mut)
        .context("the JSON netlist has no modules")?;
    modules.retain(|_, m| m["attributes"].get("blackbox").is_none());
    let clocks = clock_pins(modules, facts);
    let mut added = 0;
    for (name, module) in modules.iter_mut() {
        added += buffer_module(module, (buf, buf_in, buf_out), &clocks, facts)
            .with_context(|| format!("buffering module {name}"))?;
    }
    Ok(added)
}

/// The net bits of a JSON bit list (constants such as `"0"` left out).
fn bits(list: &Value) -> impl Iterator<Item = u64> + '_ {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
}

/// The first bit number no port, cell or net name of `module` uses: free for a new net. (A bit
/// only a net name holds, an unused wire, must not be reused either.)
pub fn next_free_bit(module: &Value) -> u64 {
    let ports = module["ports"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.values());
    let names = module["netnames"]
        .as_object()
        .into_iter()
        .flat_map(|n| n.values());
    let lists = ports.chain(names).map(|v| &v["bits"]).chain(
        module["cells"]
            .as_object()
            .into_iter()
            .flat_map(|c| c.values())
            .flat_map(|c| {
                c["connections"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
            }),
    );
    lists.flat_map(bits).fold(0, |m, b| m.max(b + 1))
}

/// The library's clock pins, and the input ports of the netlist's modules that reach one (a
/// register block's `clock`), so that a clock passed down the hierarchy is never buffered.
fn clock_pins(
    modules: &serde_json::Map<String, Value>,
    facts: &CellFacts,
) -> BTreeSet<(String, String)> {
    let mut clocks = facts.clock_pins.clone();
    loop {
        let mut found = vec![];
        for (name, m) in modules {
            let on_clock = clock_bits(m, &clocks);
            for (port, p) in m["ports"].as_object().into_iter().flatten() {
                let reaches = bits(&p["bits"]).any(|b| on_clock.contains(&b));
                let key = (name.clone(), port.clone());
                if p["direction"] == "input" && reaches && !clocks.contains(&key) {
                    found.push(key);
                }
            }
        }
        if found.is_empty() {
            return clocks;
        }
        clocks.extend(found);
    }
}

/// The bits of `module` that reach a clock pin (`clock_pins`: (cell type, port)).
fn clock_bits(module: &Value, clock_pins: &BTreeSet<(String, String)>) -> BTreeSet<u64> {
    let mut on_clock = BTreeSet::new();
    for c in module["cells"]
        .as_object()
        .into_iter()
        .flat_map(|c| c.values())
    {
        let ctype = c["type"].as_str().unwrap_or("");
        for (port, b) in c["connections"].as_object().into_iter().flatten() {
            if clock_pins.contains(&(ctype.to_string(), port.clone())) {
                on_clock.extend(bits(b));
            }
        }
    }
    on_clock
}

fn buffer_module(
    module: &mut Value,
    buffer: (&str, &str, &str),
    clock_pins: &BTreeSet<(String, String)>,
    facts: &CellFacts,
) -> Result<usize> {
    let is_top = module["attributes"].get("top").is_some();
    let mut drivers: BTreeSet<u64> = BTreeSet::new();
    let mut loads: BTreeMap<u64, Vec<Load>> = BTreeMap::new();
    let clocks = clock_bits(module, clock_pins);
    let mut next_bit = next_free_bit(module);
    if let Some(ports) = module["ports"].as_object() {
        for p in ports.values() {
            if p["direction"] == "input" && !is_top {
                drivers.extend(bits(&p["bits"]));
            }
        }
    }
    let empty = serde_json::Map::new();
    let cells = module["cells"].as_object().unwrap_or(&empty);
    for (cname, c) in cells {
        let conns = c["connections"]
            .as_object()
            .context("a cell has no connections")?;
        for (port, bits) in conns {
            let dir = c["port_directions"][port.as_str()].as_str().unwrap_or("");
            for (i, b) in bits.as_array().into_iter().flatten().enumerate() {
                let Some(b) = b.as_u64() else { continue };
                match dir {
                    "input" => {
                        loads
                            .entry(b)
                            .or_default()
                            .push((cname.clone(), port.clone(), i));
                    }
                    "output" => {
                        drivers.insert(b);
                    }
                    _ => {}
                }
            }
        }
    }
    // A clock gate's output is the root of a subtree that clock-tree synthesis would buffer: one
    // gate cell drives hundreds of clock pins, and its slew would otherwise swell their power.
    let gated: BTreeSet<u64> = match &facts.clock_gate {
        Some(g) => cells
            .values()
            .filter(|c| c["type"].as_str() == Some(g.cell.as_str()))
            .flat_map(|c| bits(&c["connections"][g.out_pin.as_str()]))
            .collect(),
        None => BTreeSet::new(),
    };
    let (buf, buf_in, buf_out) = buffer;
    let mut added = 0;
    let mut new_cells = vec![];
    let mut moves: Vec<(Load, u64)> = vec![];
    for (net, mut sinks) in loads {
        if !drivers.contains(&net) || (clocks.contains(&net) && !gated.contains(&net)) {
            continue;
        }
        // Bottom-up: each group of loads gets a buffer; the buffers become the net's loads, until
        // the net itself drives no more than the limit.
        let mut buffered = false;
        while sinks.len() > MAX_FANOUT {
            buffered = true;
            let mut level = vec![];
            for group in sinks.chunks(MAX_FANOUT) {
                added += 1;
                let name = format!("{BUFFER_PREFIX}{added}");
                let out = next_bit;
                next_bit += 1;
                for load in group {
                    moves.push((load.clone(), out));
                }
                new_cells.push((name.clone(), out));
                level.push((name, buf_in.to_string(), 0));
            }
            sinks = level;
        }
        // The buffers of the last level hang on the net itself.
        if buffered {
            for load in sinks {
                moves.push((load, net));
            }
        }
    }
    let cells_obj = module["cells"].as_object_mut();
    let Some(cells_obj) = cells_obj else {
        return Ok(0);
    };
    for (name, out) in &new_cells {
        cells_obj.insert(
            name.clone(),
            json!({
                "hide_name": 0,
                "type": buf,
                "parameters": {},
                "attributes": {},
                "port_directions": { buf_in: "input", buf_out: "output" },
                "connections": { buf_in: ["x"], buf_out: [out] },
            }),
        );
    }
    // A buffer's input is set when its own driver is known (a move onto it, or onto the net).
    for ((cell, port, i), to) in moves {
        let slot = cells_obj
            .get_mut(&cell)
            .and_then(|c| c["connections"].get_mut(&port))
            .and_then(|b| b.get_mut(i))
            .with_context(|| format!("no pin {cell}.{port}[{i}]"))?;
        *slot = json!(to);
    }
    if let Some(names) = module["netnames"].as_object_mut() {
        for (name, out) in new_cells {
            names.insert(
                format!("{name}_z"),
                json!({ "hide_name": 0, "bits": [out], "attributes": {} }),
            );
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIB: &str = r#"library (l) {
  cell (BUF_X4) { area : 2.0; pg_pin (VDD) { direction : input; } pin (I) { direction : input; } pin (Z) { direction : output; function : "I"; } }
  cell (BUF_X2) { area : 1.0; pin (I) { direction : input; } pin (Z) { direction : output; function : "(I)"; } }
  cell (BUF_X3) { area : 1.0; pin (I) { direction : input; } pin (Z) { direction : output; function : "I"; } }
  cell (BUF_X16) { area : 8.0; pin (I) { direction : input; } pin (Z) { direction : output; function : "I"; } }
  cell (INV_X1) { area : 0.5; pin (I) { direction : input; } pin (ZN) { direction : output; function : "!I"; } }
  cell (DFF) { area : 4.0; pin (D) { direction : input; } pin (CK) { direction : input; clock : true; }
    pin (Q) { direction : output; function : "IQ"; } }
  cell (ICG_X2) { area : 1.5; clock_gating_integrated_cell : latch_posedge;
    pin (CK) { direction : input; clock_gate_clock_pin : true; } pin (EN) { direction : input; clock_gate_enable_pin : true; }
    pin (GCK) { direction : output; clock_gate_out_pin : true; state_function : "CK & IQ"; } }
  cell (ICG_X1) { area : 1.0; clock_gating_integrated_cell : latch_posedge_precontrol;
    pin (CK) { direction : input; clock_gate_clock_pin : true; } pin (EN) { direction : input; clock_gate_enable_pin : true; }
    pin (SE) { direction : input; clock_gate_test_pin : true; }
    pin (GCK) { direction : output; clock_gate_out_pin : true; state_function : "CK & IQ"; } }
  cell (ICGN_X1) { area : 0.5; clock_gating_integrated_cell : latch_negedge;
    pin (CKN) { direction : input; clock_gate_clock_pin : true; } pin (EN) { direction : input; clock_gate_enable_pin : true; }
    pin (GCKN) { direction : output; clock_gate_out_pin : true; state_function : "CKN | IQ"; } }
}"#;

    #[test]
    fn reads_the_4x_buffer_and_the_clock_pins() {
        let f = CellFacts::from_liberty(LIB);
        assert_eq!(
            f.buffer,
            Some(("BUF_X4".to_string(), "I".to_string(), "Z".to_string()))
        );
        // Without an X4, the lower median by area of X2, X3 (1.0 each, by name), X5, X16.
        let f = CellFacts::from_liberty(&LIB.replace("BUF_X4", "BUF_X5"));
        assert_eq!(f.buffer.unwrap().0, "BUF_X3");
        assert!(is_drive_4("BUFx4f_ASAP7_75t_R") && is_drive_4("BUF_X4"));
        assert!(!is_drive_4("BUF_X48") && !is_drive_4("BUF_X1"));
        assert!(f
            .clock_pins
            .contains(&("DFF".to_string(), "CK".to_string())));
        assert!(!f.clock_pins.contains(&("DFF".to_string(), "D".to_string())));
        // The smaller of the two rising-edge gates; the falling-edge one is no use.
        assert_eq!(
            f.clock_gate,
            Some(ClockGate {
                cell: "ICG_X1".into(),
                clock_pin: "CK".into(),
                enable_pin: "EN".into(),
                test_pin: Some("SE".into()),
                out_pin: "GCK".into(),
            })
        );
        let f = CellFacts::from_liberty(
            &LIB.replace("cell (ICG_X1)", "cell (ICG_X3)")
                .replace("area : 1.0; clock_gating", "area : 3.0; clock_gating"),
        );
        assert_eq!(
            f.clock_gate.unwrap().test_pin,
            None,
            "ICG_X2 has no test pin"
        );
    }

    #[test]
    fn a_gated_clock_is_buffered_as_a_clock_tree_would_be() {
        // The clock (bit 2) reaches a gate, whose output (bit 5) clocks 40 flip-flops.
        let facts = CellFacts::from_liberty(LIB);
        let mut cells = serde_json::Map::new();
        cells.insert(
            "gate".into(),
            json!({"type": "ICG_X1", "port_directions": {"CK": "input", "EN": "input", "GCK": "output"},
                   "connections": {"CK": [2], "EN": [3], "GCK": [5]}}),
        );
        for k in 0..40 {
            cells.insert(
                format!("ff{k}"),
                json!({"type": "DFF", "port_directions": {"D": "input", "CK": "input", "Q": "output"},
                       "connections": {"D": [100 + k], "CK": [5], "Q": [200 + k]}}),
            );
        }
        let mut n = json!({"modules": {"top": {"attributes": {"top": "1"},
            "ports": {"clock": {"direction": "input", "bits": [2]}, "en": {"direction": "input", "bits": [3]}},
            "cells": cells, "netnames": {}}}});
        assert_eq!(buffer_netlist(&mut n, &facts).unwrap(), 3);
        let f = fanout(&n["modules"]["top"]);
        assert_eq!(f[&5], 3, "the gate drives three buffers");
        assert_eq!(f[&2], 1);
    }

    /// A module where one flip-flop's output (bit 3) drives `n` inverters, and the clock (bit 2)
    /// drives every flip-flop.
    fn netlist(n: u64) -> Value {
        let mut cells = serde_json::Map::new();
        cells.insert(
            "ff".into(),
            json!({"type": "DFF", "port_directions": {"D": "input", "CK": "input", "Q": "output"},
                   "connections": {"D": [4], "CK": [2], "Q": [3]}}),
        );
        for k in 0..n {
            cells.insert(
                format!("inv{k}"),
                json!({"type": "INV_X1", "port_directions": {"I": "input", "ZN": "output"},
                       "connections": {"I": [3], "ZN": [100 + k]}}),
            );
            cells.insert(
                format!("ff{k}"),
                json!({"type": "DFF", "port_directions": {"D": "input", "CK": "input", "Q": "output"},
                       "connections": {"D": [100 + k], "CK": [2], "Q": [4]}}),
            );
        }
        json!({"modules": {
            "INV_X1": {"attributes": {"blackbox": "1"}},
            "top": {"attributes": {"top": "1"},
                    "ports": {"clock": {"direction": "input", "bits": [2]}},
                    "cells": cells, "netnames": {}}}})
    }

    fn fanout(module: &Value) -> BTreeMap<u64, usize> {
        let mut f = BTreeMap::new();
        for c in module["cells"].as_object().unwrap().values() {
            for (p, bits) in c["connections"].as_object().unwrap() {
                if c["port_directions"][p.as_str()] == "input" {
                    for b in bits.as_array().unwrap() {
                        *f.entry(b.as_u64().unwrap()).or_default() += 1;
                    }
                }
            }
        }
        f
    }

    #[test]
    fn splits_a_wide_net_into_a_tree_and_leaves_the_clock() {
        let facts = CellFacts::from_liberty(LIB);
        let loads = 300;
        let mut n = netlist(loads);
        let added = buffer_netlist(&mut n, &facts).unwrap();
        // 300 loads: 19 buffers of 16, then 2 buffers above them.
        assert_eq!(added, 19 + 2);
        assert!(n["modules"].get("INV_X1").is_none(), "blackboxes dropped");
        let top = &n["modules"]["top"];
        let f = fanout(top);
        assert!(f.iter().all(|(&b, &k)| k <= MAX_FANOUT || b == 2));
        assert_eq!(f[&2], loads as usize + 1, "the clock net is not buffered");
        assert_eq!(f[&3], 2);
        // Every inverter is still reached from bit 3 through buffers only.
        let cells = top["cells"].as_object().unwrap();
        let driver_of = |b: u64| {
            cells
                .values()
                .find(|c| c["type"] == "BUF_X4" && c["connections"]["Z"][0].as_u64() == Some(b))
        };
        for k in 0..loads {
            let mut b = cells[&format!("inv{k}")]["connections"]["I"][0]
                .as_u64()
                .unwrap();
            let mut depth = 0;
            while let Some(buf) = driver_of(b) {
                b = buf["connections"]["I"][0].as_u64().unwrap();
                depth += 1;
            }
            assert_eq!((b, depth), (3, 2), "inverter {k}");
        }
    }

    #[test]
    fn a_clock_passed_down_the_hierarchy_is_not_buffered() {
        // `lane` takes the clock on a port and feeds its flip-flop; `pe`, inside `top`, hands
        // its own clock port to 40 lanes; `top` drives `pe` from a flip-flop's output bit 5 too
        // (a data net, 40 loads through pe's `d` port, to be buffered).
        let lane = json!({"attributes": {},
            "ports": {"clock": {"direction": "input", "bits": [2]},
                      "d": {"direction": "input", "bits": [3]}},
            "cells": {"ff": {"type": "DFF",
                "port_directions": {"D": "input", "CK": "input", "Q": "output"},
                "connections": {"D": [3], "CK": [2], "Q": [4]}}},
            "netnames": {}});
        let mut lanes = serde_json::Map::new();
        for k in 0..40 {
            lanes.insert(
                format!("lane{k}"),
                json!({"type": "lane", "port_directions": {"clock": "input", "d": "input"},
                       "connections": {"clock": [2], "d": [3]}}),
            );
        }
        let pe = json!({"attributes": {},
            "ports": {"clock": {"direction": "input", "bits": [2]},
                      "d": {"direction": "input", "bits": [3]}},
            "cells": lanes, "netnames": {}});
        let mut n = json!({"modules": {"lane": lane, "pe": pe}});
        let facts = CellFacts::from_liberty(LIB);
        assert_eq!(buffer_netlist(&mut n, &facts).unwrap(), 3);
        let f = fanout(&n["modules"]["pe"]);
        assert_eq!(f[&2], 40, "pe's clock reaches 40 lanes unbuffered");
        assert_eq!(f[&3], 3, "pe's data input reaches 3 buffers");
    }

    #[test]
    fn leaves_narrow_nets_and_fails_without_a_buffer() {
        let facts = CellFacts::from_liberty(LIB);
        let mut n = netlist(MAX_FANOUT as u64);
        assert_eq!(buffer_netlist(&mut n, &facts).unwrap(), 0);
        let mut n = netlist(40);
        assert!(buffer_netlist(&mut n, &CellFacts::default()).is_err());
    }
}
