//! How a layer's outputs are split over tiles and lanes.

/// Consecutive outputs `start..start + len` of a layer, computed by `tile` in one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub tile: usize,
    pub start: usize,
    pub len: usize,
}

/// The order in which the tiles of a `rows x cols` mesh (numbered row-major) take chunks: chunk
/// i goes to tile `order[i % tiles]`. An all-gather's round k swaps what the tiles at places v
/// and v ^ 2^k of this order hold, 2^k chunks each way, so the last rounds move the most: they
/// get the partners nearest on the mesh. The bits of v go, from the last round's down, to the
/// coordinate bits from the lowest up, a row's before a column's: in the last two rounds of a
/// 4 x 4 mesh every tile swaps with a neighbour, over a link no other pair uses, where row-major
/// order made the last round's partners two rows apart and two pairs share each link between.
/// Row-major order where rows or cols is not a power of two.
pub fn deal_order(rows: usize, cols: usize) -> Vec<usize> {
    let tiles = rows * cols;
    if !rows.is_power_of_two() || !cols.is_power_of_two() {
        return (0..tiles).collect();
    }
    let (row_bits, col_bits) = (rows.trailing_zeros(), cols.trailing_zeros());
    // Coordinate bits nearest first: (is a row bit, bit).
    let mut nearest = vec![];
    for j in 0..row_bits.max(col_bits) {
        if j < row_bits {
            nearest.push((true, j));
        }
        if j < col_bits {
            nearest.push((false, j));
        }
    }
    let bits = nearest.len();
    (0..tiles)
        .map(|v| {
            let (mut row, mut col) = (0, 0);
            for k in 0..bits {
                let (is_row, j) = nearest[bits - 1 - k];
                let bit = (v >> k & 1) << j;
                if is_row {
                    row |= bit;
                } else {
                    col |= bit;
                }
            }
            row * cols + col
        })
        .collect()
}

/// Splits `n` outputs into chunks of at most `lanes`, at least one per tile while there are
/// outputs to go round, sizes differing by at most one, dealt to the tiles round robin in
/// `order` ([`deal_order`]).
pub fn chunks(n: usize, order: &[usize], lanes: usize) -> Vec<Chunk> {
    let tiles = order.len();
    let k = n.div_ceil(lanes).max(tiles.min(n));
    let (base, extra) = (n / k, n % k);
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let len = base + (i < extra) as usize;
        out.push(Chunk {
            tile: order[i % tiles],
            start,
            len,
        });
        start += len;
    }
    out
}

/// The chunks of `tile`, in order.
pub fn of_tile(chunks: &[Chunk], tile: usize) -> Vec<Chunk> {
    chunks.iter().copied().filter(|c| c.tile == tile).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_every_output_once_within_the_lanes() {
        for n in 1..70 {
            for tiles in [1, 2, 4, 16] {
                for lanes in [1, 4, 16] {
                    let order: Vec<usize> = (0..tiles).collect();
                    let c = chunks(n, &order, lanes);
                    let mut next = 0;
                    for ch in &c {
                        assert_eq!(ch.start, next);
                        assert!(
                            ch.len >= 1 && ch.len <= lanes,
                            "{n} {tiles} {lanes}: {ch:?}"
                        );
                        next += ch.len;
                    }
                    assert_eq!(next, n);
                    let max = c.iter().map(|x| x.len).max().unwrap();
                    let min = c.iter().map(|x| x.len).min().unwrap();
                    assert!(max - min <= 1);
                    assert!(c.len() >= tiles.min(n));
                }
            }
        }
    }

    /// Mesh hops between row-major tiles `a` and `b` of a mesh `cols` wide.
    fn hops(a: usize, b: usize, cols: usize) -> usize {
        (a / cols).abs_diff(b / cols) + (a % cols).abs_diff(b % cols)
    }

    #[test]
    fn the_deal_order_puts_the_last_gather_rounds_partners_next_to_each_other() {
        for (rows, cols) in [(1, 1), (1, 2), (2, 2), (2, 4), (4, 4), (4, 8), (8, 8)] {
            let order = deal_order(rows, cols);
            let tiles = rows * cols;
            let mut sorted = order.clone();
            sorted.sort();
            assert_eq!(sorted, (0..tiles).collect::<Vec<_>>(), "{rows}x{cols}");
            let rounds = tiles.trailing_zeros() as usize;
            // The last two rounds (one when there is only one) swap with a neighbour.
            for k in rounds.saturating_sub(2)..rounds {
                for v in 0..tiles {
                    let d = hops(order[v], order[v ^ 1 << k], cols);
                    assert_eq!(d, 1, "{rows}x{cols}, round {k}, place {v}");
                }
            }
        }
        // Row-major where a side is not a power of two.
        assert_eq!(deal_order(3, 2), (0..6).collect::<Vec<_>>());
    }
}
