//! The fixed16 training step of a whole network: the tensors every phase must leave in DRAM.
//!
//! Built only from the per-element functions of [`Fixed16`], so a simulation that implements
//! those bit for bit and walks the same sums matches this model tensor by tensor. Integer sums
//! are exact (i64 here, 48 bits in hardware within [`MAX_REDUCTION`] products), so the order of
//! a reduction never matters.
//!
//! # Data
//!
//! Activations and errors are i16 with F fraction bits, batch-major (sample b first), each sample
//! in the layout of [`crate::network`]. Master weights and biases are i32 with G fraction bits;
//! the MAC weights are `mac_weight(master)`; a bias enters the accumulator by `bias_to_acc`.
//!
//! # Rules
//!
//! - **fc / conv forward**: `z = q(bias_to_acc(b) + sum mul(W, x))`, `y = activate(act, z)`;
//!   conv sums the taps of [`crate::network::ConvGeometry`] (padding contributes nothing).
//! - **maxpool forward**: the maximum of each 2x2 window; no rounding.
//! - **rnn forward**: `z_t = q(bias_to_acc(b) + sum W_x x_t + sum W_h h_{t-1})`, one accumulator
//!   for both sums, `h_t = tanh(z_t)`, `h_0 = 0` (its products are not evaluated). `z` and `y`
//!   hold every step (`[b][t][hidden]`); the layer's output is `h_T`.
//! - **Output error** (mse): `delta = output_error(y, t, derivative(act, y))` on the last
//!   layer's output.
//! - **Error at a layer's input** (backward phase of layer L, computed only when an earlier
//!   layer has parameters): `delta_prev[i] = backward(sum_j mul(W[j,i], delta[j]),
//!   derivative(act_prev, x[i]))` where `x` is layer L's input (layer L-1's output value).
//!   conv sums its transposed taps; rnn sums `W_x^T delta_t` into the position step t read.
//! - **maxpool backward** routes each output error, unchanged, to the first maximum of its window
//!   in row-major order ((0,0), (0,1), (1,0), (1,1)) and zeros elsewhere. A pool has no
//!   activation: the error at a pool's output is already multiplied by the derivative of the
//!   activation of the nearest layer before the pool, evaluated at the pooled value
//!   ([`Network::effective_activation`]). The pooled value is that layer's output at the
//!   routed position, so after routing this is exactly the error that layer would have without
//!   the pool, with one rounding fewer than applying the derivative after routing would add.
//! - **rnn backward through time**: `delta_T` is what the next layer's backward (or the output
//!   error) wrote at `h_T`; for t < T, `delta_t[i] = backward(sum_k mul(W_h[k,i],
//!   delta_{t+1}[k]), derivative(tanh, h_t[i]))`. With one output at T, each step's reduction has
//!   a single source, so "one reduction" holds trivially.
//! - **Gradients**: `grad_w = grad_align(sum over batch (and output pixels or time steps) of
//!   mul(delta, x))` (rnn: `W_h` pairs `delta_t` with `h_{t-1}`, t >= 2); `grad_b =
//!   bias_grad_align(sum of delta)`: errors summed with their F fraction bits, which is what
//!   `bias_grad_align` expects (shift by G - F).
//! - **Update**: `w' = sr_update(w, g, eta, r(ParamRef))`, r drawn in a fixed order: layer
//!   ascending, all weights then all biases, flat index ascending; then `mac_weight(w')`.
//! - **Loss**: `sum (sat16(y - t) / 2^F)^2 / 2` over batch and outputs, in f64: the 1/2 makes the
//!   gradient of the loss the accumulated `delta x` (checked by finite differences in the
//!   tests).
//!
//! Saturation events are counted in the record of the tensor they produced (an error computed
//! by layer L's backward phase counts in layer L-1's record).

use anyhow::{bail, ensure, Result};
use rand::Rng;

use super::fixed16::{sat16, Activation, Fixed16};
use crate::network::{ConvGeometry, Layer, LayerShape, Network, Shape, MAX_REDUCTION, POOL};

/// Which parameter tensor of a layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamKind {
    Weight,
    Bias,
}

/// One parameter, as handed to the caller's random source for its stochastic rounding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ParamRef {
    pub layer: usize,
    pub kind: ParamKind,
    /// Flat index in the layer's weights or biases (layouts: [`crate::network`]).
    pub index: usize,
}

/// Master parameters of one layer, G fraction bits; empty for a max pool.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerParams {
    pub weights: Vec<i32>,
    pub biases: Vec<i32>,
}

/// Master parameters of a network.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Params {
    pub layers: Vec<LayerParams>,
}

impl Params {
    pub fn zeros(shapes: &[LayerShape]) -> Params {
        Params {
            layers: shapes
                .iter()
                .map(|s| LayerParams {
                    weights: vec![0; s.weights],
                    biases: vec![0; s.biases],
                })
                .collect(),
        }
    }

    /// LeCun-uniform weights (variance 1 / fan-in, so activations keep their scale through a
    /// layer) and zero biases.
    pub fn random(shapes: &[LayerShape], fmt: Fixed16, rng: &mut impl Rng) -> Params {
        let mut p = Params::zeros(shapes);
        let scale = (1u64 << fmt.g) as f64;
        for (lp, s) in p.layers.iter_mut().zip(shapes) {
            if s.biases == 0 {
                continue;
            }
            let fan_in = s.weights / s.biases;
            let limit = (3.0 / fan_in as f64).sqrt();
            for w in &mut lp.weights {
                *w = (rng.gen_range(-limit..limit) * scale).round() as i32;
            }
        }
        p
    }
}

/// Saturation events, by the phase whose result saturated.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Saturations {
    /// Deriving the MAC weights used by this step.
    pub mac_weight: u32,
    /// Requantizing pre-activations.
    pub forward: u32,
    /// Derivatives, output errors and the two roundings of `backward`.
    pub backward: u32,
    /// Aligning weight and bias gradients.
    pub grad: u32,
    /// The update and the new MAC weights.
    pub update: u32,
}

impl Saturations {
    pub fn total(&self) -> u32 {
        self.mac_weight + self.forward + self.backward + self.grad + self.update
    }

    fn add(&mut self, o: &Saturations) {
        self.mac_weight += o.mac_weight;
        self.forward += o.forward;
        self.backward += o.backward;
        self.grad += o.grad;
        self.update += o.update;
    }
}

/// Products evaluated by each phase of one layer over the whole batch; equals the layer's
/// [`crate::network::LayerCost`] times the batch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Macs {
    pub forward: u64,
    pub backward: u64,
    pub weight_grad: u64,
}

/// Every tensor one layer reads or produces in a training step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LayerStep {
    /// Input as it sits in memory: the previous layer's output (`h_T` after an rnn).
    pub x: Vec<i16>,
    /// MAC weights used by forward and backward.
    pub mac_w: Vec<i16>,
    /// Pre-activations (empty for a pool); rnn: every step, `[b][t][hidden]`.
    pub z: Vec<i16>,
    /// Outputs; rnn: every hidden state `h_1..h_T`, `[b][t][hidden]`.
    pub y: Vec<i16>,
    /// Error of the pre-activation, shaped like `y` (a pool: the error at its output). Empty when
    /// no layer up to this one has parameters.
    pub delta: Vec<i16>,
    pub grad_w: Vec<i32>,
    pub grad_b: Vec<i32>,
    /// Master parameters after the update.
    pub new_w: Vec<i32>,
    pub new_b: Vec<i32>,
    /// MAC weights derived from `new_w`.
    pub new_mac_w: Vec<i16>,
    pub sat: Saturations,
    pub macs: Macs,
}

/// One training step.
#[derive(Clone, Debug, PartialEq)]
pub struct Step {
    pub layers: Vec<LayerStep>,
    /// The network's output (the last layer's `y`, or its `h_T`).
    pub output: Vec<i16>,
    /// `sum (sat16(y - t) / 2^F)^2 / 2`.
    pub loss: f64,
    /// The parameters after the update.
    pub params: Params,
}

impl Step {
    pub fn saturations(&self) -> Saturations {
        let mut s = Saturations::default();
        for l in &self.layers {
            s.add(&l.sat);
        }
        s
    }
}

/// The `sat16(y - t)` of an mse output, in real units, for the loss.
fn loss_of(fmt: Fixed16, output: &[i16], target: &[i16]) -> f64 {
    let one = fmt.one() as f64;
    output
        .iter()
        .zip(target)
        .map(|(&y, &t)| {
            let e = sat16(y as i64 - t as i64).0 as f64 / one;
            e * e / 2.0
        })
        .sum()
}

/// The in-sample index of the maximum of pool window (`ch`, `oy`, `ox`): the first maximum in
/// row-major window order.
pub fn pool_argmax(x: &[i16], h: usize, w: usize, ch: usize, oy: usize, ox: usize) -> usize {
    let mut best = usize::MAX;
    for dy in 0..POOL {
        for dx in 0..POOL {
            let i = (ch * h + oy * POOL + dy) * w + ox * POOL + dx;
            if best == usize::MAX || x[i] > x[best] {
                best = i;
            }
        }
    }
    best
}

/// A validated network with the number format it trains in.
#[derive(Clone, Debug)]
pub struct GoldenNet {
    net: Network,
    shapes: Vec<LayerShape>,
    fmt: Fixed16,
}

impl GoldenNet {
    pub fn new(net: Network, fmt: Fixed16) -> Result<GoldenNet> {
        let shapes = net.shapes()?;
        Ok(GoldenNet { net, shapes, fmt })
    }

    pub fn network(&self) -> &Network {
        &self.net
    }

    pub fn shapes(&self) -> &[LayerShape] {
        &self.shapes
    }

    pub fn fmt(&self) -> Fixed16 {
        self.fmt
    }

    fn geometry(&self, i: usize) -> ConvGeometry {
        self.net
            .conv_geometry(i, self.shapes[i].input)
            .expect("a conv layer has a geometry")
    }

    fn check_params(&self, params: &Params) -> Result<()> {
        ensure!(
            params.layers.len() == self.shapes.len(),
            "parameters for {} layers, network has {}",
            params.layers.len(),
            self.shapes.len()
        );
        for (i, (p, s)) in params.layers.iter().zip(&self.shapes).enumerate() {
            ensure!(
                p.weights.len() == s.weights && p.biases.len() == s.biases,
                "layer {i}: {} weights and {} biases, expected {} and {}",
                p.weights.len(),
                p.biases.len(),
                s.weights,
                s.biases
            );
        }
        Ok(())
    }

    /// The forward phase of every layer: `x`, `mac_w`, `z`, `y`, forward saturations and MACs.
    pub fn forward(&self, params: &Params, input: &[i16], batch: usize) -> Result<Vec<LayerStep>> {
        self.check_params(params)?;
        ensure!(batch >= 1, "batch must be at least 1");
        let in_len = self.shapes[0].input.len();
        ensure!(
            input.len() == batch * in_len,
            "input has {} values, expected batch {batch} x {in_len}",
            input.len()
        );
        let mut records = Vec::with_capacity(self.shapes.len());
        let mut x = input.to_vec();
        for (i, p) in params.layers.iter().enumerate() {
            let mut rec = LayerStep {
                x,
                ..LayerStep::default()
            };
            for &w in &p.weights {
                let (m, s) = self.fmt.mac_weight(w);
                rec.mac_w.push(m);
                rec.sat.mac_weight += s as u32;
            }
            self.forward_layer(i, &p.biases, batch, &mut rec);
            x = self.layer_output(i, &rec, batch);
            records.push(rec);
        }
        Ok(records)
    }

    /// The loss of a batch without training: `sum (sat16(y - t) / 2^F)^2 / 2`.
    pub fn loss(
        &self,
        params: &Params,
        input: &[i16],
        target: &[i16],
        batch: usize,
    ) -> Result<f64> {
        let output = self.output(&self.forward(params, input, batch)?, batch);
        ensure!(
            target.len() == output.len(),
            "target has {} values, expected {}",
            target.len(),
            output.len()
        );
        Ok(loss_of(self.fmt, &output, target))
    }

    /// The network's output from a forward record.
    pub fn output(&self, records: &[LayerStep], batch: usize) -> Vec<i16> {
        let last = records.len() - 1;
        self.layer_output(last, &records[last], batch)
    }

    /// What layer `i` passes on: `y`, or `h_T` for an rnn.
    fn layer_output(&self, i: usize, rec: &LayerStep, batch: usize) -> Vec<i16> {
        match self.net.layers[i] {
            Layer::Rnn { hidden, steps } => (0..batch)
                .flat_map(|b| {
                    let last = (b * steps + steps - 1) * hidden;
                    rec.y[last..last + hidden].iter().copied()
                })
                .collect(),
            _ => rec.y.clone(),
        }
    }

    fn requant_into(&self, acc: i64, rec: &mut LayerStep, act: Activation) {
        let (z, s) = self.fmt.requant(acc);
        rec.sat.forward += s as u32;
        rec.z.push(z);
        rec.y.push(self.fmt.activate(act, z));
    }

    fn forward_layer(&self, i: usize, biases: &[i32], batch: usize, rec: &mut LayerStep) {
        let s = self.shapes[i];
        let (n_in, n_out) = (s.input.len(), s.output.len());
        let fmt = self.fmt;
        match self.net.layers[i] {
            Layer::Fc { act, .. } => {
                for b in 0..batch {
                    for (j, &bias) in biases.iter().enumerate() {
                        let mut acc = fmt.bias_to_acc(bias);
                        for k in 0..n_in {
                            acc += Fixed16::mul(rec.mac_w[j * n_in + k], rec.x[b * n_in + k]);
                        }
                        self.requant_into(acc, rec, act);
                    }
                }
                rec.macs.forward = (batch * n_out * n_in) as u64;
            }
            Layer::Conv { act, .. } => {
                let g = self.geometry(i);
                let pix = g.out_pixels();
                for b in 0..batch {
                    let xb = &rec.x[b * n_in..(b + 1) * n_in];
                    let mut acc: Vec<i64> = (0..n_out)
                        .map(|o| fmt.bias_to_acc(biases[o / pix]))
                        .collect();
                    let mut taps = 0u64;
                    g.for_each_tap(|o, k, wi| {
                        acc[o] += Fixed16::mul(rec.mac_w[wi], xb[k]);
                        taps += 1;
                    });
                    rec.macs.forward += taps;
                    for a in acc {
                        self.requant_into(a, rec, act);
                    }
                }
            }
            Layer::Maxpool {} => {
                let Shape::Image { c, h, w } = s.input else {
                    unreachable!("validated")
                };
                for b in 0..batch {
                    let xb = &rec.x[b * n_in..(b + 1) * n_in];
                    for ch in 0..c {
                        for oy in 0..h / POOL {
                            for ox in 0..w / POOL {
                                let m = xb[pool_argmax(xb, h, w, ch, oy, ox)];
                                rec.y.push(m);
                            }
                        }
                    }
                }
            }
            Layer::Rnn { hidden, steps } => {
                let (_, n) = s.input.as_sequence().expect("validated");
                let (wx, wh) = rec.mac_w.split_at(hidden * n);
                let (wx, wh) = (wx.to_vec(), wh.to_vec());
                for b in 0..batch {
                    let xb = &rec.x[b * n_in..(b + 1) * n_in];
                    let xb = xb.to_vec();
                    for t in 0..steps {
                        for k in 0..hidden {
                            let mut acc = fmt.bias_to_acc(biases[k]);
                            for f in 0..n {
                                acc +=
                                    Fixed16::mul(wx[k * n + f], xb[s.input.sequence_index(t, f)]);
                            }
                            if t > 0 {
                                let prev = (b * steps + t - 1) * hidden;
                                for m in 0..hidden {
                                    acc += Fixed16::mul(wh[k * hidden + m], rec.y[prev + m]);
                                }
                            }
                            self.requant_into(acc, rec, Activation::Tanh);
                        }
                    }
                }
                rec.macs.forward =
                    (batch * (steps * hidden * n + (steps - 1) * hidden * hidden)) as u64;
            }
        }
    }

    /// One training step: forward, output error, backward, gradients and the update.
    pub fn step(
        &self,
        params: &Params,
        input: &[i16],
        target: &[i16],
        batch: usize,
        eta: u16,
        mut r: impl FnMut(ParamRef) -> u16,
    ) -> Result<Step> {
        let mut layers = self.forward(params, input, batch)?;
        let last = layers.len() - 1;
        let output = self.output(&layers, batch);
        ensure!(
            target.len() == output.len(),
            "target has {} values, expected {}",
            target.len(),
            output.len()
        );
        self.check_gradient_reductions(batch)?;
        let fmt = self.fmt;

        // Output error.
        let act = self
            .net
            .effective_activation(last)
            .expect("a validated network has an activated layer");
        let mut d_out = Vec::with_capacity(output.len());
        for (&y, &t) in output.iter().zip(target) {
            let (d, s1) = fmt.derivative(act, y);
            let (e, s2) = fmt.output_error(y, t, d);
            layers[last].sat.backward += s1 as u32 + s2;
            d_out.push(e);
        }

        // Backward and gradients, last layer first.
        for i in (0..layers.len()).rev() {
            self.layer_delta(i, d_out, batch, &mut layers[i]);
            self.gradients(i, batch, &mut layers[i]);
            if !Network::needs_input_error(&self.shapes, i) {
                break;
            }
            let (d_prev, sat) = self.input_error(i, batch, &mut layers[i]);
            layers[i - 1].sat.backward += sat;
            d_out = d_prev;
        }

        // Update, in the documented order of random draws.
        let mut new_params = Params::default();
        for (i, (rec, p)) in layers.iter_mut().zip(&params.layers).enumerate() {
            let mut update = |kind, old: &[i32], grads: &[i32], sat: &mut u32| -> Vec<i32> {
                old.iter()
                    .zip(grads)
                    .enumerate()
                    .map(|(index, (&w, &g))| {
                        let draw = r(ParamRef {
                            layer: i,
                            kind,
                            index,
                        });
                        let (v, s) = Fixed16::sr_update(w, g, eta, draw);
                        *sat += s as u32;
                        v
                    })
                    .collect()
            };
            rec.new_w = update(
                ParamKind::Weight,
                &p.weights,
                &rec.grad_w,
                &mut rec.sat.update,
            );
            rec.new_b = update(ParamKind::Bias, &p.biases, &rec.grad_b, &mut rec.sat.update);
            for &w in &rec.new_w {
                let (m, s) = fmt.mac_weight(w);
                rec.new_mac_w.push(m);
                rec.sat.update += s as u32;
            }
            new_params.layers.push(LayerParams {
                weights: rec.new_w.clone(),
                biases: rec.new_b.clone(),
            });
        }

        Ok(Step {
            loss: loss_of(fmt, &output, target),
            layers,
            output,
            params: new_params,
        })
    }

    /// Gradient sums run over the batch (and pixels or steps): they must fit the accumulator.
    fn check_gradient_reductions(&self, batch: usize) -> Result<()> {
        for (i, layer) in self.net.layers.iter().enumerate() {
            let per_sample = match *layer {
                Layer::Fc { .. } | Layer::Maxpool {} => 1,
                Layer::Conv { .. } => self.geometry(i).out_pixels(),
                Layer::Rnn { steps, .. } => steps,
            };
            if batch * per_sample > MAX_REDUCTION {
                bail!(
                    "layer {i} ({}): a gradient sums {} products (batch {batch}), more than {MAX_REDUCTION}",
                    layer.type_name(),
                    batch * per_sample
                );
            }
        }
        Ok(())
    }

    /// Stores layer `i`'s error from the error at its output; an rnn adds its steps before T.
    fn layer_delta(&self, i: usize, d_out: Vec<i16>, batch: usize, rec: &mut LayerStep) {
        let Layer::Rnn { hidden, steps } = self.net.layers[i] else {
            rec.delta = d_out;
            return;
        };
        let fmt = self.fmt;
        let n = self.shapes[i].input.as_sequence().expect("validated").1;
        let wh = &rec.mac_w[hidden * n..];
        let mut delta = vec![0i16; batch * steps * hidden];
        let mut macs = 0u64;
        for b in 0..batch {
            let at = |t: usize| (b * steps + t) * hidden;
            delta[at(steps - 1)..at(steps - 1) + hidden]
                .copy_from_slice(&d_out[b * hidden..(b + 1) * hidden]);
            for t in (0..steps - 1).rev() {
                for m in 0..hidden {
                    let acc: i64 = (0..hidden)
                        .map(|k| Fixed16::mul(wh[k * hidden + m], delta[at(t + 1) + k]))
                        .sum();
                    macs += hidden as u64;
                    let (d, s1) = fmt.derivative(Activation::Tanh, rec.y[at(t) + m]);
                    let (v, s2) = fmt.backward(acc, d);
                    rec.sat.backward += s1 as u32 + s2;
                    delta[at(t) + m] = v;
                }
            }
        }
        rec.macs.backward += macs;
        rec.delta = delta;
    }

    /// Weight and bias gradients of layer `i` from its `delta` and `x`.
    fn gradients(&self, i: usize, batch: usize, rec: &mut LayerStep) {
        let s = self.shapes[i];
        let (n_in, n_out) = (s.input.len(), s.output.len());
        let mut acc_w = vec![0i64; s.weights];
        let mut acc_b = vec![0i64; s.biases];
        let mut macs = 0u64;
        match self.net.layers[i] {
            Layer::Fc { .. } => {
                for b in 0..batch {
                    for j in 0..n_out {
                        let d = rec.delta[b * n_out + j];
                        acc_b[j] += d as i64;
                        for k in 0..n_in {
                            acc_w[j * n_in + k] += Fixed16::mul(d, rec.x[b * n_in + k]);
                        }
                    }
                }
                macs = (batch * n_out * n_in) as u64;
            }
            Layer::Conv { .. } => {
                let g = self.geometry(i);
                let pix = g.out_pixels();
                for b in 0..batch {
                    let xb = &rec.x[b * n_in..(b + 1) * n_in];
                    let db = &rec.delta[b * n_out..(b + 1) * n_out];
                    g.for_each_tap(|o, k, wi| {
                        acc_w[wi] += Fixed16::mul(db[o], xb[k]);
                        macs += 1;
                    });
                    for (o, &d) in db.iter().enumerate() {
                        acc_b[o / pix] += d as i64;
                    }
                }
            }
            Layer::Maxpool {} => {}
            Layer::Rnn { hidden, steps } => {
                let n = s.input.as_sequence().expect("validated").1;
                let (acc_wx, acc_wh) = acc_w.split_at_mut(hidden * n);
                for b in 0..batch {
                    let xb = &rec.x[b * n_in..(b + 1) * n_in];
                    for t in 0..steps {
                        let at = (b * steps + t) * hidden;
                        for k in 0..hidden {
                            let d = rec.delta[at + k];
                            acc_b[k] += d as i64;
                            for f in 0..n {
                                acc_wx[k * n + f] +=
                                    Fixed16::mul(d, xb[s.input.sequence_index(t, f)]);
                            }
                            if t > 0 {
                                for m in 0..hidden {
                                    acc_wh[k * hidden + m] +=
                                        Fixed16::mul(d, rec.y[at - hidden + m]);
                                }
                            }
                        }
                    }
                }
                macs = (batch * (steps * hidden * n + (steps - 1) * hidden * hidden)) as u64;
            }
        }
        rec.macs.weight_grad = macs;
        for a in acc_w {
            let (g, sat) = self.fmt.grad_align(a);
            rec.sat.grad += sat as u32;
            rec.grad_w.push(g);
        }
        for a in acc_b {
            let (g, sat) = self.fmt.bias_grad_align(a);
            rec.sat.grad += sat as u32;
            rec.grad_b.push(g);
        }
    }

    /// The error at layer `i`'s input (layer i-1's output) and its saturation events.
    fn input_error(&self, i: usize, batch: usize, rec: &mut LayerStep) -> (Vec<i16>, u32) {
        let s = self.shapes[i];
        let (n_in, n_out) = (s.input.len(), s.output.len());
        let fmt = self.fmt;
        // Transposed reductions, one accumulator per input position.
        let mut acc = vec![0i64; batch * n_in];
        match self.net.layers[i] {
            Layer::Maxpool {} => {
                // Routing, no arithmetic: the error of the pool's output goes to its maximum.
                let Shape::Image { c, h, w } = s.input else {
                    unreachable!("validated")
                };
                let mut d_prev = vec![0i16; batch * n_in];
                let mut o = 0;
                for b in 0..batch {
                    let xb = &rec.x[b * n_in..(b + 1) * n_in];
                    for ch in 0..c {
                        for oy in 0..h / POOL {
                            for ox in 0..w / POOL {
                                d_prev[b * n_in + pool_argmax(xb, h, w, ch, oy, ox)] = rec.delta[o];
                                o += 1;
                            }
                        }
                    }
                }
                return (d_prev, 0);
            }
            Layer::Fc { .. } => {
                for b in 0..batch {
                    for j in 0..n_out {
                        let d = rec.delta[b * n_out + j];
                        for k in 0..n_in {
                            acc[b * n_in + k] += Fixed16::mul(rec.mac_w[j * n_in + k], d);
                        }
                    }
                }
                rec.macs.backward += (batch * n_out * n_in) as u64;
            }
            Layer::Conv { .. } => {
                let g = self.geometry(i);
                for b in 0..batch {
                    let db = &rec.delta[b * n_out..(b + 1) * n_out];
                    let ab = &mut acc[b * n_in..(b + 1) * n_in];
                    g.for_each_tap(|o, k, wi| ab[k] += Fixed16::mul(rec.mac_w[wi], db[o]));
                }
                rec.macs.backward += batch as u64 * g.taps();
            }
            Layer::Rnn { hidden, steps } => {
                let n = s.input.as_sequence().expect("validated").1;
                for b in 0..batch {
                    for t in 0..steps {
                        let at = (b * steps + t) * hidden;
                        for f in 0..n {
                            let sum: i64 = (0..hidden)
                                .map(|k| Fixed16::mul(rec.mac_w[k * n + f], rec.delta[at + k]))
                                .sum();
                            acc[b * n_in + s.input.sequence_index(t, f)] += sum;
                        }
                    }
                }
                rec.macs.backward += (batch * steps * hidden * n) as u64;
            }
        }
        let act = self
            .net
            .effective_activation(i - 1)
            .expect("an earlier layer has parameters, hence an activation");
        let mut sat = 0;
        let d_prev = acc
            .iter()
            .zip(&rec.x)
            .map(|(&a, &x)| {
                let (d, s1) = fmt.derivative(act, x);
                let (v, s2) = fmt.backward(a, d);
                sat += s1 as u32 + s2;
                v
            })
            .collect();
        (d_prev, sat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn golden(text: &str) -> GoldenNet {
        GoldenNet::new(Network::from_toml_str(text).unwrap(), Fixed16::default()).unwrap()
    }

    /// One fc neuron, two inputs, identity: every tensor worked out by hand from section 3.
    #[test]
    fn single_neuron_step_by_hand() {
        let g = golden(
            "name = \"n\"\ninput = [2]\n[[layer]]\ntype = \"fc\"\nout = 1\nact = \"identity\"",
        );
        // F = 10, G = 24: w0 = 0.5, w1 = -0.25, b = 0.125 (+ 8 to test bias_to_acc rounding).
        let params = Params {
            layers: vec![LayerParams {
                weights: vec![1 << 23, -(1 << 22)],
                biases: vec![(1 << 21) + 8],
            }],
        };
        let x = [1024i16, 512]; // 1.0, 0.5
        let t = [0i16];
        let eta = 1 << 14; // 0.25
        let step = g.step(&params, &x, &t, 1, eta, |_| 0x8000).unwrap();
        let l = &step.layers[0];
        assert_eq!(l.mac_w, vec![512, -256]);
        // acc = (2^21 + 8 + 8) >> 4 = 131073; + 512*1024 - 256*512 = 524288 - 131072.
        // z = q(524289) = (524289 + 512) >> 10 = 512 (0.5).
        assert_eq!(l.z, vec![512]);
        assert_eq!(l.y, vec![512]);
        assert_eq!(l.delta, vec![512]); // identity: sat16(y - t)
                                        // grad_w = (512 * 1024, 512 * 512) << 4; grad_b = 512 << 14.
        assert_eq!(l.grad_w, vec![512 * 1024 * 16, 512 * 512 * 16]);
        assert_eq!(l.grad_b, vec![512 << 14]);
        // w' = w - ((eta * g + 0x8000) >> 16), exact here since eta * g is a multiple of 2^16.
        assert_eq!(l.new_w, vec![(1 << 23) - (1 << 21), -(1 << 22) - (1 << 20)]);
        assert_eq!(l.new_b, vec![(1 << 21) + 8 - (1 << 21)]);
        assert_eq!(l.new_mac_w, vec![384, -320]);
        assert_eq!(step.loss, 0.125); // (0.5)^2 / 2
        assert_eq!(step.saturations().total(), 0);
    }

    #[test]
    fn random_draws_follow_the_documented_order() {
        let g = golden(
            "name = \"o\"\ninput = [2]\n[[layer]]\ntype = \"fc\"\nout = 2\nact = \"relu\"\n\
             [[layer]]\ntype = \"fc\"\nout = 1\nact = \"identity\"",
        );
        let params = Params::zeros(g.shapes());
        let mut seen = Vec::new();
        g.step(&params, &[0, 0], &[0], 1, 0, |p| {
            seen.push(p);
            0
        })
        .unwrap();
        let expect: Vec<ParamRef> = [
            (0, ParamKind::Weight, 4),
            (0, ParamKind::Bias, 2),
            (1, ParamKind::Weight, 2),
            (1, ParamKind::Bias, 1),
        ]
        .into_iter()
        .flat_map(|(layer, kind, n)| (0..n).map(move |index| ParamRef { layer, kind, index }))
        .collect();
        assert_eq!(seen, expect);
    }

    #[test]
    fn maxpool_routes_to_the_first_maximum() {
        // Identity 1x1 conv (w = 1.0) so the pool sees the input; ties at 7 in window 0.
        let g = golden(
            "name = \"p\"\ninput = [1, 2, 4]\n[[layer]]\ntype = \"conv\"\nout_channels = 1\n\
             kernel = 1\nact = \"identity\"\n[[layer]]\ntype = \"maxpool\"",
        );
        let params = Params {
            layers: vec![
                LayerParams {
                    weights: vec![1 << 24],
                    biases: vec![0],
                },
                LayerParams::default(),
            ],
        };
        let x = [1i16, 7, -3, 9, 7, 2, 9, 0];
        let step = g.step(&params, &x, &[0, 0], 1, 0, |_| 0).unwrap();
        assert_eq!(step.output, vec![7, 9]);
        assert_eq!(step.layers[1].delta, vec![7, 9]);
        // Window 0 is (0,0)=1 (0,1)=7 (1,0)=7 (1,1)=2: the first 7, index 1. Window 1: 9 at
        // (0,1) before the 9 at (1,0).
        assert_eq!(step.layers[0].delta, vec![0, 7, 0, 9, 0, 0, 0, 0]);
    }

    #[test]
    fn macs_match_the_network_costs() {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/cnn_rnn.toml"),
        )
        .unwrap();
        let g = golden(&text);
        let batch = 2;
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        let params = Params::random(g.shapes(), g.fmt(), &mut rng);
        let input: Vec<i16> = (0..batch * 64)
            .map(|_| rng.gen_range(-1024..1024))
            .collect();
        let step = g.step(&params, &input, &[0; 8], batch, 100, |_| 0).unwrap();
        let costs = g.network().costs().unwrap();
        for (i, (l, c)) in step.layers.iter().zip(&costs).enumerate() {
            let b = batch as u64;
            assert_eq!(
                l.macs,
                Macs {
                    forward: c.forward * b,
                    backward: c.backward * b,
                    weight_grad: c.weight_grad * b
                },
                "layer {i}"
            );
        }
        // The first layer computes no input error; its delta is still there for its gradients.
        assert_eq!(step.layers[0].macs.backward, 0);
        assert_eq!(step.layers[0].delta.len(), batch * 4 * 8 * 8);
    }
}
