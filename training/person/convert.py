#!/usr/bin/env python3
"""Converts MediaPipe's person models (TFLite) into the form Fitting Room loads.

For each model it writes `<name>.safetensors` (every constant tensor, float16 where the original
stores float16, float32 otherwise) and `<name>.json` (the op graph: tensors, shapes, ops and their
options). Weights keep TFLite's layouts (OHWI convolution kernels, 1HWC depthwise kernels, NHWC
shapes); the Rust runtime arranges them once when it loads the model.

Constants that the graph computes at run time (DEQUANTIZE of float16 weights, DENSIFY of sparse
weights) are folded here: the reference interpreter runs the model once with every tensor kept,
and the folded values are read back. Densified float16 weights stay exact in float16.

Usage (installs mediapipe==0.10.14 and the TFLite interpreter in a venv of its own):
    training/person/convert.sh            # writes models/person/
or, in a venv that has them:
    python training/person/convert.py --out models/person
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import tflite
from ai_edge_litert.interpreter import Interpreter
from safetensors.numpy import save_file

MODELS = {
    "selfie_segmentation": "modules/selfie_segmentation/selfie_segmentation.tflite",
    "pose_detection": "modules/pose_detection/pose_detection.tflite",
    "pose_landmark_full": "modules/pose_landmark/pose_landmark_full.tflite",
}

# Ops whose outputs are folded into constants when all their inputs are constant.
FOLDABLE = {"DEQUANTIZE", "DENSIFY"}

ACTIVATIONS = {0: "none", 1: "relu", 2: "relu_n1_to_1", 3: "relu6", 4: "tanh"}
PADDING = {0: "same", 1: "valid"}


def mediapipe_dir():
    import importlib.util

    spec = importlib.util.find_spec("mediapipe")
    if spec is None:
        sys.exit("mediapipe is not installed (pip install mediapipe==0.10.14)")
    return os.path.dirname(spec.origin)


def op_name(model, op):
    code = model.OperatorCodes(op.OpcodeIndex())
    builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
    if builtin == tflite.BuiltinOperator.CUSTOM:
        return code.CustomCode().decode()
    names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    return names[builtin]


def options(op, name):
    """The options the runtime needs, as a plain dict."""
    table = op.BuiltinOptions()

    def load(cls):
        o = cls()
        o.Init(table.Bytes, table.Pos)
        return o

    if name == "CONV_2D":
        o = load(tflite.Conv2DOptions)
        return {
            "padding": PADDING[o.Padding()],
            "stride": [o.StrideH(), o.StrideW()],
            "dilation": [o.DilationHFactor(), o.DilationWFactor()],
            "activation": ACTIVATIONS[o.FusedActivationFunction()],
        }
    if name == "DEPTHWISE_CONV_2D":
        o = load(tflite.DepthwiseConv2DOptions)
        return {
            "padding": PADDING[o.Padding()],
            "stride": [o.StrideH(), o.StrideW()],
            "dilation": [o.DilationHFactor(), o.DilationWFactor()],
            "depth_multiplier": o.DepthMultiplier(),
            "activation": ACTIVATIONS[o.FusedActivationFunction()],
        }
    if name in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        o = load(tflite.Pool2DOptions)
        return {
            "padding": PADDING[o.Padding()],
            "stride": [o.StrideH(), o.StrideW()],
            "filter": [o.FilterHeight(), o.FilterWidth()],
            "activation": ACTIVATIONS[o.FusedActivationFunction()],
        }
    if name in ("ADD", "MUL"):
        cls = tflite.AddOptions if name == "ADD" else tflite.MulOptions
        if table is None:
            return {"activation": "none"}
        return {"activation": ACTIVATIONS[load(cls).FusedActivationFunction()]}
    if name == "CONCATENATION":
        o = load(tflite.ConcatenationOptions)
        return {"axis": o.Axis(), "activation": ACTIVATIONS[o.FusedActivationFunction()]}
    if name == "RESIZE_BILINEAR":
        o = load(tflite.ResizeBilinearOptions)
        return {"align_corners": bool(o.AlignCorners()), "half_pixel_centers": bool(o.HalfPixelCenters())}
    if name == "DEPTH_TO_SPACE":
        return {"block_size": load(tflite.DepthToSpaceOptions).BlockSize()}
    if name == "Convolution2DTransposeBias":
        # MediaPipe's custom op: its options are a raw TfLiteTransposeConvParams struct
        # (padding enum, stride_width, stride_height), padding 1 = SAME, 2 = VALID.
        raw = op.CustomOptionsAsNumpy().tobytes()
        padding, stride_w, stride_h = np.frombuffer(raw[:12], dtype="<i4")
        return {"padding": {1: "same", 2: "valid"}[int(padding)], "stride": [int(stride_h), int(stride_w)]}
    return {}


def buffer_value(model, tensor):
    """A constant tensor's stored value."""
    data = model.Buffers(tensor.Buffer()).DataAsNumpy().tobytes()
    dtype = {
        tflite.TensorType.FLOAT32: np.float32,
        tflite.TensorType.FLOAT16: np.float16,
        tflite.TensorType.INT32: np.int32,
        tflite.TensorType.INT8: np.int8,
    }[tensor.Type()]
    shape = [int(s) for s in tensor.ShapeAsNumpy()] if tensor.ShapeLength() else []
    flat = np.frombuffer(data, dtype=dtype)
    # Sparse tensors (inputs of DENSIFY) keep their packed values; the interpreter densifies them.
    return flat if tensor.Sparsity() is not None else flat.reshape(shape)


def densified(path):
    """Every tensor of the model after one run of the plain reference kernels (no XNNPACK, which
    folds DENSIFY and DEQUANTIZE into its own weights and leaves those tensors unset)."""
    from ai_edge_litert.interpreter import OpResolverType

    interp = Interpreter(
        model_path=path,
        experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interp.allocate_tensors()
    for d in interp.get_input_details():
        interp.set_tensor(d["index"], np.zeros(d["shape"], dtype=np.float32))
    interp.invoke()
    return interp


def convert(path, model_name, out_dir):
    buf = open(path, "rb").read()
    model = tflite.Model.GetRootAsModel(buf, 0)
    graph = model.Subgraphs(0)

    tensors = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        tensors[i] = {"name": t.Name().decode(), "shape": [int(s) for s in t.ShapeAsNumpy()] if t.ShapeLength() else []}

    values = {}
    original_dtype = {}
    for i in range(graph.TensorsLength()):
        t = graph.Tensors(i)
        b = model.Buffers(t.Buffer())
        if b is not None and b.DataLength() > 0:
            values[i] = buffer_value(model, t)
            original_dtype[i] = t.Type()
    interp = None

    ops = []
    for k in range(graph.OperatorsLength()):
        op = graph.Operators(k)
        name = op_name(model, op)
        inputs = [int(v) for v in op.InputsAsNumpy()]
        outputs = [int(v) for v in op.OutputsAsNumpy()]
        if name in FOLDABLE and all(v in values for v in inputs):
            (source,), (v,) = inputs, outputs
            if name == "DEQUANTIZE":
                values[v] = values[source].astype(np.float32).reshape(tensors[v]["shape"])
            else:
                interp = interp or densified(path)
                values[v] = interp.get_tensor(v)
            # The source's storage type: float16 weights stay float16.
            original_dtype[v] = original_dtype[source]
            continue
        ops.append({"op": name, "inputs": inputs, "outputs": outputs, **options(op, name)})

    used = {v for op in ops for v in op["inputs"]}
    weights = {}
    for v in sorted(used & set(values)):
        value = values[v]
        if value.dtype == np.float32 and original_dtype[v] == tflite.TensorType.FLOAT16:
            stored = value.astype(np.float16)
            assert np.array_equal(stored.astype(np.float32), value), f"{model_name}: tensor {v} is not exact in float16"
            value = stored
        elif value.dtype not in (np.float32, np.int32):
            raise SystemExit(f"{model_name}: tensor {v} has unsupported type {value.dtype}")
        weights[f"t{v}"] = np.ascontiguousarray(value)

    inputs = [int(v) for v in graph.InputsAsNumpy()]
    outputs = [int(v) for v in graph.OutputsAsNumpy()]
    live = {v for op in ops for v in op["inputs"] + op["outputs"]} | set(inputs) | set(outputs)
    description = {
        "format": "fitting-room-tflite-graph/1",
        "source": f"mediapipe==0.10.14 {MODELS[model_name]}",
        "source_sha256": hashlib.sha256(buf).hexdigest(),
        "inputs": inputs,
        "outputs": outputs,
        "tensors": {str(v): tensors[v] for v in sorted(live)},
        "constants": sorted(weights),
        "ops": ops,
    }
    save_file(weights, os.path.join(out_dir, f"{model_name}.safetensors"))
    with open(os.path.join(out_dir, f"{model_name}.json"), "w") as f:
        json.dump(description, f, indent=0, separators=(",", ":"))
        f.write("\n")
    counts = {}
    for op in ops:
        counts[op["op"]] = counts.get(op["op"], 0) + 1
    print(f"{model_name}: {len(ops)} ops {counts}, {len(weights)} constants")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default="models/person")
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    root = mediapipe_dir()
    for name, rel in MODELS.items():
        convert(os.path.join(root, rel), name, args.out)


if __name__ == "__main__":
    main()
