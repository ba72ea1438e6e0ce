//! Broadcast-operand reuse buffer: a 16-bit-wide memory of `depth` entries with one write port and
//! one registered read port, so an operand fetched from DRAM once can be broadcast many times.
//!
//! The depth is a runtime parameter, which rust-hdl's `RAM` (depth fixed by a const generic) cannot
//! express, so the block carries its own Verilog; co-simulation checks that it matches this model.
//! Addresses are taken modulo `depth` (the upper address bits are ignored).

use crate::config::OPERAND_BUFFER_ADDR_BITS;
use rust_hdl::prelude::*;

/// Width of the buffer's address ports.
pub const ADDR_BITS: usize = OPERAND_BUFFER_ADDR_BITS;

#[derive(LogicBlock)]
pub struct OperandBuffer {
    pub clock: Signal<In, Clock>,
    pub write_enable: Signal<In, Bit>,
    pub write_address: Signal<In, Bits<ADDR_BITS>>,
    pub write_data: Signal<In, Bits<16>>,
    pub read_address: Signal<In, Bits<ADDR_BITS>>,
    pub read_data: Signal<Out, Bits<16>>,
    _mem: Vec<Bits<16>>,
}

impl OperandBuffer {
    pub fn new(depth: usize) -> OperandBuffer {
        assert!(depth.is_power_of_two() && depth >= 2 && depth <= 1 << ADDR_BITS);
        OperandBuffer {
            clock: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            _mem: vec![Bits::default(); depth],
        }
    }

    pub fn depth(&self) -> usize {
        self._mem.len()
    }
}

impl Logic for OperandBuffer {
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
// nt:memory words={depth} bits=16 ports=1r1w
`ifdef NT_MEMORY_STUBS
// Synthesis view: the storage and its read register are an SRAM macro that the flow costs with
// its memory model; the port signals are folded into the output so that their loads remain.
always @(*) begin
   read_data = write_data ^ {{{{(16-{abits}){{1'b0}}}}, read_address[{amsb}:0]}} ^ {{{{(16-{abits}){{1'b0}}}}, write_address[{amsb}:0]}} ^ {{16{{write_enable}}}};
end
`else
reg [15:0] mem [0:{last}];
integer init_index;
initial begin
   read_data = 16'd0;
   for (init_index = 0; init_index < {depth}; init_index = init_index + 1) mem[init_index] = 16'd0;
end
always @(posedge clock) begin
   read_data <= mem[read_address[{amsb}:0]];
   if (write_enable) mem[write_address[{amsb}:0]] <= write_data;
end
`endif
",
            last = self._mem.len() - 1,
            depth = self._mem.len(),
            amsb = abits - 1,
            abits = abits,
        ))
    }
}
