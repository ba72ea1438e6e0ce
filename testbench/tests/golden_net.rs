//! The network-level fixed16 golden model against real arithmetic: forward values within derived
//! bounds, gradients against finite differences of the f64 loss, and loss falling in training.

use nt_testbench::golden::fixed16::Fixed16;
use nt_testbench::golden::lfsr::Lfsr;
use nt_testbench::golden::net::{GoldenNet, LayerParams, ParamRef, Params};
use nt_testbench::golden::net_f64::{F64Params, ReferenceNet};
use nt_testbench::network::{Network, Shape};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// PE lanes whose LFSRs feed the stochastic rounding; parameter `index % LANES` uses lane
/// `index % LANES`, as the hardware's default 16-lane PE would.
const LANES: usize = 16;
/// The tanh table's own worst error plus its truncations at F = 10 (fixed16.rs's
/// `plan_sigmoid_and_tanh_error_bounds_against_f64`: 0.038 + 4 LSB).
const TANH_PLAN_ERROR: f64 = 0.0380 + 4.0 / 1024.0;

fn fmt() -> Fixed16 {
    Fixed16::default()
}

/// Half an LSB of F fraction bits: the error of one round-half-up to F bits.
fn half_lsb_f() -> f64 {
    0.5 / fmt().one() as f64
}

/// Half an LSB of 2F fraction bits: the error of `bias_to_acc`.
fn half_lsb_2f() -> f64 {
    0.5 / (1u64 << (2 * fmt().f)) as f64
}

fn to_real(v: i16) -> f64 {
    v as f64 / fmt().one() as f64
}

fn to_fix(v: f64) -> i16 {
    (v * fmt().one() as f64)
        .round()
        .clamp(i16::MIN as f64, i16::MAX as f64) as i16
}

fn net(text: &str) -> Network {
    Network::from_toml_str(text).unwrap_or_else(|e| panic!("{e:#}"))
}

/// Random parameters with random (not zero) biases, so the bias path is exercised.
fn params(g: &GoldenNet, rng: &mut ChaCha8Rng, bias: f64) -> Params {
    let mut p = Params::random(g.shapes(), g.fmt(), rng);
    if bias == 0.0 {
        return p;
    }
    let scale = (1u64 << g.fmt().g) as f64;
    for l in &mut p.layers {
        for b in &mut l.biases {
            *b = (rng.gen_range(-bias..bias) * scale).round() as i32;
        }
    }
    p
}

/// Inputs uniform in [-1, 1), fixed and real (the same values).
fn inputs(n: usize, rng: &mut ChaCha8Rng) -> (Vec<i16>, Vec<f64>) {
    let fix: Vec<i16> = (0..n).map(|_| to_fix(rng.gen_range(-1.0..1.0))).collect();
    let real = fix.iter().map(|&v| to_real(v)).collect();
    (fix, real)
}

fn lfsr_lanes(seed: u32) -> impl FnMut(ParamRef) -> u16 {
    let mut lanes: Vec<Lfsr> = (0..LANES).map(|l| Lfsr::seeded(seed, l)).collect();
    move |p| lanes[p.index % LANES].next_r()
}

/// Per-element bound of a requantized dot product against the real one with master weights:
/// each MAC weight is within half an F-LSB of its master, the bias within half a 2F-LSB, and
/// the requantization adds half an F-LSB.
fn dot_bound(sum_abs_x: f64) -> f64 {
    half_lsb_f() * sum_abs_x + half_lsb_2f() + half_lsb_f()
}

#[test]
fn fc_forward_agrees_with_f64() {
    let n = net("name = \"fc\"\ninput = [12]\n[[layer]]\ntype = \"fc\"\nout = 6\nact = \"relu\"");
    let g = GoldenNet::new(n.clone(), fmt()).unwrap();
    let r = ReferenceNet::new(n).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    let batch = 4;
    let p = params(&g, &mut rng, 0.5);
    let (x, xr) = inputs(batch * 12, &mut rng);
    let fix = g.forward(&p, &x, batch).unwrap();
    let real = r
        .forward(&F64Params::from_master(&p, fmt()), &xr, batch)
        .unwrap();
    let mut worst = 0.0f64;
    for b in 0..batch {
        let bound = dot_bound(xr[b * 12..(b + 1) * 12].iter().map(|v| v.abs()).sum());
        for j in 0..6 {
            let k = b * 6 + j;
            let (ez, ey) = (
                (to_real(fix[0].z[k]) - real[0].z[k]).abs(),
                (to_real(fix[0].y[k]) - real[0].y[k]).abs(),
            );
            assert!(ez <= bound && ey <= bound, "({b},{j}): {ez} {ey} > {bound}");
            worst = worst.max(ez);
        }
    }
    // The comparison is not vacuous: rounding shows, and the bound is a few LSB.
    assert!(worst > 0.0 && worst < 8.0 / 1024.0, "worst {worst}");
}

#[test]
fn conv_stride_2_padding_1_forward_agrees_with_a_direct_convolution() {
    // [2, 6, 6] -> kernel 3, stride 2, padding 1 -> [3, 3, 3].
    let n = net(
        "name = \"c\"\ninput = [2, 6, 6]\n[[layer]]\ntype = \"conv\"\nout_channels = 3\n\
         kernel = 3\nstride = 2\npadding = 1\nact = \"leaky_relu\"",
    );
    let g = GoldenNet::new(n.clone(), fmt()).unwrap();
    let r = ReferenceNet::new(n).unwrap();
    assert_eq!(g.shapes()[0].output, Shape::Image { c: 3, h: 3, w: 3 });
    let mut rng = ChaCha8Rng::seed_from_u64(12);
    let batch = 2;
    let p = params(&g, &mut rng, 0.5);
    let pr = F64Params::from_master(&p, fmt());
    let (x, xr) = inputs(batch * 72, &mut rng);
    let fix = g.forward(&p, &x, batch).unwrap();
    let real = r.forward(&pr, &xr, batch).unwrap();
    let (k, s, pad, size, out) = (3i64, 2i64, 1i64, 6i64, 3usize);
    let mut worst = 0.0f64;
    for b in 0..batch {
        for o in 0..3 {
            for oy in 0..out {
                for ox in 0..out {
                    // The textbook definition, written independently of ConvGeometry.
                    let (mut z, mut sum_abs) = (pr.layers[0].biases[o], 0.0);
                    for c in 0..2 {
                        for ky in 0..k {
                            for kx in 0..k {
                                let (iy, ix) = (oy as i64 * s + ky - pad, ox as i64 * s + kx - pad);
                                if iy < 0 || ix < 0 || iy >= size || ix >= size {
                                    continue;
                                }
                                let xi = xr[b * 72 + (c * 36) + (iy * 6 + ix) as usize];
                                let wi = ((o * 2 + c) * 9) + (ky * 3 + kx) as usize;
                                z += pr.layers[0].weights[wi] * xi;
                                sum_abs += xi.abs();
                            }
                        }
                    }
                    let idx = b * 27 + (o * 3 + oy) * 3 + ox;
                    assert!((real[0].z[idx] - z).abs() < 1e-12, "reference conv differs");
                    let ez = (to_real(fix[0].z[idx]) - z).abs();
                    assert!(ez <= dot_bound(sum_abs), "{idx}: {ez}");
                    // Leaky ReLU's shift truncates: one more LSB below zero.
                    let ey = (to_real(fix[0].y[idx]) - real[0].y[idx]).abs();
                    assert!(ey <= dot_bound(sum_abs) + 2.0 * half_lsb_f(), "{idx}: {ey}");
                    worst = worst.max(ez);
                }
            }
        }
    }
    assert!(worst > 0.0, "no rounding at all is suspicious");
}

#[test]
fn rnn_forward_agrees_with_f64_within_a_propagated_bound() {
    let (steps, n_in, hidden) = (4usize, 5usize, 6usize);
    let n = net(&format!(
        "name = \"r\"\ninput = [{steps}, {n_in}]\nsequence = true\n[[layer]]\ntype = \"rnn\"\n\
         hidden = {hidden}\nsteps = {steps}"
    ));
    let g = GoldenNet::new(n.clone(), fmt()).unwrap();
    let r = ReferenceNet::new(n).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(13);
    let batch = 3;
    let p = params(&g, &mut rng, 0.3);
    let pr = F64Params::from_master(&p, fmt());
    let wh = &pr.layers[0].weights[hidden * n_in..];
    let (x, xr) = inputs(batch * steps * n_in, &mut rng);
    let fix = g.forward(&p, &x, batch).unwrap();
    let real = r.forward(&pr, &xr, batch).unwrap();
    // e_z(t) <= dot_bound(sum |x_t| + sum |h_fix(t-1)|) + sum_m |W_h[k,m]| e_h(t-1, m);
    // e_h(t) <= e_z(t) + TANH_PLAN_ERROR (tanh is 1-Lipschitz).
    let mut worst_ratio = 0.0f64;
    for b in 0..batch {
        let mut e_h = vec![0.0f64; hidden];
        for t in 0..steps {
            let at = (b * steps + t) * hidden;
            let sum_x: f64 = (0..n_in)
                .map(|f| xr[(b * steps + t) * n_in + f].abs())
                .sum();
            let sum_h: f64 = if t == 0 {
                0.0
            } else {
                (0..hidden)
                    .map(|m| to_real(fix[0].y[at - hidden + m]).abs())
                    .sum()
            };
            let mut next = vec![0.0; hidden];
            for k in 0..hidden {
                let carried: f64 = (0..hidden).map(|m| wh[k * hidden + m].abs() * e_h[m]).sum();
                let bound_z = dot_bound(sum_x + sum_h) + carried;
                let ez = (to_real(fix[0].z[at + k]) - real[0].z[at + k]).abs();
                let eh = (to_real(fix[0].y[at + k]) - real[0].y[at + k]).abs();
                assert!(ez <= bound_z, "b{b} t{t} k{k}: z error {ez} > {bound_z}");
                next[k] = bound_z + TANH_PLAN_ERROR;
                assert!(eh <= next[k], "b{b} t{t} k{k}: h error {eh} > {}", next[k]);
                worst_ratio = worst_ratio.max(eh / next[k]);
            }
            e_h = next;
        }
    }
    // The bound is not loose beyond use: the table's error is a visible part of it.
    assert!(worst_ratio > 0.05, "worst error / bound {worst_ratio}");
}

/// Relative agreement of the fixed16 gradients with finite differences of the f64 loss.
struct GradCheck {
    /// ||g_fix - g_fd|| / ||g_fd|| over all parameters.
    relative_l2: f64,
    /// Parameters with |g_fd| above a tenth of the largest whose sign differs.
    sign_flips: usize,
    /// Of those, the worst |g_fix - g_fd| / |g_fd|.
    worst_relative: f64,
    checked: usize,
}

/// Central differences of the f64 loss at the master parameters (step `FD_STEP`), compared with
/// the fixed16 step's gradients (`grad / 2^G`).
fn grad_check(text: &str, batch: usize, seed: u64) -> GradCheck {
    /// Small against the weights (~0.3), large against f64 rounding of a loss ~1.
    const FD_STEP: f64 = 1e-5;
    /// Parameters whose finite difference is below this fraction of the largest are only part of
    /// the L2 figure: their sign is within the noise of 16-bit errors.
    const SIGNIFICANT: f64 = 0.1;
    let n = net(text);
    let g = GoldenNet::new(n.clone(), fmt()).unwrap();
    let r = ReferenceNet::new(n).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let p = params(&g, &mut rng, 0.3);
    let (x, xr) = inputs(batch * g.shapes()[0].input.len(), &mut rng);
    let (t, tr) = inputs(batch * g.shapes().last().unwrap().output.len(), &mut rng);
    let step = g.step(&p, &x, &t, batch, 0, |_| 0).unwrap();
    assert_eq!(step.saturations().total(), 0);
    let base = F64Params::from_master(&p, fmt());
    let scale = (1u64 << fmt().g) as f64;
    let (mut fixed, mut numeric) = (Vec::new(), Vec::new());
    for (l, rec) in step.layers.iter().enumerate() {
        let lp = &base.layers[l];
        for (is_bias, grads) in [(false, &rec.grad_w), (true, &rec.grad_b)] {
            let count = if is_bias {
                lp.biases.len()
            } else {
                lp.weights.len()
            };
            assert_eq!(grads.len(), count);
            for (i, &grad) in grads.iter().enumerate() {
                let eval = |delta: f64| {
                    let mut q = base.clone();
                    let v = if is_bias {
                        &mut q.layers[l].biases[i]
                    } else {
                        &mut q.layers[l].weights[i]
                    };
                    *v += delta;
                    r.loss(&q, &xr, &tr, batch).unwrap()
                };
                numeric.push((eval(FD_STEP) - eval(-FD_STEP)) / (2.0 * FD_STEP));
                fixed.push(grad as f64 / scale);
            }
        }
    }
    let norm = |v: &mut dyn Iterator<Item = f64>| v.map(|a| a * a).sum::<f64>().sqrt();
    let relative_l2 = norm(&mut fixed.iter().zip(&numeric).map(|(a, b)| a - b))
        / norm(&mut numeric.iter().copied());
    let largest = numeric.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (mut sign_flips, mut worst_relative, mut checked) = (0, 0.0f64, 0);
    for (&f, &d) in fixed.iter().zip(&numeric) {
        if d.abs() >= SIGNIFICANT * largest {
            checked += 1;
            sign_flips += (f.signum() != d.signum()) as usize;
            worst_relative = worst_relative.max((f - d).abs() / d.abs());
        }
    }
    GradCheck {
        relative_l2,
        sign_flips,
        worst_relative,
        checked,
    }
}

/// Tolerances of the gradient checks. The fixed16 gradient differs from the f64 one by the
/// tanh/sigmoid tables (up to 0.04 in value), the derivative taken from the table's output, and
/// 16-bit errors (half an LSB per rounding of ~0.1..1 values): a few percent overall, more on
/// individual small gradients.
const GRAD_L2_TOLERANCE: f64 = 0.10;
const GRAD_ELEMENT_TOLERANCE: f64 = 0.35;

fn assert_grad_check(name: &str, c: GradCheck) {
    println!(
        "{name}: relative L2 {:.4}, worst significant element {:.4} of {}, sign flips {}",
        c.relative_l2, c.worst_relative, c.checked, c.sign_flips
    );
    assert!(
        c.checked >= 4,
        "{name}: only {} significant gradients",
        c.checked
    );
    assert_eq!(c.sign_flips, 0, "{name}: gradient signs differ");
    assert!(
        c.relative_l2 < GRAD_L2_TOLERANCE,
        "{name}: relative L2 {}",
        c.relative_l2
    );
    assert!(
        c.worst_relative < GRAD_ELEMENT_TOLERANCE,
        "{name}: element error {}",
        c.worst_relative
    );
}

#[test]
fn fc_fc_gradients_match_finite_differences() {
    let c = grad_check(
        "name = \"g\"\ninput = [4]\n[[layer]]\ntype = \"fc\"\nout = 3\nact = \"tanh\"\n\
         [[layer]]\ntype = \"fc\"\nout = 2\nact = \"identity\"",
        4,
        21,
    );
    assert_grad_check("fc+fc", c);
}

#[test]
fn conv_pool_fc_gradients_match_finite_differences() {
    let c = grad_check(
        "name = \"g\"\ninput = [1, 4, 4]\n[[layer]]\ntype = \"conv\"\nout_channels = 2\n\
         kernel = 3\npadding = 1\nact = \"sigmoid\"\n[[layer]]\ntype = \"maxpool\"\n\
         [[layer]]\ntype = \"fc\"\nout = 2\nact = \"identity\"",
        3,
        22,
    );
    assert_grad_check("conv+pool+fc", c);
}

#[test]
fn conv_pool_strided_conv_gradients_match_finite_differences() {
    // The second conv's backward is a transposed convolution with stride 2 and padding 1, and
    // the error it computes crosses the pool with the first conv's derivative.
    let c = grad_check(
        "name = \"g\"\ninput = [1, 6, 6]\n[[layer]]\ntype = \"conv\"\nout_channels = 2\n\
         kernel = 3\npadding = 1\nact = \"sigmoid\"\n[[layer]]\ntype = \"maxpool\"\n\
         [[layer]]\ntype = \"conv\"\nout_channels = 3\nkernel = 3\nstride = 2\npadding = 1\n\
         act = \"tanh\"\n[[layer]]\ntype = \"fc\"\nout = 2\nact = \"identity\"",
        3,
        24,
    );
    assert_grad_check("conv+pool+conv(s2,p1)+fc", c);
}

#[test]
fn cnn_rnn_gradients_match_finite_differences() {
    // Covers backpropagation through time and the rnn's reading of a feature map's rows.
    let c = grad_check(
        "name = \"g\"\ninput = [1, 4, 4]\n[[layer]]\ntype = \"conv\"\nout_channels = 2\n\
         kernel = 3\npadding = 1\nact = \"tanh\"\n[[layer]]\ntype = \"rnn\"\nhidden = 3\n\
         steps = 4\n[[layer]]\ntype = \"fc\"\nout = 2\nact = \"identity\"",
        2,
        23,
    );
    assert_grad_check("conv+rnn+fc", c);
}

/// Training on targets of a fixed random teacher of the same architecture (so the task is
/// learnable), 30 steps of batch 16 over a set of 64 samples; returns (initial, final) loss on
/// the whole set.
fn train(text: &str, eta: u16, seed: u64) -> (f64, f64) {
    const SAMPLES: usize = 64;
    const BATCH: usize = 16;
    const STEPS: usize = 30;
    let n = net(text);
    let g = GoldenNet::new(n.clone(), fmt()).unwrap();
    let r = ReferenceNet::new(n).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let teacher = F64Params::from_master(&params(&g, &mut rng, 0.5), fmt());
    let mut student = params(&g, &mut rng, 0.0);
    let (in_len, out_len) = (
        g.shapes()[0].input.len(),
        g.shapes().last().unwrap().output.len(),
    );
    let (x, xr) = inputs(SAMPLES * in_len, &mut rng);
    let t: Vec<i16> = {
        let layers = r.forward(&teacher, &xr, SAMPLES).unwrap();
        r.output(&layers, SAMPLES).into_iter().map(to_fix).collect()
    };
    let initial = g.loss(&student, &x, &t, SAMPLES).unwrap();
    let mut draw = lfsr_lanes(seed as u32);
    for s in 0..STEPS {
        let b = s % (SAMPLES / BATCH);
        let xb = &x[b * BATCH * in_len..(b + 1) * BATCH * in_len];
        let tb = &t[b * BATCH * out_len..(b + 1) * BATCH * out_len];
        let step = g.step(&student, xb, tb, BATCH, eta, &mut draw).unwrap();
        assert_eq!(step.saturations().forward, 0, "step {s}: forward saturated");
        student = step.params;
    }
    let last = g.loss(&student, &x, &t, SAMPLES).unwrap();
    (initial, last)
}

/// Loss after training must be below this fraction of the initial loss.
const LOSS_RATIO: f64 = 0.6;

fn assert_trains(name: &str, (initial, last): (f64, f64)) {
    println!(
        "{name}: loss {initial:.4} -> {last:.4} ({:.3})",
        last / initial
    );
    assert!(initial > 0.0);
    assert!(last < LOSS_RATIO * initial, "{name}: {initial} -> {last}");
}

/// eta of 0.01 per sample (16 fraction bits): gradients are batch sums.
const ETA: u16 = 655;

#[test]
fn mlp_trains() {
    let text = "name = \"mlp\"\ninput = [16]\n\
        [[layer]]\ntype = \"fc\"\nout = 8\nact = \"tanh\"\n\
        [[layer]]\ntype = \"fc\"\nout = 8\nact = \"sigmoid\"\n\
        [[layer]]\ntype = \"fc\"\nout = 4\nact = \"identity\"";
    assert_trains("mlp 16-8-8-4", train(text, ETA, 31));
}

#[test]
fn cnn_trains() {
    let text = "name = \"cnn\"\ninput = [1, 8, 8]\n\
        [[layer]]\ntype = \"conv\"\nout_channels = 4\nkernel = 3\npadding = 1\nact = \"relu\"\n\
        [[layer]]\ntype = \"maxpool\"\n\
        [[layer]]\ntype = \"fc\"\nout = 4\nact = \"identity\"";
    assert_trains("cnn", train(text, ETA, 32));
}

#[test]
fn rnn_trains() {
    let text = "name = \"rnn\"\ninput = [4, 6]\nsequence = true\n\
        [[layer]]\ntype = \"rnn\"\nhidden = 8\nsteps = 4\n\
        [[layer]]\ntype = \"fc\"\nout = 3\nact = \"identity\"";
    assert_trains("rnn", train(text, ETA, 33));
}

#[test]
fn a_step_is_deterministic_and_updates_from_its_gradients() {
    let text = "name = \"d\"\ninput = [1, 4, 4]\n\
        [[layer]]\ntype = \"conv\"\nout_channels = 2\nkernel = 3\npadding = 1\nact = \"relu\"\n\
        [[layer]]\ntype = \"maxpool\"\n\
        [[layer]]\ntype = \"rnn\"\nhidden = 3\nsteps = 2\n\
        [[layer]]\ntype = \"fc\"\nout = 2\nact = \"identity\"";
    let g = GoldenNet::new(net(text), fmt()).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(41);
    let p = params(&g, &mut rng, 0.3);
    let (x, _) = inputs(4 * 16, &mut rng);
    let (t, _) = inputs(4 * 2, &mut rng);
    let eta = 3000;
    let a = g.step(&p, &x, &t, 4, eta, lfsr_lanes(5)).unwrap();
    let b = g.step(&p, &x, &t, 4, eta, lfsr_lanes(5)).unwrap();
    assert_eq!(a, b);
    for (l, rec) in a.layers.iter().enumerate() {
        let old: &LayerParams = &p.layers[l];
        // Stochastic rounding: each step is the floor or the ceiling of eta * g / 2^16.
        for ((&w, &g), &w2) in old.weights.iter().zip(&rec.grad_w).zip(&rec.new_w) {
            let exact = eta as f64 * g as f64 / 65536.0;
            let step = (w - w2) as f64;
            assert!(
                step == exact.floor() || step == exact.ceil(),
                "{step} vs {exact}"
            );
        }
        assert_eq!(rec.new_mac_w.len(), rec.new_w.len());
        assert_eq!(rec.delta.len(), rec.y.len(), "layer {l}");
    }
    // The rnn's delta covers both steps, and its recurrent gradient is not zero.
    assert_eq!(a.layers[2].delta.len(), 4 * 2 * 3);
    assert!(a.layers[2].grad_w[3 * 4..].iter().any(|&v| v != 0));
    assert_eq!(a.params.layers[3].weights, a.layers[3].new_w);
}
