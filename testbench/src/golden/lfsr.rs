//! The stochastic-rounding random source: one 32-bit Galois LFSR per PE lane.
//!
//! - Polynomial: x^32 + x^22 + x^2 + x + 1 (primitive, period 2^32 - 1), used as the right-shift
//!   Galois form: `s = (s >> 1) ^ (if s & 1 { TAPS } else { 0 })` with `TAPS = 0x8020_0003`.
//! - Seeding: lane `i` starts at `(seed ^ lane_salt(i)) | 1`, so no lane starts at the all-zero
//!   lock-up state and lanes loaded with one seed draw different sequences.
//! - Stepping: each weight update consumes `r = s[15:0]`, then advances the state by 16 steps at
//!   once, so consecutive draws share no bits.
//!
//! The hardware (`nt_hdl::lfsr`) defines the same constants on its own; a test compares them.

/// Galois feedback mask of x^32 + x^22 + x^2 + x + 1.
pub const LFSR_TAPS: u32 = 0x8020_0003;
/// Steps per draw: one per bit of `r`.
pub const LFSR_LEAP: usize = 16;

/// Per-lane seed salt: (lane + 1) times the 32-bit golden-ratio constant.
pub fn lane_salt(lane: usize) -> u32 {
    (lane as u32 + 1).wrapping_mul(0x9E37_79B9)
}

/// One Galois step.
pub fn step(s: u32) -> u32 {
    (s >> 1) ^ if s & 1 == 1 { LFSR_TAPS } else { 0 }
}

/// The per-lane generator as the golden model steps it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lfsr {
    pub state: u32,
}

impl Lfsr {
    pub fn seeded(seed: u32, lane: usize) -> Lfsr {
        Lfsr {
            state: (seed ^ lane_salt(lane)) | 1,
        }
    }

    /// The 16-bit value for one update; advances the state.
    pub fn next_r(&mut self) -> u16 {
        let r = self.state as u16;
        for _ in 0..LFSR_LEAP {
            self.state = step(self.state);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The step is linear over GF(2): represent it as 32 column images and raise it to powers.
    fn matrix_of(f: impl Fn(u32) -> u32) -> [u32; 32] {
        std::array::from_fn(|i| f(1 << i))
    }
    fn apply(m: &[u32; 32], v: u32) -> u32 {
        (0..32)
            .filter(|i| v >> i & 1 == 1)
            .fold(0, |acc, i| acc ^ m[i])
    }
    fn compose(a: &[u32; 32], b: &[u32; 32]) -> [u32; 32] {
        std::array::from_fn(|i| apply(a, b[i]))
    }
    fn power(m: &[u32; 32], mut e: u64) -> [u32; 32] {
        let mut result: [u32; 32] = std::array::from_fn(|i| 1 << i);
        let mut base = *m;
        while e > 0 {
            if e & 1 == 1 {
                result = compose(&base, &result);
            }
            base = compose(&base, &base);
            e >>= 1;
        }
        result
    }

    #[test]
    fn taps_give_the_maximal_period() {
        let m = matrix_of(step);
        let identity: [u32; 32] = std::array::from_fn(|i| 1 << i);
        let period: u64 = (1 << 32) - 1;
        assert_eq!(power(&m, period), identity);
        // 2^32 - 1 = 3 * 5 * 17 * 257 * 65537: no proper divisor period.
        for p in [3u64, 5, 17, 257, 65537] {
            assert_ne!(
                power(&m, period / p),
                identity,
                "period divides (2^32-1)/{p}"
            );
        }
    }

    #[test]
    fn draws_are_uniform_enough() {
        let mut l = Lfsr::seeded(12345, 3);
        let n = 1 << 16;
        let mut buckets = [0u32; 16];
        let mut sum = 0u64;
        for _ in 0..n {
            let r = l.next_r();
            buckets[(r >> 12) as usize] += 1;
            sum += r as u64;
        }
        let mean = sum as f64 / n as f64;
        assert!((mean - 32767.5).abs() < 300.0, "mean {mean}");
        for b in buckets {
            assert!((b as i64 - 4096).abs() < 300, "bucket {b}");
        }
    }

    #[test]
    fn hardware_uses_the_documented_constants() {
        assert_eq!(nt_hdl::lfsr::TAPS, LFSR_TAPS);
        assert_eq!(nt_hdl::lfsr::LEAP, LFSR_LEAP);
        for lane in 0..64 {
            assert_eq!(nt_hdl::lfsr::lane_salt(lane), lane_salt(lane));
        }
    }

    #[test]
    fn lanes_differ_and_never_lock_up() {
        let a = Lfsr::seeded(0, 0);
        let b = Lfsr::seeded(0, 1);
        assert_ne!(a.state, b.state);
        for lane in 0..64 {
            assert_ne!(Lfsr::seeded(lane_salt(lane), lane).state, 0);
        }
    }
}
