//! The `fixed16` number-format profile (ARCHITECTURE.md section 3), as plain integer Rust.
//!
//! This is the reference every RTL result is compared with, bit for bit. It uses no rust-hdl and
//! no floating point; its agreement with real arithmetic is checked against f64 in the tests.

/// Per-call saturation flag: `true` when the result was clamped.
pub type Saturated = bool;

/// Activation functions the post-op unit implements. The discriminant is the hardware encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Activation {
    Identity = 0,
    Relu = 1,
    LeakyRelu = 2,
    Sigmoid = 3,
    Tanh = 4,
}

impl Activation {
    pub const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
    ];

    pub fn code(self) -> u8 {
        self as u8
    }
}

/// Leaky ReLU's negative slope is 1/8: an arithmetic shift by this many bits.
pub const LEAKY_SHIFT: u32 = 3;
/// The stochastic-rounding update divides `eta * g` by 2^16 (eta has 16 fraction bits).
pub const ETA_FRAC_BITS: u32 = 16;

const I16_MIN: i64 = i16::MIN as i64;
const I16_MAX: i64 = i16::MAX as i64;
const I32_MIN: i64 = i32::MIN as i64;
const I32_MAX: i64 = i32::MAX as i64;

fn clamp(x: i64, lo: i64, hi: i64) -> (i64, Saturated) {
    if x < lo {
        (lo, true)
    } else if x > hi {
        (hi, true)
    } else {
        (x, false)
    }
}

/// Saturates to a signed 16-bit value.
pub fn sat16(x: i64) -> (i16, Saturated) {
    let (v, s) = clamp(x, I16_MIN, I16_MAX);
    (v as i16, s)
}

/// Saturates to a signed 32-bit value.
pub fn sat32(x: i64) -> (i32, Saturated) {
    let (v, s) = clamp(x, I32_MIN, I32_MAX);
    (v as i32, s)
}

/// Arithmetic right shift by `s` with round half up: `(x + 2^(s-1)) >> s`; identity for s = 0.
pub fn round_shift(x: i64, s: u32) -> i64 {
    if s == 0 {
        x
    } else {
        (x + (1i64 << (s - 1))) >> s
    }
}

/// The arithmetic of one fixed16 configuration: F and G fraction bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed16 {
    /// F: fraction bits of activations, MAC weights and errors.
    pub f: u32,
    /// G: fraction bits of master weights, biases and gradients.
    pub g: u32,
}

impl Default for Fixed16 {
    fn default() -> Self {
        Fixed16 { f: 10, g: 24 }
    }
}

impl Fixed16 {
    pub fn new(f: u32, g: u32) -> Fixed16 {
        assert!(
            (5..=14).contains(&f) && g >= 2 * f && g <= 30,
            "F={f}, G={g} out of range"
        );
        Fixed16 { f, g }
    }

    /// 1.0 with F fraction bits.
    pub fn one(&self) -> i64 {
        1 << self.f
    }

    /// Requantizes a 2F-fraction value (an accumulator) to 16 bits: `sat16((acc + 2^(F-1)) >> F)`.
    pub fn requant(&self, acc: i64) -> (i16, Saturated) {
        sat16(round_shift(acc, self.f))
    }

    /// The 16-bit MAC weight derived from a 32-bit master weight (shift by G - F).
    pub fn mac_weight(&self, master: i32) -> (i16, Saturated) {
        sat16(round_shift(master as i64, self.g - self.f))
    }

    /// A 32-bit bias with G fraction bits, aligned to the accumulator's 2F (shift by G - 2F).
    pub fn bias_to_acc(&self, bias: i32) -> i64 {
        round_shift(bias as i64, self.g - 2 * self.f)
    }

    /// A weight-gradient accumulator (2F fraction bits) aligned to G fraction bits, 32-bit.
    pub fn grad_align(&self, acc: i64) -> (i32, Saturated) {
        sat32(acc << (self.g - 2 * self.f))
    }

    /// A bias gradient: a sum of errors (F fraction bits) aligned to G fraction bits.
    pub fn bias_grad_align(&self, sum: i64) -> (i32, Saturated) {
        sat32(sum << (self.g - self.f))
    }

    /// Exact product of two 16-bit values: 2F fraction bits.
    pub fn mul(a: i16, b: i16) -> i64 {
        a as i64 * b as i64
    }

    /// The PLAN piecewise-linear sigmoid on |x| (x >= 0), F fraction bits, shifts only:
    ///
    /// | segment            | value                  |
    /// |--------------------|------------------------|
    /// | 0 <= x < 1         | x/4 + 1/2              |
    /// | 1 <= x < 2.375     | x/8 + 5/8              |
    /// | 2.375 <= x < 5     | x/32 + 27/32           |
    /// | x >= 5             | 1                      |
    ///
    /// Each shift truncates toward minus infinity (x is non-negative here).
    pub fn plan_positive(&self, ax: i64) -> i64 {
        let f = self.f;
        if ax >= 5 << f {
            1 << f
        } else if ax >= 19 << (f - 3) {
            (ax >> 5) + (27 << (f - 5))
        } else if ax >= 1 << f {
            (ax >> 3) + (5 << (f - 3))
        } else {
            (ax >> 2) + (1 << (f - 1))
        }
    }

    /// Sigmoid: PLAN on |x|, mirrored as 1 - s for negative x.
    pub fn sigmoid(&self, x: i16) -> i16 {
        let s = self.plan_positive((x as i64).abs());
        (if x < 0 { self.one() - s } else { s }) as i16
    }

    /// Tanh: 2 * sigmoid(2x) - 1 on |x| with PLAN, odd-symmetric.
    pub fn tanh(&self, x: i16) -> i16 {
        let ax = (x as i64).abs();
        let t = 2 * self.plan_positive(2 * ax) - self.one();
        (if x < 0 { -t } else { t }) as i16
    }

    /// Applies an activation to a requantized pre-activation z.
    pub fn activate(&self, act: Activation, z: i16) -> i16 {
        match act {
            Activation::Identity => z,
            Activation::Relu => z.max(0),
            Activation::LeakyRelu => {
                if z >= 0 {
                    z
                } else {
                    z >> LEAKY_SHIFT
                }
            }
            Activation::Sigmoid => self.sigmoid(z),
            Activation::Tanh => self.tanh(z),
        }
    }

    /// The derivative f'(x) expressed through the stored output y = f(x), F fraction bits.
    pub fn derivative(&self, act: Activation, y: i16) -> (i16, Saturated) {
        let one = self.one();
        let yy = y as i64 * y as i64;
        match act {
            Activation::Identity => (one as i16, false),
            Activation::Relu => ((if y > 0 { one } else { 0 }) as i16, false),
            Activation::LeakyRelu => (
                (if y >= 0 { one } else { one >> LEAKY_SHIFT }) as i16,
                false,
            ),
            Activation::Sigmoid => self.requant(((y as i64) << self.f) - yy),
            Activation::Tanh => self.requant((1i64 << (2 * self.f)) - yy),
        }
    }

    /// Backward post-op: `q(q(reduction) * d)`, two roundings in that order. Returns the result and
    /// the number of saturation events (0..=2).
    pub fn backward(&self, reduction: i64, d: i16) -> (i16, u32) {
        let (r, s1) = self.requant(reduction);
        let (v, s2) = self.requant(Self::mul(r, d));
        (v, s1 as u32 + s2 as u32)
    }

    /// Output error of a mean-squared-error loss: `q(sat16(y - t) * d)`.
    pub fn output_error(&self, y: i16, t: i16, d: i16) -> (i16, u32) {
        let (e, s1) = sat16(y as i64 - t as i64);
        let (v, s2) = self.requant(Self::mul(e, d));
        (v, s1 as u32 + s2 as u32)
    }

    /// Stochastic-rounding weight update: `sat32(w - ((eta * g + r) >> 16))`.
    pub fn sr_update(w: i32, g: i32, eta: u16, r: u16) -> (i32, Saturated) {
        let step = (eta as i64 * g as i64 + r as i64) >> ETA_FRAC_BITS;
        sat32(w as i64 - step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    fn to_f(x: i64, bits: u32) -> f64 {
        x as f64 / (1u64 << bits) as f64
    }

    #[test]
    fn requant_rounds_half_up_and_saturates() {
        let q = Fixed16::default();
        // 1.5 LSB rounds up to 2, -1.5 rounds up to -1, -2.5 to -2 (half up, toward +inf).
        assert_eq!(q.requant(3 << 9), (2, false));
        assert_eq!(q.requant(-(3 << 9)), (-1, false));
        assert_eq!(q.requant(-(5 << 9)), (-2, false));
        assert_eq!(q.requant(1 << 40), (i16::MAX, true));
        assert_eq!(q.requant(-(1 << 40)), (i16::MIN, true));
        assert_eq!(q.requant((32767 << 10) + 511), (32767, false));
        assert_eq!(q.requant((32767 << 10) + 512), (32767, true));
    }

    #[test]
    fn requant_is_within_half_an_lsb_of_real_rounding() {
        let q = Fixed16::default();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        for _ in 0..100_000 {
            let acc: i64 = rng.gen_range(-(32_000i64 << 10)..(32_000i64 << 10));
            let (v, s) = q.requant(acc);
            assert!(!s);
            let exact = to_f(acc, 10);
            assert!((v as f64 - exact).abs() <= 0.5, "{acc}: {v} vs {exact}");
        }
    }

    #[test]
    fn plan_sigmoid_and_tanh_error_bounds_against_f64() {
        // PLAN's own maximum error is 0.0189 for the sigmoid; tanh doubles it. Truncating shifts
        // add at most 2^-F each.
        for f in [8u32, 10, 12] {
            let q = Fixed16::new(f, 2 * f + 4);
            let lsb = 1.0 / (1u64 << f) as f64;
            let (mut worst_s, mut worst_t) = (0.0f64, 0.0f64);
            for x in i16::MIN..=i16::MAX {
                let xf = to_f(x as i64, f);
                let s = to_f(q.sigmoid(x) as i64, f);
                let t = to_f(q.tanh(x) as i64, f);
                worst_s = worst_s.max((s - 1.0 / (1.0 + (-xf).exp())).abs());
                worst_t = worst_t.max((t - xf.tanh()).abs());
            }
            assert!(
                worst_s <= 0.0190 + 2.0 * lsb,
                "F={f} sigmoid error {worst_s}"
            );
            assert!(worst_t <= 0.0380 + 4.0 * lsb, "F={f} tanh error {worst_t}");
            assert!(worst_s > 0.01, "sigmoid suspiciously exact: {worst_s}");
        }
    }

    #[test]
    fn plan_is_monotone_and_symmetric() {
        let q = Fixed16::default();
        let mut prev_t = i16::MIN;
        for x in -32767i16..=i16::MAX {
            assert_eq!(q.tanh(-x), -q.tanh(x));
            assert_eq!(q.sigmoid(-x) as i64, q.one() - q.sigmoid(x) as i64);
            let t = q.tanh(x);
            // PLAN steps down by 0.0039 at 2.375 (4 LSB at F = 10); tanh doubles it at 1.1875.
            assert!(
                t as i32 >= prev_t as i32 - 8,
                "tanh not near-monotone at {x}"
            );
            prev_t = t;
        }
    }

    #[test]
    fn derivatives_match_f64_within_rounding() {
        let q = Fixed16::default();
        for y in [-1024i16, -700, -1, 0, 1, 300, 512, 1000, 1024] {
            let yf = to_f(y as i64, 10);
            let (ds, _) = q.derivative(Activation::Sigmoid, y);
            assert!((to_f(ds as i64, 10) - yf * (1.0 - yf)).abs() <= 0.5 / 1024.0 + 1e-12);
            let (dt, _) = q.derivative(Activation::Tanh, y);
            assert!((to_f(dt as i64, 10) - (1.0 - yf * yf)).abs() <= 0.5 / 1024.0 + 1e-12);
        }
        assert_eq!(q.derivative(Activation::Relu, 5).0, 1024);
        assert_eq!(q.derivative(Activation::Relu, 0).0, 0);
        assert_eq!(q.derivative(Activation::LeakyRelu, -3).0, 128);
        assert_eq!(q.derivative(Activation::Identity, -3).0, 1024);
        // Sigmoid derivative of an out-of-range y saturates rather than wraps.
        assert_eq!(q.derivative(Activation::Tanh, i16::MIN), (i16::MIN, true));
    }

    #[test]
    fn leaky_relu_is_an_arithmetic_shift() {
        let q = Fixed16::default();
        assert_eq!(q.activate(Activation::LeakyRelu, -8), -1);
        assert_eq!(q.activate(Activation::LeakyRelu, -1), -1);
        assert_eq!(q.activate(Activation::LeakyRelu, -17), -3);
        assert_eq!(q.activate(Activation::LeakyRelu, 17), 17);
    }

    #[test]
    fn sr_update_is_floor_or_ceil_and_unbiased() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for _ in 0..200 {
            let w: i32 = rng.gen_range(-(1 << 28)..(1 << 28));
            let g: i32 = rng.gen_range(-(1 << 20)..(1 << 20));
            let eta: u16 = rng.gen();
            let exact = w as f64 - eta as f64 * g as f64 / 65536.0;
            let n = 4000;
            let mut sum = 0.0;
            for _ in 0..n {
                let (v, s) = Fixed16::sr_update(w, g, eta, rng.gen());
                assert!(!s);
                assert!(
                    v as f64 == exact.floor() || v as f64 == exact.ceil(),
                    "{v} vs {exact}"
                );
                sum += v as f64;
            }
            // Bernoulli rounding: the mean's standard error is at most 0.5 / sqrt(n) = 0.0079.
            assert!(
                (sum / n as f64 - exact).abs() < 0.04,
                "biased: {} vs {exact}",
                sum / n as f64
            );
        }
    }

    #[test]
    fn sr_update_saturates() {
        assert_eq!(
            Fixed16::sr_update(i32::MIN + 1, i32::MAX, 65535, 0),
            (i32::MIN, true)
        );
        assert_eq!(
            Fixed16::sr_update(i32::MAX, i32::MIN, 65535, 0),
            (i32::MAX, true)
        );
    }

    #[test]
    fn alignment_of_biases_and_gradients() {
        let q = Fixed16::default(); // G - 2F = 4
        assert_eq!(q.bias_to_acc(24), 2); // 1.5 rounds half up
        assert_eq!(q.bias_to_acc(-24), -1);
        assert_eq!(q.grad_align(3), (48, false));
        assert_eq!(q.grad_align(1 << 40), (i32::MAX, true));
        assert_eq!(q.bias_grad_align(3), (3 << 14, false));
        assert_eq!(q.mac_weight(1 << 14), (1, false)); // G - F = 14
        assert_eq!(q.mac_weight(i32::MAX), (i16::MAX, true));
        // An MSE error on an identity output is exactly sat16(y - t).
        assert_eq!(q.output_error(100, -50, 1024), (150, 0));
        assert_eq!(q.output_error(30000, -30000, 1024), (i16::MAX, 1));
    }
}
