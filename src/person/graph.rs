//! A small interpreter for the TFLite graphs of MediaPipe's person models, on candle.
//!
//! The converter (`training/person/convert.py`) writes each model as a JSON op list plus a
//! safetensors file of its constants, in TFLite's layouts. Here the graph is loaded once: kernels
//! are rearranged for NCHW, TFLite's SAME padding (asymmetric: the extra row and column go after)
//! is resolved into explicit pads from the static shapes, and float16 weights become float32.
//! Running it is pure: input tensors in, output tensors out, on any candle device.
//!
//! Layout rule: every rank-4 activation is held as NCHW; tensors of other ranks keep TFLite's
//! own (row-major NHWC-derived) order, so RESHAPE goes through NHWC.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::Deserialize;

use super::native::{self, Epi, Plan, Src, Step, Window};
use super::ops::{self, Act, Pads};
use super::PersonError;

/// Raw JSON form written by the converter.
#[derive(Deserialize)]
struct GraphFile {
    format: String,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    tensors: HashMap<String, TensorInfo>,
    ops: Vec<OpFile>,
}

#[derive(Deserialize, Clone)]
struct TensorInfo {
    #[allow(dead_code)]
    name: String,
    shape: Vec<usize>,
}

#[derive(Deserialize)]
struct OpFile {
    op: String,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    #[serde(default)]
    padding: Option<String>,
    #[serde(default)]
    stride: Option<[usize; 2]>,
    #[serde(default)]
    dilation: Option<[usize; 2]>,
    #[serde(default)]
    filter: Option<[usize; 2]>,
    #[serde(default)]
    activation: Option<String>,
    #[serde(default)]
    axis: Option<i64>,
    #[serde(default)]
    depth_multiplier: Option<usize>,
    #[serde(default)]
    align_corners: Option<bool>,
    #[serde(default)]
    half_pixel_centers: Option<bool>,
    #[serde(default)]
    block_size: Option<usize>,
}

/// An op's operand: an activation computed at run time, or a constant arranged at load time.
#[derive(Debug, Clone)]
enum Operand {
    Value(usize),
    Const(Tensor),
}

#[derive(Debug)]
enum Kind {
    Conv {
        weight: Tensor,
        bias: Option<Tensor>,
        stride: [usize; 2],
        dilation: [usize; 2],
        pads: Pads,
        act: Act,
    },
    Depthwise {
        weight: Tensor,
        bias: Tensor,
        stride: [usize; 2],
        pads: Pads,
        act: Act,
    },
    TransposeConvBias {
        weight: Tensor,
        bias: Tensor,
        stride: [usize; 2],
        out_hw: [usize; 2],
        pads: Pads,
    },
    Add(Act),
    Mul(Act),
    Pad(Pads, [usize; 2]),
    AvgPool {
        filter: [usize; 2],
        stride: [usize; 2],
    },
    MaxPool {
        filter: [usize; 2],
        stride: [usize; 2],
    },
    Resize {
        out_hw: [usize; 2],
        align_corners: bool,
        half_pixel_centers: bool,
    },
    Concat(usize),
    Reshape(Vec<usize>),
    DepthToSpace(usize),
    Logistic,
    HardSwish,
    Relu,
}

impl Kind {
    fn name(&self) -> &'static str {
        match self {
            Kind::Conv { weight, .. } if weight.dims()[2] == 1 => "conv1x1",
            Kind::Conv { .. } => "conv",
            Kind::Depthwise { .. } => "depthwise",
            Kind::TransposeConvBias { .. } => "transpose_conv",
            Kind::Add(_) => "add",
            Kind::Mul(_) => "mul",
            Kind::Pad(..) => "pad",
            Kind::AvgPool { .. } => "avg_pool",
            Kind::MaxPool { .. } => "max_pool",
            Kind::Resize { .. } => "resize",
            Kind::Concat(_) => "concat",
            Kind::Reshape(_) => "reshape",
            Kind::DepthToSpace(_) => "depth_to_space",
            Kind::Logistic => "logistic",
            Kind::HardSwish => "hard_swish",
            Kind::Relu => "relu",
        }
    }
}

#[derive(Debug)]
struct Op {
    kind: Kind,
    inputs: Vec<Operand>,
    output: usize,
    /// Activations whose last reader is this op, dropped after it runs.
    frees: Vec<usize>,
}

/// A loaded graph, ready to run on its device.
#[derive(Debug)]
pub struct Graph {
    name: String,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    /// TFLite (NHWC) shapes of the inputs and outputs.
    input_shapes: Vec<Vec<usize>>,
    output_shapes: Vec<Vec<usize>>,
    ops: Vec<Op>,
    slots: usize,
    device: Device,
    /// The CPU executor's plan, on the CPU.
    native: Option<Plan>,
}

/// What went wrong loading a graph, before it is tied to a file name.
fn bad(path: &Path, reason: impl Into<String>) -> PersonError {
    PersonError::Model {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// TFLite's SAME padding for one spatial dimension: the total split with the extra after.
fn same_pads(input: usize, kernel: usize, stride: usize, dilation: usize) -> (usize, usize) {
    let effective = (kernel - 1) * dilation + 1;
    let out = input.div_ceil(stride);
    let total = ((out - 1) * stride + effective).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// A TFLite fused activation by name.
fn activation(name: Option<&str>) -> Result<Act, String> {
    match name.unwrap_or("none") {
        "none" => Ok(Act::None),
        "relu" => Ok(Act::Relu),
        "relu6" => Ok(Act::Relu6),
        other => Err(format!("unsupported fused activation `{other}`")),
    }
}

/// A constant of rank <= 4 in TFLite's NHWC order, shaped to broadcast against NCHW values.
fn nchw_broadcast(t: &Tensor) -> candle_core::Result<Tensor> {
    let mut dims = t.dims().to_vec();
    while dims.len() < 4 {
        dims.insert(0, 1);
    }
    t.reshape(dims)?.permute((0, 3, 1, 2))?.contiguous()
}

/// A graph's constants by tensor id, as read from its safetensors file (float16 made float32).
pub struct Constants {
    path: PathBuf,
    tensors: HashMap<usize, Tensor>,
}

impl Constants {
    /// Reads a graph's safetensors file onto `device`.
    pub fn load(path: &Path, device: &Device) -> Result<Self, PersonError> {
        if !path.is_file() {
            return Err(bad(path, "missing"));
        }
        let raw =
            candle_core::safetensors::load(path, device).map_err(|e| bad(path, e.to_string()))?;
        let mut tensors = HashMap::new();
        for (key, tensor) in raw {
            let id: usize = key
                .strip_prefix('t')
                .and_then(|n| n.parse().ok())
                .ok_or_else(|| bad(path, format!("unexpected tensor `{key}`")))?;
            check_shape(tensor.dims()).map_err(|r| bad(path, format!("tensor `{key}`: {r}")))?;
            let tensor = match tensor.dtype() {
                DType::F16 | DType::BF16 => tensor.to_dtype(DType::F32),
                _ => Ok(tensor),
            }
            .map_err(|e| bad(path, e.to_string()))?;
            tensors.insert(id, tensor);
        }
        Ok(Self {
            path: path.to_path_buf(),
            tensors,
        })
    }
}

/// Tensor ids of a graph description are below this (the shipped graphs' are below 600):
/// run-time tables are indexed by id.
const MAX_TENSOR_ID: usize = 1 << 16;
/// Elements of one tensor at most (the shipped models' largest has about a million), so that a
/// corrupt shape cannot ask for gigabytes.
const MAX_ELEMENTS: usize = 1 << 24;
/// Strides, dilations, pooling windows and depth-to-space blocks at most.
const MAX_WINDOW: usize = 1 << 12;

/// A tensor shape the interpreter handles: rank 1 to 4, no empty side, at most
/// [`MAX_ELEMENTS`] elements.
fn check_shape(shape: &[usize]) -> Result<(), String> {
    if shape.is_empty() || shape.len() > 4 {
        return Err(format!("shape {shape:?}: rank 1 to 4 expected"));
    }
    let elements = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|&n| n > 0 && n <= MAX_ELEMENTS);
    match elements {
        Some(_) => Ok(()),
        None => Err(format!(
            "shape {shape:?}: 1 to {MAX_ELEMENTS} elements expected"
        )),
    }
}

/// A graph description's JSON, its format and the bounds every later step relies on checked:
/// tensor ids and shapes, op operand counts, window sizes.
fn parse(text: &str) -> Result<GraphFile, String> {
    let file: GraphFile = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if file.format != "fitting-room-tflite-graph/1" {
        return Err(format!("unknown format `{}`", file.format));
    }
    let id_ok = |id: &usize| *id < MAX_TENSOR_ID;
    for (key, tensor) in &file.tensors {
        match key.parse::<usize>() {
            Ok(id) if id_ok(&id) => {
                check_shape(&tensor.shape).map_err(|r| format!("tensor {id}: {r}"))?
            }
            _ => {
                return Err(format!(
                    "tensor id `{key}` is not a number below {MAX_TENSOR_ID}"
                ))
            }
        }
    }
    if !file.inputs.iter().chain(&file.outputs).all(id_ok) {
        return Err(format!(
            "graph input or output id not below {MAX_TENSOR_ID}"
        ));
    }
    for (index, op) in file.ops.iter().enumerate() {
        let context = |reason: &str| format!("op {index} ({}): {reason}", op.op);
        if op.inputs.is_empty() || op.outputs.is_empty() {
            return Err(context("no inputs or no outputs"));
        }
        if !op.inputs.iter().chain(&op.outputs).all(id_ok) {
            return Err(context(&format!("tensor id not below {MAX_TENSOR_ID}")));
        }
        let windows = [op.stride, op.dilation, op.filter]
            .into_iter()
            .flatten()
            .flatten();
        if !windows
            .chain(op.block_size)
            .all(|v| (1..=MAX_WINDOW).contains(&v))
        {
            return Err(context(&format!(
                "stride, dilation, filter or block size outside 1 to {MAX_WINDOW}"
            )));
        }
    }
    Ok(file)
}

/// The output shape an op gives its inputs (TFLite's NHWC rules), or why it cannot run on them.
/// The CPU kernels index their buffers by the declared shapes, so a description is used only
/// where every op's declared output is the one computed here.
fn infer(
    op: &OpFile,
    dims: &dyn Fn(usize) -> Result<Vec<usize>, String>,
    values: &dyn Fn(usize) -> Result<Vec<i64>, String>,
) -> Result<Vec<usize>, String> {
    let operand = |i: usize| {
        op.inputs
            .get(i)
            .ok_or_else(|| format!("operand {i} is missing"))
            .and_then(|&id| dims(id))
    };
    let x = operand(0)?;
    let nhwc = |s: &[usize]| -> Result<[usize; 4], String> {
        <[usize; 4]>::try_from(s).map_err(|_| format!("rank-4 shape expected, got {s:?}"))
    };
    let stride = op.stride.unwrap_or([1, 1]);
    let dilation = op.dilation.unwrap_or([1, 1]);
    let same = op.padding.as_deref() == Some("same");
    // One spatial axis of a window op: SAME keeps ceil(size / stride), VALID only whole windows.
    let window = |size: usize, k: usize, s: usize, d: usize| -> Result<usize, String> {
        let span = (k - 1) * d + 1;
        if same {
            Ok(size.div_ceil(s))
        } else if size >= span {
            Ok((size - span) / s + 1)
        } else {
            Err(format!("a window of {span} on {size} pixels"))
        }
    };
    let bias = |i: usize, n: usize| -> Result<(), String> {
        match op.inputs.get(i) {
            // Only a plain convolution may go without.
            None if op.op != "CONV_2D" => Err(format!("operand {i} is missing")),
            Some(_) if operand(i)?.iter().product::<usize>() != n => {
                Err(format!("bias of {:?} for {n} channels", operand(i)?))
            }
            _ => Ok(()),
        }
    };
    let [n, h, w, c] = match op.op.as_str() {
        "ADD" | "MUL" | "CONCATENATION" | "RESHAPE" | "LOGISTIC" | "HARD_SWISH" | "RELU" => [0; 4],
        _ => nhwc(&x)?,
    };
    match op.op.as_str() {
        "CONV_2D" | "DEPTHWISE_CONV_2D" | "Convolution2DTransposeBias" => {
            let [o, kh, kw, i] = nhwc(&operand(1)?)?;
            let depthwise = op.op == "DEPTHWISE_CONV_2D";
            // Depthwise kernels are 1HWC; the others OHWI.
            let (cin, cout) = if depthwise { (i, i) } else { (i, o) };
            if cin != c || (depthwise && o != 1) {
                return Err(format!("kernel {:?} on {:?}", [o, kh, kw, i], [n, h, w, c]));
            }
            bias(2, cout)?;
            if op.op == "Convolution2DTransposeBias" {
                // Read back from the declared output (the op has no size of its own); the
                // forward convolution must map it onto the input exactly.
                let out = dims(op.outputs[0])?;
                let [_, oh, ow, _] = nhwc(&out)?;
                let fits = |o: usize, i: usize, k: usize, s: usize| {
                    if same {
                        o == i * s
                    } else {
                        o == (i - 1) * s + k
                    }
                };
                if !fits(oh, h, kh, stride[0]) || !fits(ow, w, kw, stride[1]) {
                    return Err(format!(
                        "a transposed convolution from {h}x{w} to {oh}x{ow}"
                    ));
                }
                return Ok(vec![n, oh, ow, cout]);
            }
            Ok(vec![
                n,
                window(h, kh, stride[0], dilation[0])?,
                window(w, kw, stride[1], dilation[1])?,
                cout,
            ])
        }
        "AVERAGE_POOL_2D" | "MAX_POOL_2D" => {
            let f = op.filter.ok_or("no filter")?;
            Ok(vec![
                n,
                window(h, f[0], stride[0], 1)?,
                window(w, f[1], stride[1], 1)?,
                c,
            ])
        }
        "PAD" => {
            let p = values(*op.inputs.get(1).ok_or("operand 1 is missing")?)?;
            let p: [i64; 8] = p
                .try_into()
                .map_err(|p| format!("paddings {p:?}: 8 expected"))?;
            let grow = |size: usize, a: i64, b: i64| -> Result<usize, String> {
                usize::try_from(a)
                    .ok()
                    .zip(usize::try_from(b).ok())
                    .and_then(|(a, b)| size.checked_add(a)?.checked_add(b))
                    .ok_or_else(|| format!("paddings {p:?}"))
            };
            Ok(vec![
                grow(n, p[0], p[1])?,
                grow(h, p[2], p[3])?,
                grow(w, p[4], p[5])?,
                grow(c, p[6], p[7])?,
            ])
        }
        "RESIZE_BILINEAR" => {
            let out = dims(op.outputs[0])?;
            let [_, oh, ow, _] = nhwc(&out)?;
            Ok(vec![n, oh, ow, c])
        }
        "DEPTH_TO_SPACE" => {
            let b = op.block_size.unwrap_or(2);
            if c % (b * b) != 0 {
                return Err(format!("{c} channels in blocks of {b}x{b}"));
            }
            Ok(vec![n, h * b, w * b, c / (b * b)])
        }
        "ADD" | "MUL" => {
            let y = operand(1)?;
            // Right-aligned broadcasting.
            let rank = x.len().max(y.len());
            let at = |s: &[usize], i: usize| (i + s.len()).checked_sub(rank).map_or(1, |j| s[j]);
            (0..rank)
                .map(|i| match (at(&x, i), at(&y, i)) {
                    (a, b) if a == b || b == 1 => Ok(a),
                    (1, b) => Ok(b),
                    _ => Err(format!("cannot broadcast {x:?} with {y:?}")),
                })
                .collect()
        }
        "CONCATENATION" => {
            let rank = x.len() as i64;
            let axis = op.axis.unwrap_or(0);
            let axis = if axis < 0 { axis + rank } else { axis };
            if !(0..rank).contains(&axis) {
                return Err(format!("axis {axis} outside rank {rank}"));
            }
            let axis = axis as usize;
            let mut out = x.clone();
            for i in 1..op.inputs.len() {
                let y = operand(i)?;
                let other_axes_agree = y.len() == x.len()
                    && y.iter()
                        .zip(&x)
                        .enumerate()
                        .all(|(j, (a, b))| j == axis || a == b);
                if !other_axes_agree {
                    return Err(format!("cannot concatenate {x:?} and {y:?} on axis {axis}"));
                }
                out[axis] += y[axis];
            }
            Ok(out)
        }
        "RESHAPE" => {
            let out = dims(op.outputs[0])?;
            if out.iter().product::<usize>() != x.iter().product::<usize>() {
                return Err(format!("cannot reshape {x:?} to {out:?}"));
            }
            Ok(out)
        }
        "LOGISTIC" | "HARD_SWISH" | "RELU" => Ok(x),
        other => Err(format!("unsupported op `{other}`")),
    }
}

impl Graph {
    /// Loads `<dir>/<name>.json` and `<dir>/<name>.safetensors` onto `device`. On the CPU the
    /// graph runs on the CPU executor alone, which holds its own copy of the weights.
    pub fn load(dir: &Path, name: &str, device: &Device) -> Result<Self, PersonError> {
        Self::load_keeping(dir, name, device, false)
    }

    /// [`Graph::load`], also keeping on the CPU the candle tensor path that other devices run
    /// ([`Graph::run_tensors`]): the CPU executor's reference in the tests, for 20 MB more.
    pub fn load_with_tensor_path(
        dir: &Path,
        name: &str,
        device: &Device,
    ) -> Result<Self, PersonError> {
        Self::load_keeping(dir, name, device, true)
    }

    fn load_keeping(
        dir: &Path,
        name: &str,
        device: &Device,
        tensor_path: bool,
    ) -> Result<Self, PersonError> {
        let json_path = dir.join(format!("{name}.json"));
        let text =
            std::fs::read_to_string(&json_path).map_err(|e| bad(&json_path, e.to_string()))?;
        let file = parse(&text).map_err(|reason| bad(&json_path, reason))?;
        let constants = Constants::load(&dir.join(format!("{name}.safetensors")), device)?;
        Self::build(file, &constants, name, &json_path, device, tensor_path)
    }

    /// The graph a description (the text of `json_path`, named in errors) gives with
    /// `constants`, loaded on their device: [`Graph::load`] once both files are read.
    pub fn from_description(
        text: &str,
        json_path: &Path,
        constants: &Constants,
        device: &Device,
    ) -> Result<Self, PersonError> {
        let file = parse(text).map_err(|reason| bad(json_path, reason))?;
        let name = json_path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        Self::build(file, constants, &name, json_path, device, false)
    }

    fn build(
        file: GraphFile,
        constants: &Constants,
        name: &str,
        json_path: &Path,
        device: &Device,
        tensor_path: bool,
    ) -> Result<Self, PersonError> {
        let (consts, weights_path) = (&constants.tensors, constants.path.as_path());
        let shape_of = |id: usize| -> Result<Vec<usize>, PersonError> {
            file.tensors
                .get(&id.to_string())
                .map(|t| t.shape.clone())
                .ok_or_else(|| bad(json_path, format!("tensor {id} has no shape")))
        };
        let constant = |id: usize| -> Result<Tensor, PersonError> {
            consts
                .get(&id)
                .cloned()
                .ok_or_else(|| bad(weights_path, format!("constant t{id} is missing")))
        };
        let ce = |e: candle_core::Error| bad(weights_path, e.to_string());
        let slots = file
            .tensors
            .keys()
            .filter_map(|k| k.parse::<usize>().ok())
            .max()
            .unwrap_or(0)
            + 1;

        let mut ops = Vec::with_capacity(file.ops.len());
        for (index, op) in file.ops.iter().enumerate() {
            let context =
                |reason: String| bad(json_path, format!("op {index} ({}): {reason}", op.op));
            let out_shape = shape_of(op.outputs[0])?;
            let in_shape = shape_of(op.inputs[0])?;
            // Constants have the shape they were saved with, whatever the description says.
            let dims = |id: usize| match consts.get(&id) {
                Some(t) => Ok(t.dims().to_vec()),
                None => shape_of(id).map_err(|e| e.to_string()),
            };
            let ints = |id: usize| -> Result<Vec<i64>, String> {
                let t = consts
                    .get(&id)
                    .ok_or_else(|| format!("constant t{id} is missing"))?;
                t.flatten_all()
                    .and_then(|t| t.to_dtype(DType::I64))
                    .and_then(|t| t.to_vec1())
                    .map_err(|e| e.to_string())
            };
            let computed = infer(op, &dims, &ints).map_err(context)?;
            if computed != out_shape {
                return Err(context(format!(
                    "output shape {out_shape:?}, but the op gives {computed:?}"
                )));
            }
            let spatial = matches!(
                op.op.as_str(),
                "CONV_2D"
                    | "DEPTHWISE_CONV_2D"
                    | "Convolution2DTransposeBias"
                    | "PAD"
                    | "AVERAGE_POOL_2D"
                    | "MAX_POOL_2D"
                    | "RESIZE_BILINEAR"
                    | "DEPTH_TO_SPACE"
            );
            if spatial && (in_shape.len() != 4 || out_shape.len() != 4) {
                return Err(context("rank-4 input and output expected".into()));
            }
            let operand = |i: usize| {
                op.inputs
                    .get(i)
                    .copied()
                    .ok_or_else(|| context(format!("operand {i} is missing")))
            };
            let act = activation(op.activation.as_deref()).map_err(context)?;
            let stride = op.stride.unwrap_or([1, 1]);
            let dilation = op.dilation.unwrap_or([1, 1]);
            let same = op.padding.as_deref() == Some("same");
            let spatial_pads = |kh: usize, kw: usize| -> Pads {
                if same {
                    let (t, b) = same_pads(in_shape[1], kh, stride[0], dilation[0]);
                    let (l, r) = same_pads(in_shape[2], kw, stride[1], dilation[1]);
                    Pads {
                        top: t,
                        bottom: b,
                        left: l,
                        right: r,
                    }
                } else {
                    Pads::default()
                }
            };
            let value = |id: usize| {
                if consts.contains_key(&id) {
                    constant(id).map(Operand::Const)
                } else {
                    shape_of(id).map(|_| Operand::Value(id))
                }
            };
            let (kind, inputs) = match op.op.as_str() {
                "CONV_2D" => {
                    // OHWI -> OIHW.
                    let w = constant(operand(1)?)?;
                    let (_, kh, kw, _) = w.dims4().map_err(ce)?;
                    let weight = w
                        .permute((0, 3, 1, 2))
                        .and_then(|t| t.contiguous())
                        .map_err(ce)?;
                    let bias = match op.inputs.get(2) {
                        Some(&b) => Some(constant(b)?),
                        None => None,
                    };
                    let kind = Kind::Conv {
                        weight,
                        bias,
                        stride,
                        dilation,
                        pads: spatial_pads(kh, kw),
                        act,
                    };
                    (kind, vec![value(op.inputs[0])?])
                }
                "DEPTHWISE_CONV_2D" => {
                    if op.depth_multiplier.unwrap_or(1) != 1 || dilation != [1, 1] {
                        return Err(context("only depth multiplier 1, no dilation".into()));
                    }
                    // 1HWC -> C,H,W.
                    let w = constant(operand(1)?)?;
                    let (_, kh, kw, c) = w.dims4().map_err(ce)?;
                    let weight = w
                        .reshape((kh, kw, c))
                        .and_then(|t| t.permute((2, 0, 1)))
                        .and_then(|t| t.contiguous())
                        .map_err(ce)?;
                    let kind = Kind::Depthwise {
                        weight,
                        bias: constant(operand(2)?)?,
                        stride,
                        pads: spatial_pads(kh, kw),
                        act,
                    };
                    (kind, vec![value(op.inputs[0])?])
                }
                "Convolution2DTransposeBias" => {
                    // OHWI -> (I, O, H, W), candle's transposed-convolution layout.
                    let w = constant(operand(1)?)?;
                    let (_, kh, kw, _) = w.dims4().map_err(ce)?;
                    let weight = w
                        .permute((3, 0, 1, 2))
                        .and_then(|t| t.contiguous())
                        .map_err(ce)?;
                    // The padding of the forward convolution that maps the output to the input.
                    let out_hw = [out_shape[1], out_shape[2]];
                    let pads = if same {
                        let total = |i: usize, k: usize, s: usize, o: usize| {
                            ((i - 1) * s + k).saturating_sub(o)
                        };
                        let th = total(in_shape[1], kh, stride[0], out_hw[0]);
                        let tw = total(in_shape[2], kw, stride[1], out_hw[1]);
                        Pads {
                            top: th / 2,
                            bottom: th - th / 2,
                            left: tw / 2,
                            right: tw - tw / 2,
                        }
                    } else {
                        Pads::default()
                    };
                    let kind = Kind::TransposeConvBias {
                        weight,
                        bias: constant(operand(2)?)?,
                        stride,
                        out_hw,
                        pads,
                    };
                    (kind, vec![value(op.inputs[0])?])
                }
                "ADD" | "MUL" => {
                    let mut inputs = Vec::new();
                    for &id in &op.inputs {
                        inputs.push(match value(id)? {
                            Operand::Const(t) if out_shape.len() == 4 => {
                                Operand::Const(nchw_broadcast(&t).map_err(ce)?)
                            }
                            other => other,
                        });
                    }
                    let kind = if op.op == "ADD" {
                        Kind::Add(act)
                    } else {
                        Kind::Mul(act)
                    };
                    (kind, inputs)
                }
                "PAD" => {
                    let p: Vec<i32> = constant(operand(1)?)?
                        .flatten_all()
                        .and_then(|t| t.to_vec1())
                        .map_err(ce)?;
                    if p.len() != 8 || p.iter().any(|&v| v < 0) || p[0] != 0 || p[1] != 0 {
                        return Err(context(format!("unsupported paddings {p:?}")));
                    }
                    let u = |i: usize| p[i] as usize;
                    let pads = Pads {
                        top: u(2),
                        bottom: u(3),
                        left: u(4),
                        right: u(5),
                    };
                    (Kind::Pad(pads, [u(6), u(7)]), vec![value(op.inputs[0])?])
                }
                "AVERAGE_POOL_2D" | "MAX_POOL_2D" => {
                    let filter = op.filter.ok_or_else(|| context("no filter".into()))?;
                    let p = spatial_pads(filter[0], filter[1]);
                    if p != Pads::default() || act != Act::None {
                        return Err(context(
                            "padded or activated pools are not supported".into(),
                        ));
                    }
                    let kind = if op.op == "MAX_POOL_2D" {
                        Kind::MaxPool { filter, stride }
                    } else {
                        Kind::AvgPool { filter, stride }
                    };
                    (kind, vec![value(op.inputs[0])?])
                }
                "RESIZE_BILINEAR" => (
                    Kind::Resize {
                        out_hw: [out_shape[1], out_shape[2]],
                        align_corners: op.align_corners.unwrap_or(false),
                        half_pixel_centers: op.half_pixel_centers.unwrap_or(false),
                    },
                    vec![value(op.inputs[0])?],
                ),
                "CONCATENATION" => {
                    let rank = out_shape.len() as i64;
                    let axis = op.axis.unwrap_or(0);
                    let axis = if axis < 0 { axis + rank } else { axis };
                    if !(0..rank).contains(&axis) {
                        return Err(context(format!("axis {axis} outside rank {rank}")));
                    }
                    let axis = axis as usize;
                    // NHWC axis -> NCHW axis for rank-4 values.
                    let axis = if rank == 4 { [0, 2, 3, 1][axis] } else { axis };
                    let inputs = op
                        .inputs
                        .iter()
                        .map(|&id| value(id))
                        .collect::<Result<_, _>>()?;
                    (Kind::Concat(axis), inputs)
                }
                "RESHAPE" => (Kind::Reshape(out_shape.clone()), vec![value(op.inputs[0])?]),
                "DEPTH_TO_SPACE" => (
                    Kind::DepthToSpace(op.block_size.unwrap_or(2)),
                    vec![value(op.inputs[0])?],
                ),
                "LOGISTIC" => (Kind::Logistic, vec![value(op.inputs[0])?]),
                "HARD_SWISH" => (Kind::HardSwish, vec![value(op.inputs[0])?]),
                "RELU" => (Kind::Relu, vec![value(op.inputs[0])?]),
                other => return Err(context(format!("unsupported op `{other}`"))),
            };
            ops.push(Op {
                kind,
                inputs,
                output: op.outputs[0],
                frees: Vec::new(),
            });
        }

        // Free each activation after its last reader (never the graph's outputs).
        let mut last_use = HashMap::new();
        for (i, op) in ops.iter().enumerate() {
            for input in &op.inputs {
                if let Operand::Value(id) = input {
                    last_use.insert(*id, i);
                }
            }
        }
        for (id, i) in last_use {
            if !file.outputs.contains(&id) {
                ops[i].frees.push(id);
            }
        }
        let input_shapes = file
            .inputs
            .iter()
            .map(|&i| shape_of(i))
            .collect::<Result<_, _>>()?;
        let output_shapes = file
            .outputs
            .iter()
            .map(|&i| shape_of(i))
            .collect::<Result<_, _>>()?;
        let native = if device.is_cpu() {
            let shapes = file
                .tensors
                .iter()
                .filter_map(|(k, t)| Some((k.parse::<usize>().ok()?, t.shape.clone())))
                .collect();
            Some(
                plan(&ops, &shapes, &file.inputs, &file.outputs, slots)
                    .map_err(|reason| bad(json_path, reason))?,
            )
        } else {
            None
        };
        Ok(Self {
            name: name.to_string(),
            inputs: file.inputs,
            outputs: file.outputs,
            input_shapes,
            output_shapes,
            // With the CPU executor the tensor ops' weights would be a second copy.
            ops: if native.is_some() && !tensor_path {
                Vec::new()
            } else {
                ops
            },
            slots,
            device: device.clone(),
            native,
        })
    }

    /// The model's name (its file stem).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device the graph's constants live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// How many inputs the graph takes.
    pub fn input_count(&self) -> usize {
        self.inputs.len()
    }

    /// TFLite (NHWC) shape of input `i`.
    pub fn input_shape(&self, i: usize) -> &[usize] {
        &self.input_shapes[i]
    }

    /// TFLite (NHWC) shapes of the outputs.
    pub fn output_shapes(&self) -> &[Vec<usize>] {
        &self.output_shapes
    }

    /// Runs the graph. Inputs and outputs are in TFLite's NHWC layout.
    pub fn run(&self, inputs: &[Tensor]) -> candle_core::Result<Vec<Tensor>> {
        let Some(plan) = &self.native else {
            return self.run_tensors(inputs);
        };
        self.check_inputs(inputs)?;
        let data = inputs
            .iter()
            .map(|x| x.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<_>>()?;
        let outs = plan
            .run(data)
            .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", self.name)))?;
        outs.into_iter()
            .zip(&self.output_shapes)
            .map(|(v, shape)| Tensor::from_vec(v, shape.as_slice(), &self.device))
            .collect()
    }

    /// Runs the graph on the CPU from flat NHWC buffers (the fast path, without tensors); on
    /// other devices through [`Graph::run`].
    pub fn run_flat(&self, inputs: Vec<Vec<f32>>) -> candle_core::Result<Vec<Vec<f32>>> {
        match &self.native {
            Some(plan) => plan
                .run(inputs)
                .map_err(|e| candle_core::Error::Msg(format!("{}: {e}", self.name))),
            None => {
                let tensors = inputs
                    .into_iter()
                    .zip(&self.input_shapes)
                    .map(|(v, s)| Tensor::from_vec(v, s.as_slice(), &self.device))
                    .collect::<candle_core::Result<Vec<_>>>()?;
                self.run(&tensors)?
                    .iter()
                    .map(|t| t.flatten_all()?.to_vec1())
                    .collect()
            }
        }
    }

    fn check_inputs(&self, inputs: &[Tensor]) -> candle_core::Result<()> {
        if inputs.len() != self.inputs.len() {
            candle_core::bail!(
                "{}: {} inputs given, {} expected",
                self.name,
                inputs.len(),
                self.inputs.len()
            );
        }
        for (x, shape) in inputs.iter().zip(&self.input_shapes) {
            if x.dims() != shape.as_slice() {
                candle_core::bail!(
                    "{}: input shape {:?}, expected {shape:?}",
                    self.name,
                    x.dims()
                );
            }
        }
        Ok(())
    }

    /// Runs the graph as candle tensor ops (NCHW), the path of devices other than the CPU; on the
    /// CPU it is the second reference for the CPU executor. Inputs and outputs are NHWC.
    pub fn run_tensors(&self, inputs: &[Tensor]) -> candle_core::Result<Vec<Tensor>> {
        if self.ops.is_empty() && self.native.is_some() {
            candle_core::bail!(
                "{}: loaded for the CPU executor alone (Graph::load_with_tensor_path keeps the \
                 tensor path)",
                self.name
            );
        }
        if inputs.len() != self.inputs.len() {
            candle_core::bail!(
                "{}: {} inputs given, {} expected",
                self.name,
                inputs.len(),
                self.inputs.len()
            );
        }
        let mut values: Vec<Option<Tensor>> = vec![None; self.slots];
        for ((&id, x), shape) in self.inputs.iter().zip(inputs).zip(&self.input_shapes) {
            if x.dims() != shape.as_slice() {
                candle_core::bail!(
                    "{}: input shape {:?}, expected {shape:?}",
                    self.name,
                    x.dims()
                );
            }
            let x = x.to_device(&self.device)?.to_dtype(DType::F32)?;
            values[id] = Some(if x.rank() == 4 {
                x.permute((0, 3, 1, 2))?.contiguous()?
            } else {
                x
            });
        }
        // FITTING_ROOM_PERSON_PROFILE=1: time per op kind, logged at info level.
        let profile = std::env::var_os("FITTING_ROOM_PERSON_PROFILE").is_some();
        let mut times: HashMap<&'static str, (f64, usize)> = HashMap::new();
        for op in &self.ops {
            let start = profile.then(std::time::Instant::now);
            let args: Vec<Tensor> = op
                .inputs
                .iter()
                .map(|operand| match operand {
                    Operand::Const(t) => Ok(t.clone()),
                    Operand::Value(id) => values[*id].clone().ok_or_else(|| {
                        candle_core::Error::Msg(format!("tensor {id} not computed"))
                    }),
                })
                .collect::<candle_core::Result<_>>()?;
            let out = Self::apply(&op.kind, &args)?;
            if let Some(start) = start {
                self.device.synchronize()?;
                let entry = times.entry(op.kind.name()).or_default();
                entry.0 += start.elapsed().as_secs_f64() * 1e3;
                entry.1 += 1;
            }
            values[op.output] = Some(out);
            for &id in &op.frees {
                values[id] = None;
            }
        }
        if profile {
            let mut rows: Vec<_> = times.into_iter().collect();
            rows.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0));
            log::info!("{} op times (ms, count): {rows:?}", self.name);
        }
        self.outputs
            .iter()
            .map(|&id| {
                let t = values[id]
                    .take()
                    .ok_or_else(|| candle_core::Error::Msg(format!("output {id} not computed")))?;
                if t.rank() == 4 {
                    t.permute((0, 2, 3, 1))?.contiguous()
                } else {
                    Ok(t)
                }
            })
            .collect()
    }

    fn apply(kind: &Kind, args: &[Tensor]) -> candle_core::Result<Tensor> {
        let x = &args[0];
        match kind {
            Kind::Conv {
                weight,
                bias,
                stride,
                dilation,
                pads,
                act,
            } => ops::conv2d(x, weight, bias.as_ref(), *stride, *dilation, *pads, *act),
            Kind::Depthwise {
                weight,
                bias,
                stride,
                pads,
                act,
            } => ops::depthwise(x, weight, bias, *stride, *pads, *act),
            Kind::TransposeConvBias {
                weight,
                bias,
                stride,
                out_hw,
                pads,
            } => {
                if stride[0] != stride[1] {
                    candle_core::bail!("unequal transposed-convolution strides");
                }
                // The full transposed convolution, then the window SAME padding keeps.
                let y = x.conv_transpose2d(weight, 0, 0, stride[0], 1)?;
                let y = y
                    .narrow(2, pads.top, out_hw[0])?
                    .narrow(3, pads.left, out_hw[1])?;
                y.broadcast_add(&bias.reshape((1, (), 1, 1))?)
            }
            Kind::Add(act) => ops::add_act(&args[0], &args[1], *act),
            Kind::Mul(act) => act.apply(&args[0].broadcast_mul(&args[1])?),
            Kind::Pad(p, [c0, c1]) => {
                let y = ops::pad(x, *p)?;
                if *c0 > 0 || *c1 > 0 {
                    y.pad_with_zeros(1, *c0, *c1)
                } else {
                    Ok(y)
                }
            }
            Kind::AvgPool { filter, stride } => {
                let (h, w) = (x.dims()[2], x.dims()[3]);
                if filter[0] == h && filter[1] == w {
                    x.mean_keepdim(3)?.mean_keepdim(2)
                } else {
                    x.avg_pool2d_with_stride((filter[0], filter[1]), (stride[0], stride[1]))
                }
            }
            Kind::MaxPool { filter, stride } => {
                x.max_pool2d_with_stride((filter[0], filter[1]), (stride[0], stride[1]))
            }
            Kind::Resize {
                out_hw,
                align_corners,
                half_pixel_centers,
            } => ops::resize_bilinear(x, *out_hw, *align_corners, *half_pixel_centers),
            Kind::Concat(axis) => Tensor::cat(args, *axis),
            Kind::Reshape(shape) => {
                let nhwc = if x.rank() == 4 {
                    x.permute((0, 2, 3, 1))?.contiguous()?
                } else {
                    x.clone()
                };
                let y = nhwc.reshape(shape.as_slice())?;
                if shape.len() == 4 {
                    y.permute((0, 3, 1, 2))?.contiguous()
                } else {
                    Ok(y)
                }
            }
            Kind::DepthToSpace(b) => ops::depth_to_space(x, *b),
            Kind::Logistic => candle_nn::ops::sigmoid(x),
            Kind::HardSwish => ops::Act::HardSwish.apply(x),
            Kind::Relu => x.relu(),
        }
    }
}

/// A rank <= 4 shape as NHWC with leading ones.
fn rank4(shape: &[usize]) -> [usize; 4] {
    let mut s = [1; 4];
    s[4 - shape.len()..].copy_from_slice(shape);
    s
}

fn epi(act: Act) -> Epi {
    match act {
        Act::None => Epi::None,
        Act::Relu => Epi::Relu,
        Act::Relu6 => Epi::Relu6,
        Act::HardSwish => Epi::HardSwish,
    }
}

/// A constant's values in row-major order of the given dimension order.
fn values(t: &Tensor, order: &[usize]) -> Result<Vec<f32>, String> {
    t.permute(order)
        .and_then(|t| t.flatten_all())
        .and_then(|t| t.to_vec1())
        .map_err(|e| e.to_string())
}

/// The CPU executor's plan for a loaded graph: the same ops in NHWC, with each convolution
/// taking over a residual addition or an activation that reads only its output.
fn plan(
    ops: &[Op],
    shapes: &HashMap<usize, Vec<usize>>,
    inputs: &[usize],
    outputs: &[usize],
    slots: usize,
) -> Result<Plan, String> {
    let shape = |id: usize| -> Result<&[usize], String> {
        shapes
            .get(&id)
            .map(|s| s.as_slice())
            .ok_or_else(|| format!("tensor {id} has no shape"))
    };
    let mut readers = vec![0usize; slots];
    for op in ops {
        for input in &op.inputs {
            if let Operand::Value(id) = input {
                readers[*id] += 1;
            }
        }
    }
    for &id in outputs {
        readers[id] += 1;
    }
    let slot = |o: &Operand| match o {
        Operand::Value(id) => Ok(*id),
        Operand::Const(_) => Err("a constant where a value was expected".to_string()),
    };
    let mut steps: Vec<Step> = Vec::with_capacity(ops.len());
    // Which step writes each value; absent for the graph's inputs.
    let mut producer: HashMap<usize, usize> = HashMap::new();
    for op in ops {
        // The step that computes input `id` alone, with no activation yet: one to fuse into.
        let fusable = |id: usize, steps: &[Step], producer: &HashMap<usize, usize>| {
            producer.get(&id).copied().filter(|&si| {
                let s = &steps[si];
                readers[id] == 1
                    && s.act == Epi::None
                    && matches!(
                        s.kind,
                        native::Kind::Pointwise { .. }
                            | native::Kind::Conv { .. }
                            | native::Kind::Depthwise { .. }
                            | native::Kind::Binary { .. }
                            | native::Kind::TransposeConv { .. }
                    )
            })
        };
        let unary = match op.kind {
            Kind::Relu => Some(Epi::Relu),
            Kind::HardSwish => Some(Epi::HardSwish),
            Kind::Logistic => Some(Epi::Logistic),
            _ => None,
        };
        if let Some(act) = unary {
            let x = slot(&op.inputs[0])?;
            if let Some(si) = fusable(x, &steps, &producer) {
                steps[si].act = act;
                steps[si].out = op.output;
                producer.insert(op.output, si);
                continue;
            }
            producer.insert(op.output, steps.len());
            steps.push(Step {
                kind: native::Kind::Unary,
                inputs: vec![x],
                residual: None,
                act,
                out: op.output,
                frees: Vec::new(),
            });
            continue;
        }
        if let (Kind::Add(act), [Operand::Value(a), Operand::Value(b)]) =
            (&op.kind, op.inputs.as_slice())
        {
            if shape(*a)? == shape(*b)? {
                let fused = [(*a, *b), (*b, *a)].into_iter().find_map(|(x, r)| {
                    let si = fusable(x, &steps, &producer)?;
                    let ready = producer.get(&r).is_none_or(|&ri| ri < si);
                    let conv = !matches!(steps[si].kind, native::Kind::Binary { .. })
                        && steps[si].residual.is_none();
                    (ready && conv).then_some((si, r))
                });
                if let Some((si, r)) = fused {
                    steps[si].residual = Some(r);
                    steps[si].act = epi(*act);
                    steps[si].out = op.output;
                    producer.insert(op.output, si);
                    continue;
                }
            }
        }
        let in_shape = match &op.inputs[0] {
            Operand::Value(id) => rank4(shape(*id)?),
            Operand::Const(t) => rank4(t.dims()),
        };
        let out_shape = shape(op.output)?;
        let o4 = rank4(out_shape);
        let window = |kh: usize, kw: usize, stride: [usize; 2], pads: Pads| Window {
            h: in_shape[1],
            w: in_shape[2],
            c: in_shape[3],
            oh: o4[1],
            ow: o4[2],
            kh,
            kw,
            sh: stride[0],
            sw: stride[1],
            top: pads.top,
            left: pads.left,
        };
        // The kernels index their weights by the input's channels and write the output's.
        let channels = |cin: usize, cout: usize| -> Result<(), String> {
            if cin == in_shape[3] && cout == o4[3] {
                Ok(())
            } else {
                Err(format!(
                    "weights for {cin} -> {cout} channels on {in_shape:?} -> {o4:?}"
                ))
            }
        };
        let bias_of = |b: &Option<Tensor>, n: usize| -> Result<Vec<f32>, String> {
            match b {
                Some(b) => values(b, &[0]),
                None => Ok(vec![0.0; n]),
            }
        };
        let mut act = Epi::None;
        let (kind, step_inputs) = match &op.kind {
            Kind::Conv {
                weight,
                bias,
                stride,
                dilation,
                pads,
                act: a,
            } => {
                if *dilation != [1, 1] {
                    return Err("dilated convolutions are not supported".into());
                }
                act = epi(*a);
                let (n, cin, kh, kw) = weight.dims4().map_err(|e| e.to_string())?;
                channels(cin, n)?;
                // OIHW -> (kh, kw, i, o).
                let w = values(weight, &[2, 3, 1, 0])?;
                let b = bias_of(bias, n)?;
                let tail = native::tail_columns(&w, kh * kw * in_shape[3], n);
                let kind = if kh == 1 && kw == 1 && *stride == [1, 1] && *pads == Pads::default() {
                    native::Kind::Pointwise {
                        w,
                        tail,
                        b,
                        k: in_shape[3],
                        n,
                    }
                } else {
                    native::Kind::Conv {
                        w,
                        tail,
                        b,
                        g: window(kh, kw, *stride, *pads),
                        n,
                    }
                };
                (kind, vec![slot(&op.inputs[0])?])
            }
            Kind::Depthwise {
                weight,
                bias,
                stride,
                pads,
                act: a,
            } => {
                act = epi(*a);
                let (c, kh, kw) = weight.dims3().map_err(|e| e.to_string())?;
                channels(c, c)?;
                let kind = native::Kind::Depthwise {
                    w: values(weight, &[1, 2, 0])?,
                    b: values(bias, &[0])?,
                    g: window(kh, kw, *stride, *pads),
                };
                (kind, vec![slot(&op.inputs[0])?])
            }
            Kind::TransposeConvBias {
                weight,
                bias,
                stride,
                pads,
                ..
            } => {
                // (I, O, H, W) -> OHWI.
                let (cin, n, kh, kw) = weight.dims4().map_err(|e| e.to_string())?;
                channels(cin, n)?;
                let kind = native::Kind::TransposeConv {
                    w: values(weight, &[1, 2, 3, 0])?,
                    b: values(bias, &[0])?,
                    g: window(kh, kw, *stride, *pads),
                    n,
                };
                (kind, vec![slot(&op.inputs[0])?])
            }
            Kind::Add(a) | Kind::Mul(a) => {
                act = epi(*a);
                let mut srcs = Vec::new();
                let mut ids = Vec::new();
                let mut dims = Vec::new();
                for operand in &op.inputs {
                    match operand {
                        Operand::Value(id) => {
                            ids.push(*id);
                            srcs.push(Src::Slot);
                            dims.push(rank4(shape(*id)?));
                        }
                        Operand::Const(t) if out_shape.len() == 4 => {
                            // Made NCHW at load (`nchw_broadcast`): back to NHWC.
                            let d = t.dims();
                            srcs.push(Src::Const(values(t, &[0, 2, 3, 1])?));
                            dims.push([d[0], d[2], d[3], d[1]]);
                        }
                        Operand::Const(t) => {
                            srcs.push(Src::Const(values(t, &(0..t.rank()).collect::<Vec<_>>())?));
                            dims.push(rank4(t.dims()));
                        }
                    }
                }
                let mut srcs = srcs.into_iter();
                let (a, b) = (srcs.next(), srcs.next());
                let (Some(sa_src), Some(sb_src)) = (a, b) else {
                    return Err("elementwise op without two operands".into());
                };
                let fits = |d: &[usize; 4]| d.iter().zip(&o4).all(|(&d, &o)| d == o || d == 1);
                if dims.len() != 2 || !dims.iter().all(fits) {
                    return Err(format!("cannot broadcast {dims:?} to {o4:?}"));
                }
                let kind = native::Kind::Binary {
                    a: sa_src,
                    b: sb_src,
                    sa: dims[0],
                    sb: dims[1],
                    out: o4,
                    mul: matches!(op.kind, Kind::Mul(_)),
                };
                (kind, ids)
            }
            Kind::Pad(p, [c0, _]) => (
                native::Kind::Pad {
                    shape: in_shape,
                    before: [0, p.top, p.left, *c0],
                    out: o4,
                },
                vec![slot(&op.inputs[0])?],
            ),
            Kind::AvgPool { filter, stride } => (
                native::Kind::AvgPool(window(filter[0], filter[1], *stride, Pads::default())),
                vec![slot(&op.inputs[0])?],
            ),
            Kind::MaxPool { filter, stride } => (
                native::Kind::MaxPool(window(filter[0], filter[1], *stride, Pads::default())),
                vec![slot(&op.inputs[0])?],
            ),
            Kind::Resize {
                out_hw,
                align_corners,
                half_pixel_centers,
            } => (
                native::Kind::Resize {
                    h: in_shape[1],
                    w: in_shape[2],
                    c: in_shape[3],
                    rows: native::axis(in_shape[1], out_hw[0], *align_corners, *half_pixel_centers),
                    cols: native::axis(in_shape[2], out_hw[1], *align_corners, *half_pixel_centers),
                },
                vec![slot(&op.inputs[0])?],
            ),
            Kind::Concat(axis) => {
                // Back to the NHWC axis for rank-4 values.
                let rank = out_shape.len();
                let axis = if rank == 4 {
                    [0, 3, 1, 2][*axis]
                } else {
                    *axis
                };
                let mut ids = Vec::new();
                let mut inner = Vec::new();
                for operand in &op.inputs {
                    let id = slot(operand)?;
                    let tail = shape(id)?
                        .get(axis..)
                        .ok_or_else(|| format!("tensor {id} has no axis {axis}"))?;
                    inner.push(tail.iter().product());
                    ids.push(id);
                }
                let outer = out_shape[..axis].iter().product();
                (native::Kind::Concat { outer, inner }, ids)
            }
            Kind::Reshape(_) => (
                native::Kind::Reshape { moves: false },
                vec![slot(&op.inputs[0])?],
            ),
            Kind::DepthToSpace(block) => (
                native::Kind::DepthToSpace {
                    h: in_shape[1],
                    w: in_shape[2],
                    c: in_shape[3],
                    block: *block,
                },
                vec![slot(&op.inputs[0])?],
            ),
            Kind::Logistic | Kind::HardSwish | Kind::Relu => {
                return Err("activation op not planned as one".into())
            }
        };
        producer.insert(op.output, steps.len());
        steps.push(Step {
            kind,
            inputs: step_inputs,
            residual: None,
            act,
            out: op.output,
            frees: Vec::new(),
        });
    }
    fuse_pads(&mut steps, outputs);
    let mut sizes = vec![0; slots];
    for (&id, s) in shapes {
        if id < slots {
            sizes[id] = s.iter().product();
        }
    }
    let mut plan = Plan {
        steps,
        inputs: inputs.to_vec(),
        outputs: outputs.to_vec(),
        sizes,
        pool: std::sync::Mutex::new(Vec::new()),
    };
    plan.finish();
    Ok(plan)
}

/// A zero padding of height and width read only by a depthwise or plain convolution becomes
/// that convolution's border: the kernels skip taps outside the map, so the padded copy (a
/// whole feature map written and read again, before each of MediaPipe's strided VALID
/// convolutions) is never made. Skipped taps added zeros: the sums are the same.
fn fuse_pads(steps: &mut Vec<Step>, outputs: &[usize]) {
    let mut readers: HashMap<usize, usize> = HashMap::new();
    for id in steps
        .iter()
        .flat_map(|s| s.inputs.iter().chain(&s.residual))
        .chain(outputs)
    {
        *readers.entry(*id).or_default() += 1;
    }
    // Spatial-only pads: out slot -> (step, input slot, shape, before).
    let pads: HashMap<usize, (usize, usize, [usize; 4], [usize; 4])> = steps
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s.kind {
            native::Kind::Pad { shape, before, out }
                if before[0] == 0
                    && before[3] == 0
                    && shape[0] == out[0]
                    && shape[3] == out[3]
                    && s.act == Epi::None
                    && s.residual.is_none()
                    && readers.get(&s.out) == Some(&1) =>
            {
                Some((s.out, (i, s.inputs[0], shape, before)))
            }
            _ => None,
        })
        .collect();
    let mut dead = vec![false; steps.len()];
    for s in steps.iter_mut() {
        let Some(&(pi, input, shape, before)) = s.inputs.first().and_then(|x| pads.get(x)) else {
            continue;
        };
        let g = match &mut s.kind {
            native::Kind::Depthwise { g, .. } | native::Kind::Conv { g, .. } => g,
            _ => continue,
        };
        g.h = shape[1];
        g.w = shape[2];
        g.top += before[1];
        g.left += before[2];
        s.inputs[0] = input;
        dead[pi] = true;
    }
    let mut i = 0;
    steps.retain(|_| {
        i += 1;
        !dead[i - 1]
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Constants of a one-convolution graph: t1 a 2x3x3x1 kernel (OHWI), t2 its bias, t3 a
    /// rank-1 tensor, held as if read from `w.safetensors`.
    fn constants() -> Constants {
        let cpu = Device::Cpu;
        let tensors = HashMap::from([
            (1, Tensor::ones((2, 3, 3, 1), DType::F32, &cpu).unwrap()),
            (2, Tensor::zeros(2, DType::F32, &cpu).unwrap()),
            (3, Tensor::zeros(8, DType::F32, &cpu).unwrap()),
        ]);
        Constants {
            path: PathBuf::from("w.safetensors"),
            tensors,
        }
    }

    /// A graph description: one op on tensor 0 (1x8x8x1) giving tensor 4 (1x8x8x2).
    fn description(op: &str) -> String {
        format!(
            r#"{{"format": "fitting-room-tflite-graph/1", "inputs": [0], "outputs": [4],
                "tensors": {{"0": {{"name": "x", "shape": [1, 8, 8, 1]}},
                             "4": {{"name": "y", "shape": [1, 8, 8, 2]}},
                             "5": {{"name": "z", "shape": [1, 8, 8, 3]}}}},
                "ops": [{op}]}}"#
        )
    }

    fn load(text: &str) -> Result<Graph, String> {
        Graph::from_description(text, Path::new("g.json"), &constants(), &Device::Cpu)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_consistent_description_loads_and_runs() {
        let conv = r#"{"op": "CONV_2D", "inputs": [0, 1, 2], "outputs": [4], "padding": "same"}"#;
        let graph = load(&description(conv)).unwrap();
        let x = Tensor::ones((1, 8, 8, 1), DType::F32, &Device::Cpu).unwrap();
        let y = graph.run(&[x]).unwrap();
        assert_eq!(y[0].dims(), [1, 8, 8, 2]);
        // The centre sees the whole 3x3 window of ones.
        let centre: Vec<f32> = y[0]
            .get(0)
            .unwrap()
            .get(4)
            .unwrap()
            .get(4)
            .unwrap()
            .to_vec1()
            .unwrap();
        assert_eq!(centre, [9.0, 9.0]);
    }

    /// MediaPipe's downsampling as published (a zero PAD, then a VALID stride-2 depthwise or
    /// plain convolution) and a convolution to fewer outputs than a kernel's width: the CPU
    /// executor plans no padded copy, uses the narrow kernel, and agrees with the candle
    /// tensor path (explicit padding, im2col-free reference convolutions).
    #[test]
    fn fused_pads_and_narrow_convolutions_match_the_tensor_path() {
        use crate::person::native::tests::noise;
        let cpu = Device::Cpu;
        let t = |v: Vec<f32>, shape: &[usize]| Tensor::from_vec(v, shape, &cpu).unwrap();
        let pads = |p: [i32; 8]| Tensor::new(&p, &cpu).unwrap().reshape((4, 2)).unwrap();
        // x: 1x9x11x10 (10 channels: a chunk of eight and a rest of two).
        let tensors = HashMap::from([
            (1, pads([0, 0, 1, 1, 1, 1, 0, 0])),
            (2, t(noise(3 * 3 * 10, 2), &[1, 3, 3, 10])),
            (3, t(noise(10, 3), &[10])),
            (5, pads([0, 0, 0, 2, 2, 1, 0, 0])),
            (6, t(noise(3 * 3 * 3 * 10, 6), &[3, 3, 3, 10])),
            (7, t(noise(3, 7), &[3])),
            (9, t(noise(2 * 3 * 3 * 3, 9), &[2, 3, 3, 3])),
            (10, t(noise(2, 10), &[2])),
            (15, t(noise(3 * 3 * 24, 15), &[1, 3, 3, 24])),
            (16, t(noise(24, 16), &[24])),
        ]);
        let constants = Constants {
            path: PathBuf::from("w.safetensors"),
            tensors,
        };
        // y: 1x9x13x24 (channels the 16-lane kernels leave to the 8-lane ones, fewer than
        // their four-vector block: the four-pixel path, strided and not, and the edges).
        let text = r#"{"format": "fitting-room-tflite-graph/1", "inputs": [0, 14],
            "outputs": [4, 8, 11, 17, 18],
            "tensors": {"0": {"name": "x", "shape": [1, 9, 11, 10]},
                        "14": {"name": "y", "shape": [1, 9, 13, 24]},
                        "19": {"name": "yp", "shape": [1, 11, 15, 24]},
                        "17": {"name": "dw2", "shape": [1, 5, 7, 24]},
                        "18": {"name": "dw1", "shape": [1, 9, 13, 24]},
                        "12": {"name": "xp", "shape": [1, 11, 13, 10]},
                        "4": {"name": "dw", "shape": [1, 5, 6, 10]},
                        "13": {"name": "xq", "shape": [1, 11, 14, 10]},
                        "8": {"name": "conv", "shape": [1, 5, 6, 3]},
                        "11": {"name": "narrow", "shape": [1, 5, 6, 2]}},
            "ops": [
                {"op": "PAD", "inputs": [0, 1], "outputs": [12]},
                {"op": "DEPTHWISE_CONV_2D", "inputs": [12, 2, 3], "outputs": [4],
                 "stride": [2, 2], "padding": "valid"},
                {"op": "PAD", "inputs": [0, 5], "outputs": [13]},
                {"op": "CONV_2D", "inputs": [13, 6, 7], "outputs": [8],
                 "stride": [2, 2], "padding": "valid"},
                {"op": "CONV_2D", "inputs": [8, 9, 10], "outputs": [11], "padding": "same",
                 "activation": "relu"},
                {"op": "PAD", "inputs": [14, 1], "outputs": [19]},
                {"op": "DEPTHWISE_CONV_2D", "inputs": [19, 15, 16], "outputs": [17],
                 "stride": [2, 2], "padding": "valid"},
                {"op": "DEPTHWISE_CONV_2D", "inputs": [14, 15, 16], "outputs": [18],
                 "padding": "same"}
            ]}"#;
        let file = parse(text).unwrap();
        let graph = Graph::build(file, &constants, "g", Path::new("g.json"), &cpu, true).unwrap();
        let plan = graph.native.as_ref().unwrap();
        let kinds: Vec<&str> = plan.steps.iter().map(|s| s.kind.name()).collect();
        assert_eq!(
            kinds,
            ["depthwise", "conv", "conv", "depthwise", "depthwise"]
        );
        let x = t(noise(9 * 11 * 10, 1), &[1, 9, 11, 10]);
        let y = t(noise(9 * 13 * 24, 14), &[1, 9, 13, 24]);
        let fast = graph.run(&[x.clone(), y.clone()]).unwrap();
        let slow = graph.run_tensors(&[x, y]).unwrap();
        assert_eq!(fast.len(), 5);
        for (i, (a, b)) in fast.iter().zip(&slow).enumerate() {
            assert_eq!(a.dims(), b.dims(), "output {i}");
            let a: Vec<f32> = a.flatten_all().unwrap().to_vec1().unwrap();
            let b: Vec<f32> = b.flatten_all().unwrap().to_vec1().unwrap();
            let diff = a
                .iter()
                .zip(&b)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(diff < 1e-5, "output {i} differs by {diff}");
            assert!(
                b.iter().any(|&v| v.abs() > 0.1),
                "output {i} is all but zero"
            );
        }
    }

    /// Descriptions that once panicked the loader (index out of bounds, division by zero,
    /// an allocation sized by a tensor id) give an error naming the problem.
    #[test]
    fn malformed_descriptions_are_errors_not_panics() {
        let cases = [
            // A kernel that is not rank 4 (a description and constants from different models).
            (
                r#"{"op": "CONV_2D", "inputs": [0, 3, 2], "outputs": [4]}"#,
                "rank",
            ),
            (
                r#"{"op": "DEPTHWISE_CONV_2D", "inputs": [0, 3, 2], "outputs": [4]}"#,
                "rank",
            ),
            // Weights for other channels than the tensors' (index out of bounds in the CPU
            // kernels' weight tables).
            (
                r#"{"op": "CONV_2D", "inputs": [5, 1, 2], "outputs": [4], "padding": "same"}"#,
                "kernel [2, 3, 3, 1] on [1, 8, 8, 3]",
            ),
            (
                r#"{"op": "CONV_2D", "inputs": [0, 1, 2], "outputs": [5], "padding": "same"}"#,
                "output shape [1, 8, 8, 3], but the op gives [1, 8, 8, 2]",
            ),
            // Declared shapes the ops do not produce (the CPU kernels would index past their
            // buffers): a VALID window shrinks the picture, a pool wider than it, a channel
            // count depth-to-space cannot split, reshapes and concatenations that do not add up.
            (
                r#"{"op": "CONV_2D", "inputs": [0, 1, 2], "outputs": [4], "padding": "valid"}"#,
                "but the op gives [1, 6, 6, 2]",
            ),
            (
                r#"{"op": "MAX_POOL_2D", "inputs": [0], "outputs": [4], "filter": [9, 9]}"#,
                "a window of 9 on 8 pixels",
            ),
            (
                r#"{"op": "DEPTH_TO_SPACE", "inputs": [5], "outputs": [4], "block_size": 2}"#,
                "3 channels in blocks of 2x2",
            ),
            (
                r#"{"op": "RESHAPE", "inputs": [0], "outputs": [4]}"#,
                "cannot reshape",
            ),
            (
                r#"{"op": "CONCATENATION", "inputs": [0, 5], "outputs": [4], "axis": 2}"#,
                "cannot concatenate",
            ),
            (
                r#"{"op": "ADD", "inputs": [4, 5], "outputs": [4]}"#,
                "cannot broadcast",
            ),
            // Operands missing.
            (
                r#"{"op": "CONV_2D", "inputs": [0], "outputs": [4]}"#,
                "operand 1 is missing",
            ),
            (
                r#"{"op": "Convolution2DTransposeBias", "inputs": [0, 1], "outputs": [4]}"#,
                "operand 2",
            ),
            (
                r#"{"op": "RELU", "inputs": [], "outputs": [4]}"#,
                "no inputs",
            ),
            (
                r#"{"op": "RELU", "inputs": [0], "outputs": []}"#,
                "no outputs",
            ),
            // A zero stride (division by zero in the SAME padding).
            (
                r#"{"op": "CONV_2D", "inputs": [0, 1, 2], "outputs": [4], "stride": [0, 1], "padding": "same"}"#,
                "stride",
            ),
            // A concatenation axis outside the rank.
            (
                r#"{"op": "CONCATENATION", "inputs": [0], "outputs": [4], "axis": 7}"#,
                "axis 7",
            ),
            (
                r#"{"op": "CONCATENATION", "inputs": [0], "outputs": [4], "axis": -9}"#,
                "axis -5",
            ),
            // An operand without a shape.
            (
                r#"{"op": "ADD", "inputs": [0, 9], "outputs": [4]}"#,
                "tensor 9 has no shape",
            ),
            // A huge tensor id (the tables indexed by id would take terabytes).
            (
                r#"{"op": "RELU", "inputs": [0], "outputs": [99999999999]}"#,
                "tensor id",
            ),
        ];
        for (op, expected) in cases {
            let err = load(&description(op)).expect_err(op);
            assert!(err.contains(expected), "{op}: {err}");
        }
        for (tensors, expected) in [
            (r#""0": {"name": "x", "shape": [1, 0, 8, 1]}"#, "elements"),
            (r#""0": {"name": "x", "shape": [1, 1, 1, 1, 1]}"#, "rank"),
            (
                r#""0": {"name": "x", "shape": [65536, 65536, 65536, 65536]}"#,
                "elements",
            ),
            (r#""99999999": {"name": "x", "shape": [1]}"#, "tensor id"),
        ] {
            let text = format!(
                r#"{{"format": "fitting-room-tflite-graph/1", "inputs": [0], "outputs": [0],
                    "tensors": {{{tensors}}}, "ops": []}}"#
            );
            let err = load(&text).expect_err(tensors);
            assert!(err.contains(expected), "{tensors}: {err}");
        }
    }
}
