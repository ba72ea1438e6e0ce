//! The f64 reference of a network: real arithmetic and the exact activation functions.
//!
//! The fixed16 model ([`super::net`]) is checked against this within stated bounds, so that it
//! is shown to compute the network (and to train it) rather than merely agree with itself. It
//! shares only the description and its index maps ([`crate::network`]) with the fixed-point
//! model; weights are the master values divided by 2^G.

use anyhow::{ensure, Result};

use super::fixed16::{Activation, Fixed16, LEAKY_SHIFT};
use super::net::Params;
use crate::network::{Layer, LayerShape, Network, Shape, POOL};

/// Real-valued parameters of one layer (same layouts as [`super::net::LayerParams`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct F64LayerParams {
    pub weights: Vec<f64>,
    pub biases: Vec<f64>,
}

/// Real-valued parameters of a network.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct F64Params {
    pub layers: Vec<F64LayerParams>,
}

impl F64Params {
    /// The master weights and biases as reals: `master / 2^G`.
    pub fn from_master(params: &Params, fmt: Fixed16) -> F64Params {
        let scale = (1u64 << fmt.g) as f64;
        F64Params {
            layers: params
                .layers
                .iter()
                .map(|l| F64LayerParams {
                    weights: l.weights.iter().map(|&w| w as f64 / scale).collect(),
                    biases: l.biases.iter().map(|&b| b as f64 / scale).collect(),
                })
                .collect(),
        }
    }
}

/// One layer's forward tensors; rnn: every step, `[b][t][hidden]`; a pool has no `z`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct F64Layer {
    pub z: Vec<f64>,
    pub y: Vec<f64>,
}

/// The exact activation functions.
pub fn activate(act: Activation, z: f64) -> f64 {
    match act {
        Activation::Identity => z,
        Activation::Relu => z.max(0.0),
        Activation::LeakyRelu => {
            if z >= 0.0 {
                z
            } else {
                z / (1u32 << LEAKY_SHIFT) as f64
            }
        }
        Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        Activation::Tanh => z.tanh(),
    }
}

/// A validated network evaluated in f64.
#[derive(Clone, Debug)]
pub struct ReferenceNet {
    net: Network,
    shapes: Vec<LayerShape>,
}

impl ReferenceNet {
    pub fn new(net: Network) -> Result<ReferenceNet> {
        let shapes = net.shapes()?;
        Ok(ReferenceNet { net, shapes })
    }

    pub fn shapes(&self) -> &[LayerShape] {
        &self.shapes
    }

    /// Every layer's `z` and `y` for a batch of inputs.
    pub fn forward(
        &self,
        params: &F64Params,
        input: &[f64],
        batch: usize,
    ) -> Result<Vec<F64Layer>> {
        let in_len = self.shapes[0].input.len();
        ensure!(
            input.len() == batch * in_len,
            "input has {} values, expected batch {batch} x {in_len}",
            input.len()
        );
        let mut out = Vec::with_capacity(self.shapes.len());
        let mut x = input.to_vec();
        for (i, p) in params.layers.iter().enumerate() {
            let l = self.forward_layer(i, p, &x, batch);
            x = self.layer_output(i, &l, batch);
            out.push(l);
        }
        Ok(out)
    }

    /// The network's output from a forward record.
    pub fn output(&self, layers: &[F64Layer], batch: usize) -> Vec<f64> {
        let last = layers.len() - 1;
        self.layer_output(last, &layers[last], batch)
    }

    /// `sum (y - t)^2 / 2`, the loss whose gradient the training step accumulates.
    pub fn loss(
        &self,
        params: &F64Params,
        input: &[f64],
        target: &[f64],
        batch: usize,
    ) -> Result<f64> {
        let layers = self.forward(params, input, batch)?;
        let y = self.output(&layers, batch);
        ensure!(
            y.len() == target.len(),
            "target has {} values, expected {}",
            target.len(),
            y.len()
        );
        Ok(y.iter()
            .zip(target)
            .map(|(y, t)| (y - t) * (y - t) / 2.0)
            .sum())
    }

    /// What layer `i` passes on: `y`, or `h_T` for an rnn.
    pub fn layer_output(&self, i: usize, l: &F64Layer, batch: usize) -> Vec<f64> {
        match self.net.layers[i] {
            Layer::Rnn { hidden, steps } => (0..batch)
                .flat_map(|b| {
                    let last = (b * steps + steps - 1) * hidden;
                    l.y[last..last + hidden].iter().copied()
                })
                .collect(),
            _ => l.y.clone(),
        }
    }

    fn forward_layer(&self, i: usize, p: &F64LayerParams, x: &[f64], batch: usize) -> F64Layer {
        let s = self.shapes[i];
        let (n_in, n_out) = (s.input.len(), s.output.len());
        let mut z = Vec::new();
        match self.net.layers[i] {
            Layer::Fc { .. } => {
                for b in 0..batch {
                    for j in 0..n_out {
                        let dot: f64 = (0..n_in)
                            .map(|k| p.weights[j * n_in + k] * x[b * n_in + k])
                            .sum();
                        z.push(p.biases[j] + dot);
                    }
                }
            }
            Layer::Conv { .. } => {
                let g = self.net.conv_geometry(i, s.input).expect("conv");
                let pix = g.out_pixels();
                for b in 0..batch {
                    let xb = &x[b * n_in..(b + 1) * n_in];
                    let mut acc: Vec<f64> = (0..n_out).map(|o| p.biases[o / pix]).collect();
                    g.for_each_tap(|o, k, wi| acc[o] += p.weights[wi] * xb[k]);
                    z.extend(acc);
                }
            }
            Layer::Maxpool {} => {
                let Shape::Image { c, h, w } = s.input else {
                    unreachable!("validated")
                };
                let mut y = Vec::with_capacity(batch * n_out);
                for b in 0..batch {
                    for ch in 0..c {
                        for oy in 0..h / POOL {
                            for ox in 0..w / POOL {
                                let mut m = f64::NEG_INFINITY;
                                for dy in 0..POOL {
                                    for dx in 0..POOL {
                                        let k = (ch * h + oy * POOL + dy) * w + ox * POOL + dx;
                                        m = m.max(x[b * n_in + k]);
                                    }
                                }
                                y.push(m);
                            }
                        }
                    }
                }
                return F64Layer { z, y };
            }
            Layer::Rnn { hidden, steps } => {
                let (_, n) = s.input.as_sequence().expect("validated");
                let (wx, wh) = p.weights.split_at(hidden * n);
                let mut h_prev = vec![0.0; hidden];
                let mut y = Vec::with_capacity(batch * steps * hidden);
                for b in 0..batch {
                    h_prev.iter_mut().for_each(|v| *v = 0.0);
                    for t in 0..steps {
                        let h: Vec<f64> = (0..hidden)
                            .map(|k| {
                                let zx: f64 = (0..n)
                                    .map(|f| {
                                        wx[k * n + f] * x[b * n_in + s.input.sequence_index(t, f)]
                                    })
                                    .sum();
                                let zh: f64 =
                                    (0..hidden).map(|m| wh[k * hidden + m] * h_prev[m]).sum();
                                let zk = p.biases[k] + zx + zh;
                                z.push(zk);
                                zk.tanh()
                            })
                            .collect();
                        y.extend_from_slice(&h);
                        h_prev = h;
                    }
                }
                return F64Layer { z, y };
            }
        }
        let act = self.net.layers[i]
            .activation()
            .expect("fc and conv have one");
        let y = z.iter().map(|&v| activate(act, v)).collect();
        F64Layer { z, y }
    }
}
