#!/usr/bin/env python3
"""Fits the embedded 15nm-class cell library's figures to a real Liberty library.

Usage: scripts/calibrate_embedded_lib.py ../shared/pdk/nangate15/NanGate_15nm_OCL_typical_conditional_nldm.lib

For each cell the embedded library keeps (same logic functions), prints one Rust table row:
area (um^2), leakage (pW), each input pin's rise and fall capacitance (fF), and the mean over the cell's arcs of its
delay, output transition and internal energy tables, rising and falling output apart, sampled
(bilinearly) at the embedded library's nine points, input slew 1, 30 or 200 ps by load 0.5, 8 or 50 fF;
for the flip-flop also the data pin's internal energy per transition, averaged over the states
with RN high (the flow ties it high), and the clock pin's, from what OpenSTA reports for one idle
flip-flop of the real library (needs `sta` on PATH); for the clock gate the clock pin's, from
what OpenSTA reports for one idle gate, its test pin tied low as the flow ties it.
gen/src/liberty.rs holds the printed table.
"""
import os
import re
import subprocess
import sys
import tempfile

KEEP = ["INV_X1", "BUF_X1", "BUF_X4", "NAND2_X1", "NAND3_X1", "NAND4_X1", "NOR2_X1", "NOR3_X1", "NOR4_X1",
        "AND2_X1", "AND3_X1", "AND4_X1", "OR2_X1", "OR3_X1", "OR4_X1", "XOR2_X1", "XNOR2_X1",
        "AOI21_X1", "AOI22_X1", "OAI21_X1", "OAI22_X1", "MUX2_X1", "DFFRNQ_X1", "CLKGATETST_X1"]
SLEWS = (1.0, 30.0, 200.0)  # ps: the embedded library's 3x3 table points
LOADS = (0.5, 8.0, 50.0)    # fF


def blocks(text, keyword):
    """Yields (header, body) of every `keyword (...) { ... }` group, braces balanced."""
    for m in re.finditer(keyword + r"\s*\(([^)]*)\)\s*\{", text):
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            i += 1
        yield m.group(1).strip(), text[m.end():i - 1]


def table(body, name):
    m = re.search(name + r"\s*\([^)]*\)\s*\{(.*?)\}", body, re.S)
    if not m:
        return None
    m1 = re.search(r'index_1\s*\("([^"]*)"', m.group(1))
    if not m1:
        return None  # scalar tables are not used
    i1 = [float(v) for v in m1.group(1).split(",")]
    i2 = re.search(r'index_2\s*\("([^"]*)"', m.group(1))
    rows = re.search(r"values\s*\((.*?)\);", m.group(1), re.S).group(1)
    vals = [[float(v) for v in r.split(",")] for r in re.findall(r'"([^"]*)"', rows)]
    if not i2:
        return i1, None, vals[0]
    return i1, [float(v) for v in i2.group(1).split(",")], vals


# OpenSTA charges a clock pin's scalar rise_power and fall_power four times a period in all (it
# was measured: a flip-flop whose scalar clock-pin energies are E reports 4 E per period of idle
# internal power).
OPENSTA_SCALAR_CLOCK_CHARGES = 4.0
IDLE_FLOP_PERIOD_PS = 1000.0


# How the flow connects each clocked cell: clock, data (or enable) from ports, the rest tied.
IDLE_PINS = {"DFFRNQ_X1": ".CLK(clock), .D(d), .RN(1'b1), .Q(q)",
             "CLKGATETST_X1": ".CLK(clock), .E(d), .TE(1'b0), .Q(q)"}
# A clock gate is idle as the flow analyzes it closed: its output held low. What it takes more
# while open is its output's internal energy, which the embedded cell keeps on its output.
IDLE_CASE = {"CLKGATETST_X1": "set_case_analysis 0 [get_pins r/Q]\n"}


def opensta_idle_flop_fj(lib_path, cell):
    """Internal energy per clock period (fJ) OpenSTA reports for one idle flip-flop (or clock
    gate) of the real library, tied as the flow ties it: the clock pin's conditional energies
    weighted the way OpenSTA weighs them, which no average of the tables reproduces."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "ff.v"), "w") as f:
            f.write(f"module ff(input clock, input d, output q);\n"
                    f"  {cell} r ({IDLE_PINS[cell]});\nendmodule\n")
        with open(os.path.join(d, "ff.tcl"), "w") as f:
            f.write(f"read_liberty {os.path.abspath(lib_path)}\nread_verilog ff.v\nlink_design ff\n"
                    f"create_clock -name c -period {IDLE_FLOP_PERIOD_PS} [get_ports clock]\n"
                    "set_power_activity -global -activity 0.0\n"
                    "set_power_activity -input -activity 0.0\n"
                    f"{IDLE_CASE.get(cell, '')}"
                    "report_power -instances [get_cells *] -digits 9\n")
        out = subprocess.run(["sta", "-no_init", "-exit", "ff.tcl"], cwd=d, capture_output=True,
                             text=True, check=True).stdout
    watts = float(out.strip().splitlines()[-1].split()[0])
    return watts * IDLE_FLOP_PERIOD_PS * 1e3  # W x ps = 1e-12 J; in fJ


def capacitance(pin_body, edge):
    """A pin's capacitance for one edge as OpenSTA uses it in max-delay timing and in power: the
    upper end of `<edge>_capacitance_range` when the library gives one."""
    m = re.search(edge + r"_capacitance_range\s*\(\s*[\d.]+\s*,\s*([\d.]+)\s*\)", pin_body)
    if not m:
        m = re.search(r"\n\s*" + edge + r"_capacitance\s*:\s*([\d.]+)", pin_body)
    return float(m.group(1))


def scalar(body, name):
    m = re.search(name + r"\s*\(\s*scalar\s*\)\s*\{\s*values\s*\(\s*\"([^\"]*)\"", body)
    return float(m.group(1)) if m else 0.0


def interp(xs, ys, x):
    for k in range(len(xs) - 1):
        if x <= xs[k + 1] or k == len(xs) - 2:
            t = (x - xs[k]) / (xs[k + 1] - xs[k])
            return ys[k] + t * (ys[k + 1] - ys[k])


def sample(t, slew, load):
    i1, i2, vals = t
    if i2 is None:
        return interp(i1, vals, slew)
    return interp(i1, [interp(i2, row, load) for row in vals], slew)


def corners(tables):
    """Mean of the tables at every (slew, load) point, slew-major."""
    out = []
    for s in SLEWS:
        for l in LOADS:
            v = [sample(t, s, l) for t in tables]
            out.append(sum(v) / len(v) if v else 0.0)
    return out


def main(path):
    text = open(path).read()
    for name, body in blocks(text, "cell"):
        if name not in KEEP:
            continue
        area = float(re.search(r"area\s*:\s*([\d.]+)", body).group(1))
        leak = float(re.search(r"cell_leakage_power\s*:\s*([\d.]+)", body).group(1))
        # Every input pin's rise and fall capacitance, in the library's pin order (the embedded
        # cell's inputs follow it: A1 A2 B1 B2 become A B C D, as Yosys and ABC map them).
        pins = []
        for pin, pb in blocks(body, "pin"):
            if not re.search(r"direction\s*:\s*input", pb):
                continue
            pins.append((pin, capacitance(pb, "rise"), capacitance(pb, "fall")))
        tables = {k: [] for k in ("cell_rise", "cell_fall", "rise_transition", "fall_transition",
                                  "rise_power", "fall_power")}
        clock_energy, data_energy = [], []
        for pin, pb in blocks(body, "pin"):
            for _, tb in blocks(pb, "timing"):
                for kind in ("cell_rise", "cell_fall", "rise_transition", "fall_transition"):
                    t = table(tb, kind)
                    if t and t[1] is not None:
                        tables[kind].append(t)
            for _, ib in blocks(pb, "internal_power"):
                # The flow ties the flip-flop's RN high: states with RN low never occur.
                when = re.search(r'when\s*:\s*"([^"]*)"', ib)
                if when and "!RN" in when.group(1):
                    continue
                for kind in ("rise_power", "fall_power"):
                    t = table(ib, kind)
                    if t and t[1] is not None:
                        tables[kind].append(t)
                    elif pin in ("CLK", "D"):
                        # One-dimensional (input slew) or scalar: a scalar 0 is a real zero.
                        e = sample(t, 7.5, 0) if t else scalar(ib, kind)
                        (clock_energy if pin == "CLK" else data_energy).append(e)
        # Energy per input transition, every state equally likely (OpenSTA's default).
        mean = lambda v: sum(v) / len(v) if v else 0.0
        pin_list = "[" + ", ".join(f'("{n}", {r:.4f}, {f:.4f})' for n, r, f in pins) + "]"
        fmt = lambda v: "[" + ", ".join(f"{x:.4f}" for x in v) + "]"
        c = {k: fmt(corners(v)) for k, v in tables.items()}
        if name in IDLE_PINS:
            clock_energy = [opensta_idle_flop_fj(path, name) / OPENSTA_SCALAR_CLOCK_CHARGES]
        print(f'    Fit {{ name: "{name}", area: {area:.6f}, leakage: {leak:.1f}, pins: &{pin_list}, '
              f'rise_delay: {c["cell_rise"]}, fall_delay: {c["cell_fall"]}, '
              f'rise_slew: {c["rise_transition"]}, fall_slew: {c["fall_transition"]}, '
              f'rise_energy: {c["rise_power"]}, fall_energy: {c["fall_power"]}, '
              f'clock_energy: {mean(clock_energy):.4f}, data_energy: {mean(data_energy):.4f} }},')

if __name__ == "__main__":
    main(sys.argv[1])
