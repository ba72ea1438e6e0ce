//! How a layer's outputs are split over tiles and lanes.

/// Consecutive outputs `start..start + len` of a layer, computed by `tile` in one pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub tile: usize,
    pub start: usize,
    pub len: usize,
}

/// Splits `n` outputs into chunks of at most `lanes`, at least one per tile while there are
/// outputs to go round, sizes differing by at most one, dealt to tiles round robin.
pub fn chunks(n: usize, tiles: usize, lanes: usize) -> Vec<Chunk> {
    let k = n.div_ceil(lanes).max(tiles.min(n));
    let (base, extra) = (n / k, n % k);
    let mut out = Vec::with_capacity(k);
    let mut start = 0;
    for i in 0..k {
        let len = base + (i < extra) as usize;
        out.push(Chunk {
            tile: i % tiles,
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
                    let c = chunks(n, tiles, lanes);
                    let mut next = 0;
                    for ch in &c {
                        assert_eq!(ch.start, next);
                        assert!(ch.len >= 1 && ch.len <= lanes, "{n} {tiles} {lanes}: {ch:?}");
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
}
