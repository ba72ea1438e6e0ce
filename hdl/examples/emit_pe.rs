fn main() {
    let mut c = nt_hdl::Config::default();
    c.pe.lanes = 2;
    let mut pe = nt_hdl::pe::Pe::new(&c);
    print!("{}", nt_hdl::verilog::emit(&mut pe, "nt_pe", "test"));
}
