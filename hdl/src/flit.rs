//! The flit and packet format of the network on chip.
//!
//! A link carries one flit per cycle: `valid`, `tail` and `data` (the configured flit width, 32 or
//! 64 bits), plus a `credit` wire running the other way. A packet is a header flit followed by
//! `length` payload flits; `tail` marks its last flit (the header itself when `length` is 0).
//! Wormhole switching: a router output stays with one packet from its header to its tail.
//!
//! Header flit, `data` bits (the same in both widths; higher bits are reserved and carried as is):
//!
//! | bits    | field  | meaning                                                       |
//! |---------|--------|---------------------------------------------------------------|
//! | [2:0]   | dest_x | destination column (east is +x)                               |
//! | [5:3]   | dest_y | destination row (south is +y)                                 |
//! | [8:6]   | src_x  | source column (for the receiver; routing ignores it)          |
//! | [11:9]  | src_y  | source row                                                    |
//! | [13:12] | kind   | packet type (operand, partial sum, result, control)           |
//! | [21:14] | tag    | sender's tag, e.g. a sequence number                          |
//! | [29:22] | length | payload flits that follow the header (0..=255)                |
//!
//! Coordinates are 3 bits because the grid is at most 8 x 8 (`config::MAX_GRID_SIDE`).

/// Bits of one coordinate in the header.
pub const COORD_BITS: usize = 3;
pub const DEST_X_LSB: usize = 0;
pub const DEST_Y_LSB: usize = 3;
pub const SRC_X_LSB: usize = 6;
pub const SRC_Y_LSB: usize = 9;
pub const KIND_LSB: usize = 12;
pub const KIND_BITS: usize = 2;
pub const TAG_LSB: usize = 14;
pub const TAG_BITS: usize = 8;
pub const LENGTH_LSB: usize = 22;
pub const LENGTH_BITS: usize = 8;
/// Header bits in use; every supported flit width holds them.
pub const HEADER_BITS: usize = LENGTH_LSB + LENGTH_BITS;
/// Most payload flits one packet can carry.
pub const MAX_PAYLOAD_FLITS: usize = (1 << LENGTH_BITS) - 1;

/// The fields of a header flit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Header {
    pub dest_x: u8,
    pub dest_y: u8,
    pub src_x: u8,
    pub src_y: u8,
    pub kind: u8,
    pub tag: u8,
    pub length: u8,
}

fn field(v: u64, lsb: usize, bits: usize) -> u8 {
    ((v >> lsb) & ((1 << bits) - 1)) as u8
}

impl Header {
    /// The header's `data` word.
    pub fn encode(&self) -> u64 {
        let put = |v: u8, lsb: usize, bits: usize| {
            assert!(
                (v as u64) < 1 << bits,
                "header field {v} exceeds {bits} bits"
            );
            (v as u64) << lsb
        };
        put(self.dest_x, DEST_X_LSB, COORD_BITS)
            | put(self.dest_y, DEST_Y_LSB, COORD_BITS)
            | put(self.src_x, SRC_X_LSB, COORD_BITS)
            | put(self.src_y, SRC_Y_LSB, COORD_BITS)
            | put(self.kind, KIND_LSB, KIND_BITS)
            | put(self.tag, TAG_LSB, TAG_BITS)
            | put(self.length, LENGTH_LSB, LENGTH_BITS)
    }

    pub fn decode(data: u64) -> Header {
        Header {
            dest_x: field(data, DEST_X_LSB, COORD_BITS),
            dest_y: field(data, DEST_Y_LSB, COORD_BITS),
            src_x: field(data, SRC_X_LSB, COORD_BITS),
            src_y: field(data, SRC_Y_LSB, COORD_BITS),
            kind: field(data, KIND_LSB, KIND_BITS),
            tag: field(data, TAG_LSB, TAG_BITS),
            length: field(data, LENGTH_LSB, LENGTH_BITS),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_fits_the_narrowest_flit() {
        let h = Header {
            dest_x: 7,
            dest_y: 5,
            src_x: 1,
            src_y: 6,
            kind: 3,
            tag: 0xA5,
            length: 255,
        };
        assert_eq!(Header::decode(h.encode()), h);
        assert!(h.encode() < 1 << HEADER_BITS);
        assert!(HEADER_BITS <= crate::config::NOC_FLIT_WIDTHS[0]);
    }
}
