//! Prints the Verilog of one router of the default configuration (top module `nt_router`), for
//! Yosys, Verilator and Icarus: `cargo run -p nt-hdl --example emit_router > nt_router.v`.
//! An optional argument `32` selects 32-bit flits.

use nt_hdl::router::Router;
use nt_hdl::Config;

/// An inner router of a 4x4 mesh: every port leads somewhere.
const X: usize = 1;
const Y: usize = 1;

fn main() {
    let mut c = Config::default();
    if let Some(w) = std::env::args().nth(1) {
        c.noc.flit_width = w.parse().expect("flit width");
    }
    c.validate().expect("configuration");
    let what = format!(
        "Router ({X},{Y}): {}-bit flits, {}-flit input buffers.",
        c.noc.flit_width, c.noc.input_buffer_depth
    );
    let text = match c.noc.flit_width {
        32 => nt_hdl::verilog::emit(&mut Router::<32>::new(&c.noc, X, Y), "nt_router", &what),
        _ => nt_hdl::verilog::emit(&mut Router::<64>::new(&c.noc, X, Y), "nt_router", &what),
    };
    print!("{text}");
}
