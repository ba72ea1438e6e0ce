//! Write-data beat buffer of the vault controller: a 32-bit-wide memory of `depth` entries with
//! one write port and one registered read port. A write's beats wait here from the time the
//! requester hands them over until the controller drives them onto the DRAM data bus CWL cycles
//! after the WR command.
//!
//! The depth follows the configuration (rust-hdl's `RAM` fixes it by a const generic), so the block
//! carries its own Verilog like `OperandBuffer`; co-simulation checks the two agree. Addresses are
//! taken modulo `depth`.

use rust_hdl::prelude::*;

/// Width of the buffer's address ports.
pub const BEAT_ADDR_BITS: usize = 8;

#[derive(LogicBlock)]
pub struct BeatBuffer {
    pub clock: Signal<In, Clock>,
    pub write_enable: Signal<In, Bit>,
    pub write_address: Signal<In, Bits<BEAT_ADDR_BITS>>,
    pub write_data: Signal<In, Bits<32>>,
    pub read_address: Signal<In, Bits<BEAT_ADDR_BITS>>,
    pub read_data: Signal<Out, Bits<32>>,
    _mem: Vec<Bits<32>>,
}

impl BeatBuffer {
    pub fn new(depth: usize) -> BeatBuffer {
        assert!(depth.is_power_of_two() && depth >= 2 && depth <= 1 << BEAT_ADDR_BITS);
        BeatBuffer {
            clock: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            _mem: vec![Bits::default(); depth],
        }
    }
}

impl Logic for BeatBuffer {
    fn update(&mut self) {
        if self.clock.pos_edge() {
            let mask = self._mem.len() - 1;
            self.read_data.next = self._mem[self.read_address.val().index() & mask];
            if self.write_enable.val() {
                self._mem[self.write_address.val().index() & mask] = self.write_data.val();
            }
        }
    }

    fn connect(&mut self) {
        self.read_data.connect();
    }

    fn hdl(&self) -> Verilog {
        let abits = self._mem.len().trailing_zeros();
        Verilog::Custom(format!(
            "\
reg [31:0] mem [0:{last}];
integer init_index;
initial begin
   read_data = 32'd0;
   for (init_index = 0; init_index < {depth}; init_index = init_index + 1) mem[init_index] = 32'd0;
end
always @(posedge clock) begin
   read_data <= mem[read_address[{amsb}:0]];
   if (write_enable) mem[write_address[{amsb}:0]] <= write_data;
end
",
            last = self._mem.len() - 1,
            depth = self._mem.len(),
            amsb = abits - 1,
        ))
    }
}
