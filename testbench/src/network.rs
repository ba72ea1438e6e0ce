//! Network descriptions: what a user trains, read from TOML or JSON, with shape inference.
//!
//! The compiler, the golden model and the reports all start from this one description, so its
//! meaning (shapes, memory layouts, which products a layer evaluates) is fixed here, once.
//!
//! # Format
//!
//! ```toml
//! name = "mlp"
//! input = [64]      # [n] features, [C, H, W] an image, [T, n] a sequence (then sequence = true)
//! sequence = false  # default false
//! loss = "mse"      # default and only choice: mean squared error
//!
//! [[layer]]
//! type = "fc"       # fc | conv | maxpool | rnn
//! out = 32
//! act = "relu"      # identity | relu | leaky_relu | sigmoid | tanh
//!
//! [[layer]]
//! type = "conv"
//! out_channels = 4
//! kernel = 3        # square
//! stride = 1        # default 1, >= 1
//! padding = 1       # default 0, zeros
//! act = "relu"
//!
//! [[layer]]
//! type = "maxpool"  # 2x2 window, stride 2; H and W must be even
//!
//! [[layer]]
//! type = "rnn"      # Elman, tanh, unrolled over `steps`
//! hidden = 16
//! steps = 4
//! ```
//!
//! JSON holds the same keys (`{"name": ..., "layer": [{"type": "fc", ...}]}`). Unknown keys and
//! unknown layer types are errors; every error names the layer index, its type and the field.
//!
//! # Shapes and memory layouts
//!
//! Tensors are stored per sample, samples one after another (batch-major), each in row-major
//! order of its shape:
//! - `fc` accepts any shape and reads it flattened in memory order; its output is `[out]`.
//! - `conv` accepts `[C, H, W]`; output `[out_channels, Ho, Wo]` with
//!   `Ho = floor((H + 2 padding - kernel) / stride) + 1` (likewise `Wo`), which must be >= 1.
//!   Padded positions are zeros and evaluate no product.
//! - `maxpool` accepts `[C, H, W]` with even H and W; output `[C, H/2, W/2]`.
//! - `rnn` accepts a sequence of T steps and outputs its last hidden state `h_T` (`[hidden]`);
//!   `steps` must equal T. The sequence is either the network input `[T, n]` (step t is row t)
//!   or a `[C, H, W]` feature map (the CNN + RNN composition) read as T = H steps of `C * W`
//!   features: feature `c * W + w` of step t is element `[c, t, w]`. Each row of the feature map
//!   is one time step, so a convolutional front end scans an image top to bottom.
//!
//! Parameters (weights `W`, biases `b`) per layer, flat and row-major:
//! - `fc`: `W[out][in]`, `b[out]`;
//! - `conv`: `W[out_channels][C][kernel][kernel]`, `b[out_channels]`;
//! - `rnn`: `W_x[hidden][n]` followed by `W_h[hidden][hidden]` in one weight vector, `b[hidden]`;
//! - `maxpool`: none.
//!
//! # MAC counts
//!
//! [`Network::costs`] gives, per layer and per sample, the products each phase evaluates: padded
//! positions and the zero initial state `h_0` of an rnn evaluate none. Bias terms are additions,
//! not products. A layer computes the error of its input only if an earlier layer has parameters.

use std::fmt;
use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Deserializer, Serialize};

use crate::golden::Activation;

/// The accumulator holds any sum of this many 16 x 16-bit products without overflow
/// (ARCHITECTURE.md section 3); longer forward or backward reductions are rejected.
pub const MAX_REDUCTION: usize = 65536;
/// Max pooling window side and stride.
pub const POOL: usize = 2;
/// Layer types, as written in a description.
pub const LAYER_TYPES: [&str; 4] = ["fc", "conv", "maxpool", "rnn"];

/// Layer fields that hold a size or count.
const SIZE_FIELDS: [&str; 7] = [
    "out",
    "out_channels",
    "kernel",
    "stride",
    "padding",
    "hidden",
    "steps",
];
/// Activation names, as written in a description (the serde names of [`Activation`]).
pub const ACTIVATION_NAMES: [&str; 5] = ["identity", "relu", "leaky_relu", "sigmoid", "tanh"];

/// Serde names of the activation functions (the golden model's enum carries no serde).
#[derive(Serialize, Deserialize)]
#[serde(remote = "Activation", rename_all = "snake_case")]
enum ActivationName {
    Identity,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
}

fn default_stride() -> usize {
    1
}

/// One layer of a description.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum Layer {
    /// Fully connected: `y = act(W x + b)`.
    Fc {
        out: usize,
        #[serde(with = "ActivationName")]
        act: Activation,
    },
    /// 2D convolution, square kernel, zero padding.
    Conv {
        out_channels: usize,
        kernel: usize,
        #[serde(default = "default_stride")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(with = "ActivationName")]
        act: Activation,
    },
    /// 2x2 max pooling, stride 2.
    Maxpool {},
    /// Elman recurrent layer: `h_t = tanh(W_x x_t + W_h h_{t-1} + b)`, `h_0 = 0`.
    Rnn { hidden: usize, steps: usize },
}

impl Layer {
    /// The type name as written in a description.
    pub fn type_name(&self) -> &'static str {
        match self {
            Layer::Fc { .. } => "fc",
            Layer::Conv { .. } => "conv",
            Layer::Maxpool {} => "maxpool",
            Layer::Rnn { .. } => "rnn",
        }
    }

    /// The activation applied to this layer's output; `None` for max pooling, which has none.
    pub fn activation(&self) -> Option<Activation> {
        match self {
            Layer::Fc { act, .. } | Layer::Conv { act, .. } => Some(*act),
            Layer::Rnn { .. } => Some(Activation::Tanh),
            Layer::Maxpool {} => None,
        }
    }
}

/// The loss function; mean squared error is the only one the hardware's output post-op computes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Loss {
    #[default]
    Mse,
}

/// A network description. Construct it with [`Network::load`] or [`Network::from_toml_str`],
/// which also validate it; a hand-built one is validated by [`Network::shapes`].
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Network {
    pub name: String,
    /// `[n]`, `[C, H, W]`, or `[T, n]` with `sequence = true`.
    pub input: Vec<usize>,
    pub sequence: bool,
    pub loss: Loss,
    #[serde(rename = "layer")]
    pub layers: Vec<Layer>,
}

/// The description as read, before each layer is parsed on its own so that its errors can name
/// the layer index.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNetwork {
    name: String,
    input: Vec<usize>,
    #[serde(default)]
    sequence: bool,
    #[serde(default)]
    loss: Loss,
    #[serde(default)]
    layer: Vec<serde_json::Value>,
}

fn parse_layer(index: usize, value: serde_json::Value) -> Result<Layer, String> {
    let ty = match value.get("type") {
        None => return Err(format!("layer {index}: missing field `type`")),
        Some(t) => t
            .as_str()
            .ok_or_else(|| format!("layer {index}: `type` must be a string, got {t}"))?
            .to_string(),
    };
    if !LAYER_TYPES.contains(&ty.as_str()) {
        return Err(format!(
            "layer {index}: unknown layer type `{ty}` (expected one of {})",
            LAYER_TYPES.join(", ")
        ));
    }
    // serde's messages for a bad value do not say which field held it: check those first.
    let field_error = |field: &str, expected: String, got: &serde_json::Value| {
        format!("layer {index} ({ty}): `{field}` must be {expected}, got {got}")
    };
    for field in SIZE_FIELDS {
        if let Some(v) = value.get(field) {
            if !v.is_u64() {
                return Err(field_error(field, "a non-negative integer".into(), v));
            }
        }
    }
    if let Some(v) = value.get("act") {
        if !v.as_str().is_some_and(|a| ACTIVATION_NAMES.contains(&a)) {
            return Err(field_error(
                "act",
                format!("one of {}", ACTIVATION_NAMES.join(", ")),
                v,
            ));
        }
    }
    serde_json::from_value(value).map_err(|e| format!("layer {index} ({ty}): {e}"))
}

impl<'de> Deserialize<'de> for Network {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawNetwork::deserialize(d)?;
        let layers = raw
            .layer
            .into_iter()
            .enumerate()
            .map(|(i, v)| parse_layer(i, v))
            .collect::<Result<Vec<_>, _>>()
            .map_err(serde::de::Error::custom)?;
        Ok(Network {
            name: raw.name,
            input: raw.input,
            sequence: raw.sequence,
            loss: raw.loss,
            layers,
        })
    }
}

/// The shape of one sample of a tensor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Flat { n: usize },
    Image { c: usize, h: usize, w: usize },
    Sequence { t: usize, n: usize },
}

impl Shape {
    /// Elements per sample.
    pub fn len(&self) -> usize {
        match *self {
            Shape::Flat { n } => n,
            Shape::Image { c, h, w } => c * h * w,
            Shape::Sequence { t, n } => t * n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn dims(&self) -> Vec<usize> {
        match *self {
            Shape::Flat { n } => vec![n],
            Shape::Image { c, h, w } => vec![c, h, w],
            Shape::Sequence { t, n } => vec![t, n],
        }
    }

    /// How an rnn reads this shape: (steps, features per step), or `None` if it is no sequence.
    pub fn as_sequence(&self) -> Option<(usize, usize)> {
        match *self {
            Shape::Sequence { t, n } => Some((t, n)),
            Shape::Image { c, h, w } => Some((h, c * w)),
            Shape::Flat { .. } => None,
        }
    }

    /// The in-sample flat index of feature `i` of step `t` as an rnn reads this shape.
    pub fn sequence_index(&self, t: usize, i: usize) -> usize {
        match *self {
            Shape::Sequence { n, .. } => t * n + i,
            Shape::Image { h, w, .. } => ((i / w) * h + t) * w + i % w,
            Shape::Flat { .. } => panic!("a flat shape is not a sequence"),
        }
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let dims: Vec<String> = self.dims().iter().map(|d| d.to_string()).collect();
        write!(f, "[{}]", dims.join(", "))
    }
}

/// One layer's shapes and parameter counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LayerShape {
    pub input: Shape,
    pub output: Shape,
    pub weights: usize,
    pub biases: usize,
}

/// Products one sample evaluates per phase of one layer (module doc: "MAC counts").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LayerCost {
    /// Forward: `W x` (and `W_h h_{t-1}` for t >= 2).
    pub forward: u64,
    /// Backward: the error of the layer's input (`W^T delta`), and the rnn's own
    /// backpropagation through time.
    pub backward: u64,
    /// Weight gradient: `delta x^T` (bias gradients are sums, not products).
    pub weight_grad: u64,
    /// Weight update: parameters updated (per step, not per sample).
    pub update_params: u64,
}

/// Geometry of a convolution: every valid (output, input, weight) index triple of one sample.
///
/// Forward, backward and gradient phases, in fixed point and in f64, all walk these same taps,
/// so they cannot disagree about padding or stride.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConvGeometry {
    pub in_c: usize,
    pub in_h: usize,
    pub in_w: usize,
    pub out_c: usize,
    pub out_h: usize,
    pub out_w: usize,
    pub kernel: usize,
    pub stride: usize,
    pub padding: usize,
}

impl ConvGeometry {
    /// Calls `f(out_index, in_index, weight_index)` for every tap that reads a real (not padded)
    /// input; indices are within one sample and within the layer's weights.
    pub fn for_each_tap(&self, mut f: impl FnMut(usize, usize, usize)) {
        let k = self.kernel;
        for o in 0..self.out_c {
            for oy in 0..self.out_h {
                for ox in 0..self.out_w {
                    let out_index = (o * self.out_h + oy) * self.out_w + ox;
                    for c in 0..self.in_c {
                        for ky in 0..k {
                            let Some(iy) = self.input_coord(oy, ky, self.in_h) else {
                                continue;
                            };
                            for kx in 0..k {
                                let Some(ix) = self.input_coord(ox, kx, self.in_w) else {
                                    continue;
                                };
                                let in_index = (c * self.in_h + iy) * self.in_w + ix;
                                let weight_index = ((o * self.in_c + c) * k + ky) * k + kx;
                                f(out_index, in_index, weight_index);
                            }
                        }
                    }
                }
            }
        }
    }

    /// The input coordinate an output coordinate's tap reads, or `None` in the padding.
    fn input_coord(&self, out: usize, tap: usize, size: usize) -> Option<usize> {
        let padded = out * self.stride + tap;
        (padded >= self.padding && padded - self.padding < size).then(|| padded - self.padding)
    }

    /// Taps that read real inputs, per sample.
    pub fn taps(&self) -> u64 {
        let valid = |out: usize, size: usize| -> u64 {
            (0..out)
                .map(|o| {
                    (0..self.kernel)
                        .filter(|&t| self.input_coord(o, t, size).is_some())
                        .count() as u64
                })
                .sum()
        };
        valid(self.out_h, self.in_h)
            * valid(self.out_w, self.in_w)
            * (self.in_c * self.out_c) as u64
    }

    /// Output pixels per channel.
    pub fn out_pixels(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// Builds the layer's error context: "layer 2 (conv)".
fn at(index: usize, layer: &Layer) -> String {
    format!("layer {index} ({})", layer.type_name())
}

impl Network {
    /// Reads a description; `.toml` or `.json` by the file's extension.
    pub fn load(path: impl AsRef<Path>) -> Result<Network> {
        let path = path.as_ref();
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        match ext {
            "toml" => Network::from_toml_str(&text),
            "json" => Network::from_json_str(&text),
            _ => bail!(
                "{}: unknown extension `{ext}` (expected .toml or .json)",
                path.display()
            ),
        }
        .with_context(|| format!("network description {}", path.display()))
    }

    /// Parses and validates a TOML description.
    pub fn from_toml_str(text: &str) -> Result<Network> {
        let net: Network =
            toml::from_str(text).map_err(|e| anyhow!("{}", e.to_string().trim_end()))?;
        net.shapes()?;
        Ok(net)
    }

    /// Parses and validates a JSON description.
    pub fn from_json_str(text: &str) -> Result<Network> {
        let net: Network = serde_json::from_str(text).map_err(|e| anyhow!("{e}"))?;
        net.shapes()?;
        Ok(net)
    }

    /// The description as TOML (what [`Network::from_toml_str`] reads back).
    pub fn to_toml_string(&self) -> Result<String> {
        Ok(toml::to_string(self)?)
    }

    /// The shape of one input sample.
    pub fn input_shape(&self) -> Result<Shape> {
        let d = &self.input;
        if d.contains(&0) {
            bail!("input {d:?}: every dimension must be at least 1");
        }
        match (d.len(), self.sequence) {
            (1, false) => Ok(Shape::Flat { n: d[0] }),
            (3, false) => Ok(Shape::Image {
                c: d[0],
                h: d[1],
                w: d[2],
            }),
            (2, true) => Ok(Shape::Sequence { t: d[0], n: d[1] }),
            (2, false) => {
                bail!("input {d:?}: two dimensions are a sequence [T, n]; set `sequence = true`")
            }
            (_, true) => bail!("input {d:?}: `sequence = true` needs an input [T, n]"),
            _ => bail!("input {d:?}: expected [n], [C, H, W] or [T, n] (with `sequence = true`)"),
        }
    }

    /// Validates the description and infers every layer's shapes.
    pub fn shapes(&self) -> Result<Vec<LayerShape>> {
        if self.layers.is_empty() {
            bail!("network `{}` has no layers", self.name);
        }
        let mut shape = self.input_shape()?;
        let mut out = Vec::with_capacity(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate() {
            let ls = layer_shape(layer, shape).with_context(|| at(i, layer))?;
            out.push(ls);
            shape = ls.output;
        }
        if out.iter().all(|l| l.weights == 0) {
            bail!("network `{}` has no layer with parameters", self.name);
        }
        Ok(out)
    }

    /// The convolution geometry of layer `index`, or `None` if it is no convolution.
    pub fn conv_geometry(&self, index: usize, input: Shape) -> Option<ConvGeometry> {
        conv_geometry(&self.layers[index], input)
    }

    /// Whether layer `index` must compute the error of its input: some earlier layer has
    /// parameters to train.
    pub fn needs_input_error(shapes: &[LayerShape], index: usize) -> bool {
        shapes[..index].iter().any(|s| s.weights > 0)
    }

    /// The activation whose derivative turns an error at layer `index`'s output into the error of
    /// its pre-activation. A max pool has none of its own: it passes on the activation of the
    /// nearest layer before it, whose output values it forwards unchanged. `None` when only pools
    /// lie between the layer and the input (no error is needed there).
    pub fn effective_activation(&self, index: usize) -> Option<Activation> {
        self.layers[..=index]
            .iter()
            .rev()
            .find_map(|l| l.activation())
    }

    /// Products per sample of each phase of each layer (module doc: "MAC counts").
    pub fn costs(&self) -> Result<Vec<LayerCost>> {
        let shapes = self.shapes()?;
        Ok(self
            .layers
            .iter()
            .enumerate()
            .map(|(i, layer)| {
                let s = shapes[i];
                let input_error = Network::needs_input_error(&shapes, i);
                let update_params = (s.weights + s.biases) as u64;
                match *layer {
                    Layer::Fc { .. } => {
                        let products = s.weights as u64;
                        LayerCost {
                            forward: products,
                            backward: if input_error { products } else { 0 },
                            weight_grad: products,
                            update_params,
                        }
                    }
                    Layer::Conv { .. } => {
                        let taps = conv_geometry(layer, s.input).expect("conv").taps();
                        LayerCost {
                            forward: taps,
                            backward: if input_error { taps } else { 0 },
                            weight_grad: taps,
                            update_params,
                        }
                    }
                    Layer::Maxpool {} => LayerCost {
                        update_params,
                        ..LayerCost::default()
                    },
                    Layer::Rnn { hidden, steps } => {
                        let (_, n) = s.input.as_sequence().expect("rnn input");
                        let input_products = (steps * hidden * n) as u64;
                        // h_0 = 0: the recurrent products start at the second step.
                        let recurrent_products = ((steps - 1) * hidden * hidden) as u64;
                        LayerCost {
                            forward: input_products + recurrent_products,
                            backward: recurrent_products
                                + if input_error { input_products } else { 0 },
                            weight_grad: input_products + recurrent_products,
                            update_params,
                        }
                    }
                }
            })
            .collect())
    }
}

fn conv_geometry(layer: &Layer, input: Shape) -> Option<ConvGeometry> {
    match (*layer, input) {
        (
            Layer::Conv {
                out_channels,
                kernel,
                stride,
                padding,
                ..
            },
            Shape::Image { c, h, w },
        ) => Some(ConvGeometry {
            in_c: c,
            in_h: h,
            in_w: w,
            out_c: out_channels,
            out_h: (h + 2 * padding).checked_sub(kernel)? / stride + 1,
            out_w: (w + 2 * padding).checked_sub(kernel)? / stride + 1,
            kernel,
            stride,
            padding,
        }),
        _ => None,
    }
}

fn at_least_one(field: &str, value: usize) -> Result<()> {
    if value == 0 {
        bail!("{field} must be at least 1, got 0");
    }
    Ok(())
}

fn reduction_fits(what: &str, products: usize) -> Result<()> {
    if products > MAX_REDUCTION {
        bail!("{what} sums {products} products, more than the accumulator's {MAX_REDUCTION}");
    }
    Ok(())
}

/// One layer's output shape from its input shape; errors name the offending field.
fn layer_shape(layer: &Layer, input: Shape) -> Result<LayerShape> {
    let n_in = input.len();
    match *layer {
        Layer::Fc { out, .. } => {
            at_least_one("out", out)?;
            reduction_fits("forward (`in`)", n_in)?;
            reduction_fits("backward (`out`)", out)?;
            Ok(LayerShape {
                input,
                output: Shape::Flat { n: out },
                weights: out * n_in,
                biases: out,
            })
        }
        Layer::Conv {
            out_channels,
            kernel,
            stride,
            padding,
            ..
        } => {
            at_least_one("out_channels", out_channels)?;
            at_least_one("kernel", kernel)?;
            at_least_one("stride", stride)?;
            let Shape::Image { c, h, w } = input else {
                bail!("needs a [C, H, W] input, got {input}");
            };
            let (ph, pw) = (h + 2 * padding, w + 2 * padding);
            if kernel > ph || kernel > pw {
                bail!("kernel {kernel} is larger than the padded input {ph}x{pw}");
            }
            let g = conv_geometry(layer, input).expect("checked above");
            reduction_fits("forward (C * kernel^2)", c * kernel * kernel)?;
            reduction_fits(
                "backward (out_channels * kernel^2)",
                out_channels * kernel * kernel,
            )?;
            Ok(LayerShape {
                input,
                output: Shape::Image {
                    c: out_channels,
                    h: g.out_h,
                    w: g.out_w,
                },
                weights: out_channels * c * kernel * kernel,
                biases: out_channels,
            })
        }
        Layer::Maxpool {} => {
            let Shape::Image { c, h, w } = input else {
                bail!("needs a [C, H, W] input, got {input}");
            };
            if h % POOL != 0 || w % POOL != 0 {
                bail!("H and W must be even for the 2x2 window, got {h}x{w}");
            }
            Ok(LayerShape {
                input,
                output: Shape::Image {
                    c,
                    h: h / POOL,
                    w: w / POOL,
                },
                weights: 0,
                biases: 0,
            })
        }
        Layer::Rnn { hidden, steps } => {
            at_least_one("hidden", hidden)?;
            at_least_one("steps", steps)?;
            let Some((t, n)) = input.as_sequence() else {
                bail!(
                    "needs a sequence (input [T, n] with `sequence = true`, or a [C, H, W] \
                     feature map read as H steps), got {input}"
                );
            };
            if steps != t {
                bail!("steps {steps} does not match the {t} steps of its input {input}");
            }
            reduction_fits("forward (n + hidden)", n + hidden)?;
            reduction_fits("backward (hidden)", hidden)?;
            Ok(LayerShape {
                input,
                output: Shape::Flat { n: hidden },
                weights: hidden * n + hidden * hidden,
                biases: hidden,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MLP: &str = r#"
        name = "mlp"
        input = [64]
        [[layer]]
        type = "fc"
        out = 32
        act = "relu"
        [[layer]]
        type = "fc"
        out = 10
        act = "identity"
    "#;

    fn err(text: &str) -> String {
        format!("{:#}", Network::from_toml_str(text).unwrap_err())
    }

    fn with_layers(input: &str, layers: &str) -> String {
        format!("name = \"t\"\ninput = {input}\n{layers}")
    }

    #[test]
    fn mlp_shapes_params_and_costs() {
        let net = Network::from_toml_str(MLP).unwrap();
        assert_eq!(net.loss, Loss::Mse);
        assert!(!net.sequence);
        let s = net.shapes().unwrap();
        assert_eq!(s[0].input, Shape::Flat { n: 64 });
        assert_eq!(s[0].output, Shape::Flat { n: 32 });
        assert_eq!((s[1].weights, s[1].biases), (320, 10));
        let c = net.costs().unwrap();
        // The first layer has no earlier parameters: it computes no input error.
        assert_eq!(
            c[0],
            LayerCost {
                forward: 2048,
                backward: 0,
                weight_grad: 2048,
                update_params: 2080
            }
        );
        assert_eq!(c[1].backward, 320);
    }

    #[test]
    fn conv_floor_division_and_tap_counts() {
        // 5x5, kernel 3, stride 2, padding 1: (5 + 2 - 3) / 2 + 1 = 3.
        let text = with_layers(
            "[2, 5, 5]",
            "[[layer]]\ntype = \"conv\"\nout_channels = 3\nkernel = 3\nstride = 2\npadding = 1\nact = \"relu\"",
        );
        let net = Network::from_toml_str(&text).unwrap();
        let s = net.shapes().unwrap();
        assert_eq!(s[0].output, Shape::Image { c: 3, h: 3, w: 3 });
        // Output rows 0, 1, 2 read input rows {-1,0,1}, {1,2,3}, {3,4,5}: 2 + 3 + 2 real taps.
        let g = net.conv_geometry(0, s[0].input).unwrap();
        assert_eq!(g.taps(), 7 * 7 * 2 * 3);
        let mut counted = 0u64;
        g.for_each_tap(|_, _, _| counted += 1);
        assert_eq!(counted, g.taps());
        // Even stride 2 on an even size floors: (6 + 2 - 3) / 2 + 1 = 3.
        let text = text.replace("[2, 5, 5]", "[2, 6, 6]");
        let s = Network::from_toml_str(&text).unwrap().shapes().unwrap();
        assert_eq!(s[0].output, Shape::Image { c: 3, h: 3, w: 3 });
    }

    #[test]
    fn cnn_rnn_reads_rows_as_steps() {
        let text = with_layers(
            "[1, 8, 8]",
            r#"
            [[layer]]
            type = "conv"
            out_channels = 4
            kernel = 3
            padding = 1
            act = "relu"
            [[layer]]
            type = "maxpool"
            [[layer]]
            type = "rnn"
            hidden = 8
            steps = 4
            [[layer]]
            type = "fc"
            out = 4
            act = "identity"
            "#,
        );
        let net = Network::from_toml_str(&text).unwrap();
        let s = net.shapes().unwrap();
        assert_eq!(s[1].output, Shape::Image { c: 4, h: 4, w: 4 });
        assert_eq!(s[2].input.as_sequence(), Some((4, 16)));
        assert_eq!(s[2].output, Shape::Flat { n: 8 });
        assert_eq!(s[2].weights, 8 * 16 + 8 * 8);
        // Feature c * W + w of step t is element [c, t, w].
        let img = Shape::Image { c: 4, h: 4, w: 4 };
        assert_eq!(img.sequence_index(2, 4 + 3), (4 + 2) * 4 + 3);
        assert_eq!(net.effective_activation(1), Some(Activation::Relu));
        let c = net.costs().unwrap();
        assert_eq!(c[1], LayerCost::default());
        assert_eq!(c[2].forward, (4 * 8 * 16 + 3 * 8 * 8) as u64);
        assert_eq!(c[2].backward, (3 * 8 * 8 + 4 * 8 * 16) as u64);
    }

    #[test]
    fn json_and_toml_round_trip() {
        let net = Network::from_toml_str(MLP).unwrap();
        let back = Network::from_toml_str(&net.to_toml_string().unwrap()).unwrap();
        assert_eq!(back, net);
        let json = serde_json::to_string(&net).unwrap();
        assert_eq!(Network::from_json_str(&json).unwrap(), net);
        assert!(json.contains(r#""type":"fc""#), "{json}");
    }

    #[test]
    fn kernel_larger_than_padded_input() {
        let text = with_layers(
            "[1, 8, 8]",
            r#"
            [[layer]]
            type = "maxpool"
            [[layer]]
            type = "maxpool"
            [[layer]]
            type = "conv"
            out_channels = 2
            kernel = 5
            act = "relu"
            "#,
        );
        assert_eq!(
            err(&text),
            "layer 2 (conv): kernel 5 is larger than the padded input 2x2"
        );
    }

    #[test]
    fn rnn_steps_must_match() {
        let text = "name = \"r\"\ninput = [4, 8]\nsequence = true\n[[layer]]\ntype = \"rnn\"\nhidden = 3\nsteps = 5";
        assert_eq!(
            err(text),
            "layer 0 (rnn): steps 5 does not match the 4 steps of its input [4, 8]"
        );
        let flat = with_layers("[8]", "[[layer]]\ntype = \"rnn\"\nhidden = 3\nsteps = 1");
        assert!(
            err(&flat).starts_with("layer 0 (rnn): needs a sequence"),
            "{}",
            err(&flat)
        );
    }

    #[test]
    fn unknown_type_and_fields_are_named() {
        let e = err(&with_layers(
            "[8]",
            "[[layer]]\ntype = \"fc\"\nout = 2\nact = \"relu\"\n[[layer]]\ntype = \"dense\"\nout = 2",
        ));
        assert!(e.contains("layer 1: unknown layer type `dense`"), "{e}");
        let e = err(&with_layers(
            "[8]",
            "[[layer]]\ntype = \"fc\"\nout = 2\nact = \"relu\"\nbias = false",
        ));
        assert!(e.contains("layer 0 (fc): unknown field `bias`"), "{e}");
        let e = err(&with_layers(
            "[8]",
            "[[layer]]\ntype = \"maxpool\"\nsize = 3",
        ));
        assert!(e.contains("layer 0 (maxpool): unknown field `size`"), "{e}");
        let e = err(&with_layers(
            "[8]",
            "[[layer]]\ntype = \"fc\"\nout = 2\nact = \"gelu\"",
        ));
        assert_eq!(
            e,
            "layer 0 (fc): `act` must be one of identity, relu, leaky_relu, sigmoid, tanh, \
             got \"gelu\""
        );
        let e = err(&with_layers("[8]", "[[layer]]\nout = 2"));
        assert!(e.contains("layer 0: missing field `type`"), "{e}");
        let e = err("name = \"t\"\ninput = [8]\nbatch = 3\n[[layer]]\ntype = \"fc\"\nout = 1\nact = \"relu\"");
        assert!(e.contains("unknown field `batch`"), "{e}");
        let e = err(&format!("loss = \"xent\"\n{}", MLP));
        assert!(e.contains("unknown variant `xent`"), "{e}");
    }

    #[test]
    fn activation_names_are_the_serde_names() {
        for (name, act) in ACTIVATION_NAMES.iter().zip(Activation::ALL) {
            let text = with_layers(
                "[2]",
                &format!("[[layer]]\ntype = \"fc\"\nout = 1\nact = \"{name}\""),
            );
            let net = Network::from_toml_str(&text).unwrap();
            assert_eq!(net.layers[0].activation(), Some(act));
        }
    }

    #[test]
    fn zero_sizes_and_bad_inputs_are_rejected() {
        let e = err(&with_layers(
            "[8]",
            "[[layer]]\ntype = \"fc\"\nout = 0\nact = \"relu\"",
        ));
        assert_eq!(e, "layer 0 (fc): out must be at least 1, got 0");
        let e = err(&with_layers(
            "[1, 4, 4]",
            "[[layer]]\ntype = \"conv\"\nout_channels = 2\nkernel = 3\nstride = 0\nact = \"relu\"",
        ));
        assert_eq!(e, "layer 0 (conv): stride must be at least 1, got 0");
        let e = err(&with_layers(
            "[1, 4, 4]",
            "[[layer]]\ntype = \"conv\"\nout_channels = 2\nkernel = 3\npadding = -1\nact = \"relu\"",
        ));
        assert_eq!(
            e,
            "layer 0 (conv): `padding` must be a non-negative integer, got -1"
        );
        let e = err(&with_layers("[1, 3, 4]", "[[layer]]\ntype = \"maxpool\""));
        assert_eq!(
            e,
            "layer 0 (maxpool): H and W must be even for the 2x2 window, got 3x4"
        );
        let e = err(&with_layers(
            "[8]",
            "[[layer]]\ntype = \"conv\"\nout_channels = 2\nkernel = 1\nact = \"relu\"",
        ));
        assert_eq!(e, "layer 0 (conv): needs a [C, H, W] input, got [8]");
        let e = err(&with_layers(
            "[4, 8]",
            "[[layer]]\ntype = \"fc\"\nout = 1\nact = \"relu\"",
        ));
        assert!(e.contains("set `sequence = true`"), "{e}");
        let e = err(&with_layers(
            "[0]",
            "[[layer]]\ntype = \"fc\"\nout = 1\nact = \"relu\"",
        ));
        assert!(e.contains("at least 1"), "{e}");
        let e = err(&with_layers("[1, 4, 4]", "[[layer]]\ntype = \"maxpool\""));
        assert!(e.contains("no layer with parameters"), "{e}");
        assert!(err("name = \"t\"\ninput = [8]").contains("has no layers"));
        let e = err(&with_layers(
            "[70000]",
            "[[layer]]\ntype = \"fc\"\nout = 1\nact = \"relu\"",
        ));
        assert!(e.contains("layer 0 (fc): forward"), "{e}");
    }

    #[test]
    fn load_picks_the_format_by_extension() {
        let dir = std::env::temp_dir().join(format!("nt-network-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let net = Network::from_toml_str(MLP).unwrap();
        std::fs::write(dir.join("a.toml"), MLP).unwrap();
        std::fs::write(dir.join("a.json"), serde_json::to_string(&net).unwrap()).unwrap();
        std::fs::write(dir.join("a.yaml"), MLP).unwrap();
        assert_eq!(Network::load(dir.join("a.toml")).unwrap(), net);
        assert_eq!(Network::load(dir.join("a.json")).unwrap(), net);
        let e = format!("{:#}", Network::load(dir.join("a.yaml")).unwrap_err());
        assert!(e.contains("unknown extension `yaml`"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn example_networks_load() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let expect = [
            ("mlp.toml", Shape::Flat { n: 10 }, 2),
            ("cnn.toml", Shape::Flat { n: 10 }, 3),
            ("rnn.toml", Shape::Flat { n: 4 }, 2),
            ("cnn_rnn.toml", Shape::Flat { n: 4 }, 4),
        ];
        for (file, output, layers) in expect {
            let net = Network::load(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e:#}"));
            let s = net.shapes().unwrap();
            assert_eq!(s.len(), layers, "{file}");
            assert_eq!(s.last().unwrap().output, output, "{file}");
            assert!(net
                .costs()
                .unwrap()
                .iter()
                .all(|c| c.update_params == 0 || c.forward > 0));
        }
        let cnn_rnn = Network::load(root.join("cnn_rnn.toml")).unwrap();
        let s = cnn_rnn.shapes().unwrap();
        assert_eq!(s[2].input, Shape::Image { c: 4, h: 4, w: 4 });
        assert_eq!(s[2].input.as_sequence(), Some((4, 16)));
    }
}
