//! Rounds of an all-to-all on the mesh in which no two transfers share a link.
//!
//! Routers route X then Y (`hdl/src/router.rs`), tile t sitting at column `t % cols`, row
//! `t / cols`. Two transfers of one round on a common link take turns on it: bench_fc's
//! exchange rounds took about 420 cycles where every link carried one transfer and 690 where
//! one carried two. A ring (tile t to `t + d` in round d) puts two on a link in 9 of the 15
//! rounds of a 4 x 4 mesh; [`disjoint_pairs`] searches for rounds that never do.

use std::collections::{HashMap, HashSet};
use std::sync::{Mutex, OnceLock};

/// A directed link, from one tile to its neighbour.
pub type Link = (usize, usize);

/// The links from tile `s` to tile `d`: along the row to `d`'s column, then along the column.
pub fn route(s: usize, d: usize, cols: usize) -> Vec<Link> {
    let (mut x, mut y) = (s % cols, s / cols);
    let (dx, dy) = (d % cols, d / cols);
    let mut links = vec![];
    while x != dx {
        let nx = if dx > x { x + 1 } else { x - 1 };
        links.push((y * cols + x, y * cols + nx));
        x = nx;
    }
    while y != dy {
        let ny = if dy > y { y + 1 } else { y - 1 };
        links.push((y * cols + x, ny * cols + x));
        y = ny;
    }
    links
}

/// The most transfers (source, destination) of one round on any link.
pub fn link_load(pairs: impl Iterator<Item = (usize, usize)>, cols: usize) -> usize {
    let mut load = HashMap::new();
    for (s, d) in pairs {
        for l in route(s, d, cols) {
            *load.entry(l).or_insert(0) += 1;
        }
    }
    load.into_values().max().unwrap_or(0)
}

/// Meshes searched at most: pairs grow with the square of the tiles.
pub const MAX_TILES: usize = 16;
/// Search effort: whole schedules built, and random packings tried for each round (a 4 x 4
/// mesh's 240 pairs then go in 16 rounds, as the mesh's middle cuts allow at best: 64 pairs
/// cross each on 4 links a way).
const RESTARTS: usize = 24;
const PACKINGS: usize = 32;
/// The search's seed: the same mesh always gets the same rounds.
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Rounds of (source, destination) pairs.
pub type PairRounds = Vec<Vec<(usize, usize)>>;

/// Rounds that take every ordered pair of distinct tiles once, each tile sending at most once
/// and receiving at most once a round, no two transfers of a round on one link; the fewest
/// rounds found (`None` above [`MAX_TILES`]). Each round packs greedily the pairs that cross the
/// mesh's middle cuts first (they are what the cuts' few links limit), then the longest routes,
/// in random order among equals, keeping the best of several packings. Searched once per mesh
/// (a few tenths of a second for 4 x 4) and kept.
pub fn disjoint_pairs(rows: usize, cols: usize) -> Option<PairRounds> {
    type Found = HashMap<(usize, usize), Option<PairRounds>>;
    static FOUND: OnceLock<Mutex<Found>> = OnceLock::new();
    let found = FOUND.get_or_init(Default::default);
    let mut found = found.lock().unwrap_or_else(|e| e.into_inner());
    found
        .entry((rows, cols))
        .or_insert_with(|| search(rows, cols))
        .clone()
}

fn search(rows: usize, cols: usize) -> Option<PairRounds> {
    let tiles = rows * cols;
    if tiles > MAX_TILES {
        return None;
    }
    let cuts = |(s, d): (usize, usize)| {
        let across = |a: usize, b: usize, n: usize| usize::from((a < n / 2) != (b < n / 2));
        across(s % cols, d % cols, cols) + across(s / cols, d / cols, rows)
    };
    let routes: Vec<((usize, usize), Vec<Link>)> = (0..tiles)
        .flat_map(|s| (0..tiles).filter(move |&d| d != s).map(move |d| (s, d)))
        .map(|p| (p, route(p.0, p.1, cols)))
        .collect();
    let worth = |p: (usize, usize), hops: usize| 10 * cuts(p) + hops;
    let mut rng = SEED;
    let mut best: Option<PairRounds> = None;
    for _ in 0..RESTARTS {
        let mut left: Vec<usize> = (0..routes.len()).collect();
        let mut rounds = vec![];
        while !left.is_empty() {
            let mut chosen: (usize, Vec<usize>) = (0, vec![]);
            for _ in 0..PACKINGS {
                let mut order: Vec<(usize, u64)> =
                    left.iter().map(|&i| (i, next(&mut rng))).collect();
                order.sort_by_key(|&(i, r)| {
                    let (p, links) = &routes[i];
                    (std::cmp::Reverse((cuts(*p), links.len())), r)
                });
                let (mut sends, mut receives) = (vec![false; tiles], vec![false; tiles]);
                let mut used: HashSet<Link> = HashSet::new();
                let mut taken = vec![];
                for (i, _) in order {
                    let ((s, d), links) = &routes[i];
                    if sends[*s] || receives[*d] || links.iter().any(|l| used.contains(l)) {
                        continue;
                    }
                    sends[*s] = true;
                    receives[*d] = true;
                    used.extend(links.iter().copied());
                    taken.push(i);
                }
                let score = taken
                    .iter()
                    .map(|&i| worth(routes[i].0, routes[i].1.len()))
                    .sum();
                if score > chosen.0 {
                    chosen = (score, taken);
                }
            }
            let taken: HashSet<usize> = chosen.1.iter().copied().collect();
            left.retain(|i| !taken.contains(i));
            let mut round: Vec<(usize, usize)> = chosen.1.iter().map(|&i| routes[i].0).collect();
            round.sort_unstable();
            rounds.push(round);
        }
        if best.as_ref().is_none_or(|b| rounds.len() < b.len()) {
            best = Some(rounds);
        }
    }
    best
}

/// xorshift64: a fixed sequence from the seed.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_go_along_the_row_then_the_column() {
        // 4 x 4: tile 1 (column 1, row 0) to tile 14 (column 2, row 3).
        assert_eq!(route(1, 14, 4), [(1, 2), (2, 6), (6, 10), (10, 14)]);
        assert_eq!(route(5, 5, 4), []);
    }

    #[test]
    fn every_pair_goes_once_in_rounds_that_share_no_link() {
        for (rows, cols) in [(1, 2), (2, 2), (2, 4), (4, 2), (4, 4)] {
            let tiles = rows * cols;
            let rounds = disjoint_pairs(rows, cols).unwrap();
            let mut seen = HashSet::new();
            for r in &rounds {
                assert_eq!(
                    link_load(r.iter().copied(), cols),
                    1,
                    "{rows} x {cols}: {r:?}"
                );
                let senders: HashSet<usize> = r.iter().map(|p| p.0).collect();
                let receivers: HashSet<usize> = r.iter().map(|p| p.1).collect();
                assert_eq!((senders.len(), receivers.len()), (r.len(), r.len()));
                for &p in r {
                    assert!(p.0 != p.1 && seen.insert(p), "{rows} x {cols}: {p:?} again");
                }
            }
            assert_eq!(seen.len(), tiles * (tiles - 1), "{rows} x {cols}");
        }
        // The 4 x 4 mesh's cuts allow 16 rounds at best; the ring takes two transfers on a link
        // in 9 of its 15.
        assert_eq!(disjoint_pairs(4, 4).unwrap().len(), 16);
        let ring = |d: usize| (0..16).map(move |t| (t, (t + d) % 16));
        assert_eq!((1..16).filter(|&d| link_load(ring(d), 4) > 1).count(), 9);
        assert!(disjoint_pairs(8, 4).is_none());
    }

    #[test]
    fn the_same_mesh_gets_the_same_rounds() {
        assert_eq!(disjoint_pairs(4, 4), disjoint_pairs(4, 4));
    }
}
