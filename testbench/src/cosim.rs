//! Co-simulation of emitted Verilog with Icarus Verilog, cycle by cycle.
//!
//! A generated Verilog testbench reads one line of input values per cycle, applies them, raises the
//! clock, and writes one line of output values, which is exactly what [`crate::sim::Clocked::tick`]
//! does in rust-hdl. Comparing the two traces line by line proves the emitted Verilog and the Rust
//! model agree on every output in every cycle.

use anyhow::{bail, ensure, Context, Result};
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

/// A port of the design under test: Verilog name and width (at most 64 bits).
#[derive(Clone, Debug)]
pub struct Port {
    pub name: String,
    pub width: usize,
}

impl Port {
    pub fn new(name: impl Into<String>, width: usize) -> Port {
        assert!((1..=64).contains(&width));
        Port {
            name: name.into(),
            width,
        }
    }
}

fn testbench(top: &str, clock: &str, inputs: &[Port], outputs: &[Port]) -> String {
    let mut s = String::from("`timescale 1ns/1ps\nmodule nt_cosim_tb;\n");
    let _ = writeln!(s, "  reg {clock} = 1'b0;");
    for p in inputs {
        let _ = writeln!(s, "  reg [{}:0] {} = 0;", p.width - 1, p.name);
    }
    for p in outputs {
        let _ = writeln!(s, "  wire [{}:0] {};", p.width - 1, p.name);
    }
    let conns: Vec<String> = std::iter::once(clock.to_string())
        .chain(inputs.iter().map(|p| p.name.clone()))
        .chain(outputs.iter().map(|p| p.name.clone()))
        .map(|n| format!(".{n}({n})"))
        .collect();
    let _ = writeln!(s, "  {top} dut({});", conns.join(", "));
    let in_fmt = vec!["%h"; inputs.len()].join(" ");
    let in_args: Vec<&str> = inputs.iter().map(|p| p.name.as_str()).collect();
    let out_fmt = vec!["%h"; outputs.len()].join(" ");
    let out_args: Vec<&str> = outputs.iter().map(|p| p.name.as_str()).collect();
    let _ = write!(
        s,
        "  integer fi, fo, r, n;
  initial begin
    fi = $fopen(\"stimulus.txt\", \"r\");
    fo = $fopen(\"response.txt\", \"w\");
    r = $fscanf(fi, \"%d\\n\", n);
    repeat (n) begin
      r = $fscanf(fi, \"{in_fmt}\\n\", {in_args});
      #5 {clock} = 1'b1;
      #1 $fwrite(fo, \"{out_fmt}\\n\", {out_args});
      #4 {clock} = 1'b0;
    end
    $fclose(fo);
    $finish;
  end
endmodule
",
        in_args = in_args.join(", "),
        out_args = out_args.join(", "),
    );
    s
}

/// Runs `stimulus` (one row of input values per cycle, in `inputs` order) through `verilog`'s
/// module `top` under Icarus in `workdir`, returning one row of output values per cycle.
pub fn run_icarus(
    workdir: &Path,
    verilog: &str,
    top: &str,
    clock: &str,
    inputs: &[Port],
    outputs: &[Port],
    stimulus: &[Vec<u64>],
) -> Result<Vec<Vec<u64>>> {
    std::fs::create_dir_all(workdir)?;
    std::fs::write(workdir.join("dut.v"), verilog)?;
    std::fs::write(workdir.join("tb.v"), testbench(top, clock, inputs, outputs))?;
    let mut stim = format!("{}\n", stimulus.len());
    for row in stimulus {
        ensure!(
            row.len() == inputs.len(),
            "stimulus row has {} values, expected {}",
            row.len(),
            inputs.len()
        );
        let line: Vec<String> = row.iter().map(|v| format!("{v:x}")).collect();
        stim.push_str(&line.join(" "));
        stim.push('\n');
    }
    std::fs::write(workdir.join("stimulus.txt"), stim)?;
    let out = Command::new("iverilog")
        .current_dir(workdir)
        .args([
            "-g2012",
            "-o",
            "sim.vvp",
            "-s",
            "nt_cosim_tb",
            "tb.v",
            "dut.v",
        ])
        .output()
        .context("running iverilog (install it with scripts/setup.sh)")?;
    if !out.status.success() {
        bail!("iverilog failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new("vvp")
        .current_dir(workdir)
        .args(["-n", "sim.vvp"])
        .output()
        .context("running vvp")?;
    if !out.status.success() {
        bail!("vvp failed:\n{}", String::from_utf8_lossy(&out.stderr));
    }
    let text = std::fs::read_to_string(workdir.join("response.txt"))?;
    let rows: Vec<Vec<u64>> = text
        .lines()
        .map(|l| {
            l.split_whitespace()
                .map(|t| {
                    u64::from_str_radix(t, 16)
                        .with_context(|| format!("bad value `{t}` (X or Z in Verilog?)"))
                })
                .collect::<Result<Vec<u64>>>()
        })
        .collect::<Result<_>>()?;
    ensure!(
        rows.len() == stimulus.len(),
        "Verilog produced {} cycles, expected {}",
        rows.len(),
        stimulus.len()
    );
    Ok(rows)
}
