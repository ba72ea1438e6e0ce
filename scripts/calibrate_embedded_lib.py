#!/usr/bin/env python3
"""Fits the embedded 15nm-class cell library's figures to a real Liberty library.

Usage: scripts/calibrate_embedded_lib.py ../shared/pdk/nangate15/NanGate_15nm_OCL_typical_conditional_nldm.lib

For each cell the embedded library keeps (same logic functions), prints one Rust table row:
area (um^2), leakage (pW), mean input capacitance (fF), and the mean over the cell's arcs of its
delay, output transition and internal energy tables sampled (bilinearly) at the embedded
library's four corners, input slew 1 or 100 ps by load 0.5 or 20 fF; for the flip-flop also the
clock pin's internal energy per transition. gen/src/liberty.rs holds the printed table.
"""
import re
import sys

KEEP = ["INV_X1", "BUF_X1", "NAND2_X1", "NAND3_X1", "NAND4_X1", "NOR2_X1", "NOR3_X1", "NOR4_X1",
        "AND2_X1", "AND3_X1", "AND4_X1", "OR2_X1", "OR3_X1", "OR4_X1", "XOR2_X1", "XNOR2_X1",
        "AOI21_X1", "AOI22_X1", "OAI21_X1", "OAI22_X1", "MUX2_X1", "DFFRNQ_X1"]
SLEWS = (1.0, 100.0)   # ps: the embedded library's 2x2 table corners
LOADS = (0.5, 20.0)    # fF


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
    """Mean of the tables at the four (slew, load) corners: [s0l0, s0l1, s1l0, s1l1]."""
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
        caps = [float(c) for _, pb in blocks(body, "pin") for c in re.findall(r"\n\s*capacitance\s*:\s*([\d.]+)", pb)]
        delay, slew, energy, clock_energy = [], [], [], []
        for pin, pb in blocks(body, "pin"):
            for _, tb in blocks(pb, "timing"):
                for kind, dest in (("cell_rise", delay), ("cell_fall", delay), ("rise_transition", slew), ("fall_transition", slew)):
                    t = table(tb, kind)
                    if t and t[1] is not None:
                        dest.append(t)
            for _, ib in blocks(pb, "internal_power"):
                for kind in ("rise_power", "fall_power"):
                    t = table(ib, kind)
                    if t:
                        (energy if t[1] is not None else clock_energy if pin == "CLK" else []).append(t)
        ce = sum(sample(t, 7.5, 0) for t in clock_energy) / len(clock_energy) if clock_energy else 0.0
        cin = sum(caps) / len(caps)
        fmt = lambda v: "[" + ", ".join(f"{x:.4f}" for x in v) + "]"
        print(f'    Fit {{ name: "{name}", area: {area:.6f}, leakage: {leak:.1f}, cin: {cin:.4f}, '
              f'delay: {fmt(corners(delay))}, slew: {fmt(corners(slew))}, energy: {fmt(corners(energy))}, clock_energy: {ce:.4f} }},')


if __name__ == "__main__":
    main(sys.argv[1])
