//! Prints the Verilog of the vault controller or the data-flow engine (default configuration):
//! `cargo run --example emit_vault -- controller|engine`.
fn main() {
    let c = nt_hdl::Config::default();
    let which = std::env::args().nth(1).unwrap_or_default();
    if which == "engine" {
        let mut e = nt_hdl::dataflow_engine::DataflowEngine::new(&c);
        print!(
            "{}",
            nt_hdl::verilog::emit(&mut e, "nt_dataflow_engine", "data-flow engine")
        );
    } else {
        let mut v = nt_hdl::vault_controller::VaultController::new(&c);
        print!(
            "{}",
            nt_hdl::verilog::emit(&mut v, "nt_vault_controller", "vault controller")
        );
    }
}
