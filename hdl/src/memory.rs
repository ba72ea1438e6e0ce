//! A memory of `depth` words of `D` bits with one write port and one registered read port: the
//! PE's operand buffer, the vault controller's write-data buffers, the data-flow engine's program
//! memory. A read and a write of one address in the same cycle read the old word; addresses are
//! taken modulo `depth` (the upper bits of the `A`-bit address ports are ignored).
//!
//! The depth is a runtime parameter, which rust-hdl's `RAM` (depth fixed by a const generic) cannot
//! express, so the block carries its own Verilog; co-simulation checks that it matches this model.
//! The Verilog marks itself `// nt:memory` and, under `NT_MEMORY_STUBS`, gives synthesis a stub:
//! the EDA flow costs memories with its SRAM model instead of as flip-flop arrays.
//!
//! An SRAM spends its access energy on every cycle its array is enabled, so the read is enabled
//! only when its word could differ from the one already held: when the read address has moved,
//! or after a write (to any address). Otherwise the held word is the one a read would return, so
//! the gating changes no result. `read_enable` is visible to simulation probes, which count the
//! accesses the power report charges.

use rust_hdl::prelude::*;

/// Address width of the vault side's 32-bit memories (beat buffers, program memory).
pub const BEAT_ADDR_BITS: usize = 8;
/// The vault side's 32-bit memories.
pub type BeatBuffer = Memory<32, BEAT_ADDR_BITS>;

#[derive(LogicBlock)]
pub struct Memory<const D: usize, const A: usize> {
    pub clock: Signal<In, Clock>,
    pub write_enable: Signal<In, Bit>,
    pub write_address: Signal<In, Bits<A>>,
    pub write_data: Signal<In, Bits<D>>,
    pub read_address: Signal<In, Bits<A>>,
    pub read_data: Signal<Out, Bits<D>>,
    /// The array is read at this cycle's clock edge.
    pub read_enable: Signal<Local, Bit>,
    _mem: Vec<Bits<D>>,
    /// The read address of the last clock edge, and whether that edge wrote.
    _last_read_address: usize,
    _wrote: bool,
}

impl<const D: usize, const A: usize> Memory<D, A> {
    /// A memory of `depth` words: a power of two from 2 to 2^A, and at most 2^D (the stub folds
    /// the address into the data).
    pub fn new(depth: usize) -> Memory<D, A> {
        assert!(depth.is_power_of_two() && depth >= 2 && depth <= 1 << A);
        assert!(depth.trailing_zeros() as usize <= D);
        Memory {
            clock: Default::default(),
            write_enable: Default::default(),
            write_address: Default::default(),
            write_data: Default::default(),
            read_address: Default::default(),
            read_data: Default::default(),
            read_enable: Default::default(),
            _mem: vec![Bits::default(); depth],
            _last_read_address: 0,
            _wrote: false,
        }
    }

    pub fn depth(&self) -> usize {
        self._mem.len()
    }
}

impl<const D: usize, const A: usize> Logic for Memory<D, A> {
    fn update(&mut self) {
        let mask = self._mem.len() - 1;
        let address = self.read_address.val().index() & mask;
        if self.clock.pos_edge() {
            if self.read_enable.val() {
                self.read_data.next = self._mem[address];
            }
            self._last_read_address = address;
            self._wrote = self.write_enable.val();
            if self._wrote {
                self._mem[self.write_address.val().index() & mask] = self.write_data.val();
            }
        }
        // After the edge's bookkeeping, so that the next edge sees this one's address and write.
        self.read_enable.next = (address != self._last_read_address) | self._wrote;
    }

    fn connect(&mut self) {
        self.read_data.connect();
        self.read_enable.connect();
    }

    fn hdl(&self) -> Verilog {
        let depth = self._mem.len();
        let abits = depth.trailing_zeros() as usize;
        let amsb = abits - 1;
        let msb = D - 1;
        let pad = D - abits;
        Verilog::Custom(format!(
            "\
// nt:memory words={depth} bits={D} ports=1r1w
// The read is enabled only when the held word could differ from a fresh read (see the Rust model).
reg [{amsb}:0] last_read_address;
reg wrote;
always @(*) begin
   read_enable = (read_address[{amsb}:0] != last_read_address) | wrote;
end
always @(posedge clock) begin
   last_read_address <= read_address[{amsb}:0];
   wrote <= write_enable;
end
`ifdef NT_MEMORY_STUBS
// Synthesis view: the storage and its read register are an SRAM macro that the flow costs with
// its memory model; the port signals are folded into the output so that their loads remain. The
// read enable ends at a register, as it ends at the macro's clock edge.
reg read_enabled;
always @(posedge clock) begin
   read_enabled <= read_enable;
end
always @(*) begin
   read_data = write_data ^ {{{{{pad}{{1'b0}}}}, read_address[{amsb}:0]}} ^ {{{{{pad}{{1'b0}}}}, write_address[{amsb}:0]}} ^ {{{D}{{write_enable ^ read_enabled}}}};
end
`else
reg [{msb}:0] mem [0:{last}];
integer init_index;
initial begin
   read_data = {D}'d0;
   last_read_address = {abits}'d0;
   wrote = 1'b0;
   for (init_index = 0; init_index < {depth}; init_index = init_index + 1) mem[init_index] = {D}'d0;
end
always @(posedge clock) begin
   if (read_enable) read_data <= mem[read_address[{amsb}:0]];
   if (write_enable) mem[write_address[{amsb}:0]] <= write_data;
end
`endif
",
            last = depth - 1,
        ))
    }
}
