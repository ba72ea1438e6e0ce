//! The embedded cell library: `nt15_typ`, a 15nm-class Liberty library the project writes itself,
//! so the flow runs without any third-party library.
//!
//! It has the logic functions Yosys and ABC need (a buffer included) and one reset flip-flop.
//! Every figure was taken from the NanGate 15nm Open Cell Library, typical corner (0.8 V, 25 C),
//! by `scripts/calibrate_embedded_lib.py`: area, leakage, mean input capacitance, and each cell's
//! delay, transition and internal-energy tables reduced to 2x2 tables (averaged over its arcs and
//! edges) at the corners of 1..100 ps input slew and 0.5..20 fF load, between which the tools
//! interpolate linearly. docs/flow.md states the measured accuracy.

/// One cell's figures: area (um^2), leakage (pW), mean input capacitance (fF), and the 2x2
/// tables (input slew `SLEWS` by load `LOADS`, row-major) of delay (ps), output transition (ps)
/// and internal energy per output transition (fJ); `clock_energy` is the flip-flop's energy per
/// clock-pin transition (fJ).
struct Fit {
    name: &'static str,
    area: f64,
    leakage: f64,
    cin: f64,
    delay: [f64; 4],
    slew: [f64; 4],
    energy: [f64; 4],
    clock_energy: f64,
}

/// Printed by `scripts/calibrate_embedded_lib.py` from the NanGate 15nm typical library.
const FITS: &[Fit] = &[
    Fit {
        name: "AND2_X1",
        area: 0.294912,
        leakage: 15419.4,
        cin: 0.7606,
        delay: [3.2734, 16.8696, 10.0912, 24.6918],
        slew: [1.4349, 26.6760, 3.7979, 27.6542],
        energy: [0.6272, 0.7774, 2.1472, 2.5826],
        clock_energy: 0.0000,
    },
    Fit {
        name: "AND3_X1",
        area: 0.393216,
        leakage: 13725.8,
        cin: 0.7065,
        delay: [4.0439, 17.8941, 11.4602, 26.3717],
        slew: [1.6586, 26.8110, 3.9905, 27.8930],
        energy: [0.7100, 0.8771, 2.1168, 2.4791],
        clock_energy: 0.0000,
    },
    Fit {
        name: "AND4_X1",
        area: 0.442368,
        leakage: 11997.7,
        cin: 0.6726,
        delay: [4.8638, 19.0558, 12.7163, 27.9740],
        slew: [1.8988, 27.0398, 4.2026, 28.1785],
        energy: [0.7931, 0.9732, 2.1020, 2.4150],
        clock_energy: 0.0000,
    },
    Fit {
        name: "AOI21_X1",
        area: 0.294912,
        leakage: 9790.6,
        cin: 0.7159,
        delay: [2.1398, 20.5700, 7.7054, 39.6841],
        slew: [2.5721, 39.9232, 15.8788, 55.8642],
        energy: [0.4432, 0.4678, 1.7239, 1.3099],
        clock_energy: 0.0000,
    },
    Fit {
        name: "AOI22_X1",
        area: 0.344064,
        leakage: 11894.4,
        cin: 0.7321,
        delay: [2.5349, 22.8786, 8.6323, 41.6669],
        slew: [3.1993, 44.9544, 16.8933, 59.7923],
        energy: [0.4900, 0.5148, 1.6886, 1.2582],
        clock_energy: 0.0000,
    },
    Fit {
        name: "BUF_X1",
        area: 0.245760,
        leakage: 15406.4,
        cin: 0.8505,
        delay: [2.5471, 15.9870, 8.4944, 22.8188],
        slew: [1.2278, 26.5988, 3.6590, 27.4526],
        energy: [0.5447, 0.6709, 2.2201, 2.7723],
        clock_energy: 0.0000,
    },
    Fit {
        name: "DFFRNQ_X1",
        area: 1.277952,
        leakage: 44534.2,
        cin: 0.6873,
        delay: [6.3942, 19.9997, 17.1704, 31.0063],
        slew: [2.0674, 25.8449, 4.2030, 26.0214],
        energy: [1.4838, 2.0991, 3.3092, 3.7009],
        clock_energy: 1.2831,
    },
    Fit {
        name: "INV_X1",
        area: 0.147456,
        leakage: 7702.7,
        cin: 0.8243,
        delay: [1.1134, 14.4159, 4.4520, 34.4850],
        slew: [1.1181, 26.4781, 12.2377, 45.3302],
        energy: [0.2287, 0.2573, 1.7240, 1.3921],
        clock_energy: 0.0000,
    },
    Fit {
        name: "MUX2_X1",
        area: 0.638976,
        leakage: 27088.1,
        cin: 1.0350,
        delay: [4.5556, 18.4274, 11.7388, 26.5257],
        slew: [1.7675, 26.8191, 3.5230, 27.6964],
        energy: [0.8291, 1.0337, 2.5517, 3.0638],
        clock_energy: 0.0000,
    },
    Fit {
        name: "NAND2_X1",
        area: 0.196608,
        leakage: 8003.5,
        cin: 0.7503,
        delay: [1.6435, 18.5309, 6.0584, 37.8541],
        slew: [1.8338, 35.5908, 14.2668, 52.5250],
        energy: [0.3237, 0.3495, 1.6587, 1.2643],
        clock_energy: 0.0000,
    },
    Fit {
        name: "NAND3_X1",
        area: 0.294912,
        leakage: 6454.0,
        cin: 0.7011,
        delay: [2.2028, 22.5703, 7.3734, 40.9415],
        slew: [2.7811, 45.0147, 17.0958, 60.7700],
        energy: [0.4080, 0.4393, 1.6306, 1.2113],
        clock_energy: 0.0000,
    },
    Fit {
        name: "NAND4_X1",
        area: 0.344064,
        leakage: 4798.2,
        cin: 0.6696,
        delay: [2.8012, 26.6170, 8.5637, 44.1422],
        slew: [3.9618, 54.6925, 19.6529, 69.5954],
        energy: [0.4841, 0.5273, 1.6125, 1.1912],
        clock_energy: 0.0000,
    },
    Fit {
        name: "NOR2_X1",
        area: 0.196608,
        leakage: 7879.4,
        cin: 0.7534,
        delay: [1.6788, 19.2272, 6.1488, 38.4640],
        slew: [1.8966, 37.0648, 14.3585, 53.7001],
        energy: [0.3200, 0.3454, 1.6335, 1.2602],
        clock_energy: 0.0000,
    },
    Fit {
        name: "NOR3_X1",
        area: 0.294912,
        leakage: 6271.8,
        cin: 0.7050,
        delay: [2.2885, 23.9892, 7.5085, 42.1971],
        slew: [2.9408, 47.9581, 16.9694, 63.3010],
        energy: [0.4093, 0.4310, 1.5975, 1.2046],
        clock_energy: 0.0000,
    },
    Fit {
        name: "NOR4_X1",
        area: 0.344064,
        leakage: 4623.5,
        cin: 0.6787,
        delay: [2.9545, 28.7859, 8.7301, 46.1082],
        slew: [4.2499, 59.2182, 19.2880, 73.6570],
        energy: [0.4972, 0.5196, 1.5764, 1.1852],
        clock_energy: 0.0000,
    },
    Fit {
        name: "OAI21_X1",
        area: 0.294912,
        leakage: 9745.6,
        cin: 0.7137,
        delay: [2.1118, 20.2171, 7.6563, 39.3627],
        slew: [2.5308, 39.1798, 15.8666, 55.2748],
        energy: [0.4377, 0.4641, 1.7352, 1.3128],
        clock_energy: 0.0000,
    },
    Fit {
        name: "OAI22_X1",
        area: 0.344064,
        leakage: 11767.4,
        cin: 0.7320,
        delay: [2.5395, 23.0014, 8.6520, 41.7679],
        slew: [3.2303, 45.2288, 16.9346, 60.0371],
        energy: [0.4860, 0.5129, 1.6835, 1.2580],
        clock_energy: 0.0000,
    },
    Fit {
        name: "OR2_X1",
        area: 0.294912,
        leakage: 15871.8,
        cin: 0.7659,
        delay: [3.3150, 16.9467, 10.1734, 24.7330],
        slew: [1.4427, 26.6911, 3.7313, 27.6235],
        energy: [0.6055, 0.7801, 2.0979, 2.5470],
        clock_energy: 0.0000,
    },
    Fit {
        name: "OR3_X1",
        area: 0.393216,
        leakage: 14408.3,
        cin: 0.7118,
        delay: [4.1386, 18.0699, 11.5778, 26.4443],
        slew: [1.6766, 26.8628, 3.8883, 27.8656],
        energy: [0.6616, 0.8825, 2.0368, 2.4350],
        clock_energy: 0.0000,
    },
    Fit {
        name: "OR4_X1",
        area: 0.442368,
        leakage: 12831.9,
        cin: 0.6824,
        delay: [5.0216, 19.3464, 12.8594, 28.0855],
        slew: [1.9286, 27.1434, 4.0699, 28.1733],
        energy: [0.7191, 0.9814, 1.9974, 2.3703],
        clock_energy: 0.0000,
    },
    Fit {
        name: "XNOR2_X1",
        area: 0.442368,
        leakage: 28966.1,
        cin: 1.4377,
        delay: [5.1108, 18.8674, 12.5564, 26.8132],
        slew: [1.6343, 26.7562, 2.9179, 27.3010],
        energy: [1.0247, 1.2328, 2.4162, 2.8806],
        clock_energy: 0.0000,
    },
    Fit {
        name: "XOR2_X1",
        area: 0.442368,
        leakage: 21260.3,
        cin: 1.4361,
        delay: [3.3015, 22.5291, 9.4281, 36.2197],
        slew: [3.7009, 42.0977, 10.2689, 50.0409],
        energy: [0.7203, 0.7024, 1.9478, 1.9446],
        clock_energy: 0.0000,
    },
];

/// Setup and hold of the flip-flop's D input against CLK (ps), from the same corner.
const DFF_SETUP_PS: f64 = 8.3;
const DFF_HOLD_PS: f64 = 2.0;
/// The 2x2 tables' input slews (ps) and loads (fF); tools interpolate between them.
const SLEWS: [f64; 2] = [1.0, 100.0];
const LOADS: [f64; 2] = [0.5, 20.0];

/// Inputs and Liberty function of each combinational cell.
fn logic(name: &str) -> Option<(&'static [&'static str], &'static str)> {
    Some(match name.trim_end_matches("_X1") {
        "INV" => (&["A"], "!A"),
        "BUF" => (&["A"], "A"),
        "NAND2" => (&["A", "B"], "!(A&B)"),
        "NAND3" => (&["A", "B", "C"], "!(A&B&C)"),
        "NAND4" => (&["A", "B", "C", "D"], "!(A&B&C&D)"),
        "NOR2" => (&["A", "B"], "!(A|B)"),
        "NOR3" => (&["A", "B", "C"], "!(A|B|C)"),
        "NOR4" => (&["A", "B", "C", "D"], "!(A|B|C|D)"),
        "AND2" => (&["A", "B"], "(A&B)"),
        "AND3" => (&["A", "B", "C"], "(A&B&C)"),
        "AND4" => (&["A", "B", "C", "D"], "(A&B&C&D)"),
        "OR2" => (&["A", "B"], "(A|B)"),
        "OR3" => (&["A", "B", "C"], "(A|B|C)"),
        "OR4" => (&["A", "B", "C", "D"], "(A|B|C|D)"),
        "XOR2" => (&["A", "B"], "(A^B)"),
        "XNOR2" => (&["A", "B"], "!(A^B)"),
        "AOI21" => (&["A", "B", "C"], "!((A&B)|C)"),
        "AOI22" => (&["A", "B", "C", "D"], "!((A&B)|(C&D))"),
        "OAI21" => (&["A", "B", "C"], "!((A|B)&C)"),
        "OAI22" => (&["A", "B", "C", "D"], "!((A|B)&(C|D))"),
        "MUX2" => (&["A", "B", "S"], "((A&!S)|(B&S))"),
        _ => return None,
    })
}

fn list(v: &[f64]) -> String {
    v.iter()
        .map(|x| format!("{x:.4}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn table(kind: &str, template: &str, v: &[f64; 4]) -> String {
    format!(
        "        {kind} ({template}) {{ values (\"{}\", \"{}\"); }}\n",
        list(&v[..2]),
        list(&v[2..])
    )
}

fn arc(related: &str, sense: &str, timing_type: Option<&str>, f: &Fit) -> String {
    let mut s = format!("      timing () {{\n        related_pin : \"{related}\";\n        timing_sense : {sense};\n");
    if let Some(t) = timing_type {
        s.push_str(&format!("        timing_type : {t};\n"));
    }
    for k in ["cell_rise", "cell_fall"] {
        s.push_str(&table(k, "nt_2x2", &f.delay));
    }
    for k in ["rise_transition", "fall_transition"] {
        s.push_str(&table(k, "nt_2x2", &f.slew));
    }
    s.push_str("      }\n");
    s.push_str(&format!(
        "      internal_power () {{\n        related_pin : \"{related}\";\n"
    ));
    for k in ["rise_power", "fall_power"] {
        s.push_str(&table(k, "nt_power_2x2", &f.energy));
    }
    s.push_str("      }\n");
    s
}

fn sense_of(function: &str) -> &'static str {
    if function.contains('^') {
        "non_unate"
    } else if function.starts_with('!') {
        "negative_unate"
    } else if function.contains("!S") {
        "non_unate"
    } else {
        "positive_unate"
    }
}

/// The Liberty text of the embedded library.
pub fn embedded_liberty() -> String {
    let mut s = String::from(
        "/* nt15_typ: NeuroTrainer's embedded 15nm-class cell library (typical, 0.8 V, 25 C).\n   \
         Figures fitted to the NanGate 15nm Open Cell Library typical corner; see gen/src/liberty.rs. */\n\
         library (nt15_typ) {\n  delay_model : table_lookup;\n  time_unit : \"1ps\";\n  \
         voltage_unit : \"1V\";\n  current_unit : \"1uA\";\n  leakage_power_unit : \"1pW\";\n  \
         capacitive_load_unit (1, ff);\n  pulling_resistance_unit : \"1kohm\";\n  nom_process : 1.0;\n  \
         nom_temperature : 25.0;\n  nom_voltage : 0.8;\n  \
         operating_conditions (typical) { process : 1.0; voltage : 0.8; temperature : 25.0; }\n  \
         default_operating_conditions : typical;\n  default_max_transition : 500;\n  \
         input_threshold_pct_rise : 50;\n  input_threshold_pct_fall : 50;\n  \
         output_threshold_pct_rise : 50;\n  output_threshold_pct_fall : 50;\n  \
         slew_lower_threshold_pct_rise : 20;\n  slew_upper_threshold_pct_rise : 80;\n  \
         slew_lower_threshold_pct_fall : 20;\n  slew_upper_threshold_pct_fall : 80;\n",
    );
    s.push_str(&format!(
        "  lu_table_template (nt_2x2) {{\n    variable_1 : input_net_transition;\n    \
         variable_2 : total_output_net_capacitance;\n    index_1 (\"{}\");\n    index_2 (\"{}\");\n  }}\n",
        list(&SLEWS),
        list(&LOADS)
    ));
    s.push_str(&format!(
        "  power_lut_template (nt_power_2x2) {{\n    variable_1 : input_transition_time;\n    \
         variable_2 : total_output_net_capacitance;\n    index_1 (\"{}\");\n    index_2 (\"{}\");\n  }}\n",
        list(&SLEWS),
        list(&LOADS)
    ));
    for f in FITS {
        s.push_str(&format!(
            "  cell ({}) {{\n    area : {:.6};\n    cell_leakage_power : {:.1};\n",
            f.name, f.area, f.leakage
        ));
        if let Some((inputs, function)) = logic(f.name) {
            for i in inputs.iter() {
                s.push_str(&format!(
                    "    pin ({i}) {{ direction : input; capacitance : {:.4}; }}\n",
                    f.cin
                ));
            }
            s.push_str(&format!(
                "    pin (Y) {{\n      direction : output;\n      function : \"{function}\";\n"
            ));
            for i in inputs.iter() {
                s.push_str(&arc(i, sense_of(function), None, f));
            }
            s.push_str("    }\n");
        } else {
            // DFFRNQ_X1: rising-edge D flip-flop with an active-low asynchronous clear.
            s.push_str(
                "    ff (IQ, IQN) { next_state : \"D\"; clocked_on : \"CLK\"; clear : \"!RN\"; }\n",
            );
            // The clock pin burns energy on every clock edge, whether or not the data changes.
            s.push_str(&format!(
                "    pin (CLK) {{\n      direction : input;\n      clock : true;\n      capacitance : {:.4};\n      \
                 internal_power () {{ rise_power (scalar) {{ values (\"{e:.4}\"); }} fall_power (scalar) {{ values (\"{e:.4}\"); }} }}\n    }}\n",
                f.cin,
                e = f.clock_energy
            ));
            s.push_str(&format!(
                "    pin (RN) {{ direction : input; capacitance : {:.4}; }}\n",
                f.cin
            ));
            s.push_str(&format!(
                "    pin (D) {{\n      direction : input;\n      capacitance : {:.4};\n      \
                 timing () {{ related_pin : \"CLK\"; timing_type : setup_rising;\n        \
                 rise_constraint (scalar) {{ values (\"{DFF_SETUP_PS}\"); }}\n        \
                 fall_constraint (scalar) {{ values (\"{DFF_SETUP_PS}\"); }} }}\n      \
                 timing () {{ related_pin : \"CLK\"; timing_type : hold_rising;\n        \
                 rise_constraint (scalar) {{ values (\"{DFF_HOLD_PS}\"); }}\n        \
                 fall_constraint (scalar) {{ values (\"{DFF_HOLD_PS}\"); }} }}\n    }}\n",
                f.cin
            ));
            s.push_str("    pin (Q) {\n      direction : output;\n      function : \"IQ\";\n");
            s.push_str(&arc("CLK", "non_unate", Some("rising_edge"), f));
            s.push_str("    }\n");
        }
        s.push_str("  }\n");
    }
    s.push_str("}\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_has_a_function_or_is_the_flip_flop() {
        for f in FITS {
            assert!(
                logic(f.name).is_some() || f.name.starts_with("DFF"),
                "{}",
                f.name
            );
        }
        assert!(
            FITS.iter().any(|f| f.name == "BUF_X1"),
            "ABC needs a buffer"
        );
    }

    #[test]
    fn liberty_text_is_balanced_and_deterministic() {
        let a = embedded_liberty();
        assert_eq!(a, embedded_liberty());
        assert_eq!(a.matches('{').count(), a.matches('}').count());
        assert_eq!(a.matches("cell (").count(), FITS.len());
    }
}
