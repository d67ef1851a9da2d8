#!/usr/bin/python3
"""Convert the nsfwjs MobileNetV2 Keras model (tfjs layers format) to ONNX for OpenCV's DNN module.

Usage: /usr/bin/python3 keras_to_onnx.py MODEL_JSON WEIGHTS_BIN OUT.onnx

MODEL_JSON and WEIGHTS_BIN are the files written by export_model.js. Only the layer types this model
uses are supported (InputLayer, ZeroPadding2D, Conv2D, DepthwiseConv2D, BatchNormalization, ReLU, Add,
AveragePooling2D, Flatten, Dense, Dropout); anything else is an error naming the layer.

The ONNX graph takes `input`, float32 NCHW [1,3,224,224] (RGB scaled to [0,1], exactly what nsfwjs
feeds its model after the resize) and returns `scores`, float32 [1,5], the softmax probabilities
for the classes Drawing, Hentai, Neutral, Porn, Sexy.

Depends only on numpy and the onnx package (Debian's python3-onnx 1.12).
"""

import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

# Opset 10, not 11: OpenCV 4.6's ONNX importer (Debian's libopencv-dnn 4.6.0) only accepts Clip
# with min/max as attributes (opset <= 10); opset 11 made them inputs and OpenCV 4.6 rejects that
# ("expected: node_proto.input_size() == 1"). In opset 10 Pad also takes its pads as an attribute.
OPSET = 10
IR_VERSION = 5  # the IR version that goes with opset 10 (onnx 1.5)
SOURCE = "nsfwjs 4.2.1 mobilenet_v2"
PRODUCER = "safeguard keras_to_onnx"
INPUT_NAME = "input"
OUTPUT_NAME = "scores"


class ConversionError(Exception):
    pass


# ---------------------------------------------------------------------------------------------
# Weights


def load_weights(manifest, data):
    """Decode the weights like tfjs-core's io.decodeWeights: concatenated in manifest order,
    uint8/uint16-quantized weights become float32(q * scale + min), the product and sum computed in
    double precision (JavaScript numbers) and rounded once to float32."""
    weights = {}
    offset = 0
    for group in manifest:
        for spec in group["weights"]:
            name, shape, dtype = spec["name"], spec["shape"], spec["dtype"]
            count = int(np.prod(shape)) if shape else 1
            quant = spec.get("quantization")
            if dtype != "float32":
                raise ConversionError("weight %s: unsupported dtype %s" % (name, dtype))
            if quant is None:
                stored = "<f4"
            elif quant["dtype"] in ("uint8", "uint16"):
                stored = "<u1" if quant["dtype"] == "uint8" else "<u2"
            else:
                raise ConversionError("weight %s: unsupported quantization %s" % (name, quant["dtype"]))
            size = np.dtype(stored).itemsize * count
            if offset + size > len(data):
                raise ConversionError("weight data too short: it ends inside weight %s" % name)
            raw = np.frombuffer(data, stored, count, offset)
            if quant is None:
                values = raw.astype(np.float32)
            else:
                q = raw.astype(np.float64)
                values = (q * float(quant["scale"]) + float(quant["min"])).astype(np.float32)
            offset += size
            if name in weights:
                raise ConversionError("duplicate weight %s" % name)
            weights[name] = values.reshape(shape)
    if offset != len(data):
        raise ConversionError("weight data has %d bytes, the manifest describes %d" % (len(data), offset))
    return weights


# ---------------------------------------------------------------------------------------------
# Graph building


class Builder:
    def __init__(self, weights):
        self.weights = weights
        self.used = set()
        self.nodes = []
        self.initializers = []
        self.tensors = {}  # Keras layer name -> (ONNX tensor name, shape as (C, H, W) or (N,))

    def weight(self, layer, suffix):
        key = "%s/%s" % (layer, suffix)
        if key not in self.weights:
            raise ConversionError("layer %s: missing weight %s" % (layer, key))
        self.used.add(key)
        return self.weights[key]

    def const(self, name, array):
        self.initializers.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op, inputs, output, name, **attrs):
        self.nodes.append(helper.make_node(op, inputs, [output], name=name, **attrs))
        return output

    def input_of(self, layer):
        inbound = layer["inbound_nodes"]
        if len(inbound) != 1:
            raise ConversionError("layer %s: shared layers are not supported" % layer["name"])
        names = []
        for entry in inbound[0]:
            src, node_index, tensor_index = entry[0], entry[1], entry[2]
            if node_index != 0 or tensor_index != 0 or src not in self.tensors:
                raise ConversionError("layer %s: unsupported input %s" % (layer["name"], entry[:3]))
            names.append(src)
        return names

    def activation(self, name, kind, x):
        if kind in (None, "linear"):
            return x
        if kind == "relu":
            return self.node("Relu", [x], name + "/relu", name + "/relu")
        if kind == "softmax":
            return self.node("Softmax", [x], name + "/softmax", name + "/softmax", axis=1)
        raise ConversionError("layer %s: unsupported activation %s" % (name, kind))


def conv_output_size(size, k, stride, dilation, pad_total):
    return (size + pad_total - dilation * (k - 1) - 1) // stride + 1


def same_padding(name, kernel, strides, dilation):
    """Keras 'same' padding, allowed only with stride 1 where it does not depend on the input size:
    total padding d*(k-1), the odd pixel (if any) at the bottom/right like TensorFlow."""
    if any(s != 1 for s in strides):
        raise ConversionError("layer %s: padding 'same' with strides %s is not supported" % (name, strides))
    total = [d * (k - 1) for k, d in zip(kernel, dilation)]
    begin = [t // 2 for t in total]
    end = [t - b for t, b in zip(total, begin)]
    return begin + end  # ONNX order: [top, left, bottom, right]


def pairs(value, name):
    """Normalise a Keras 2-tuple option (int or [a, b]) to [a, b]."""
    if isinstance(value, int):
        return [value, value]
    if len(value) != 2:
        raise ConversionError("layer %s: expected 2 values, got %s" % (name, value))
    return list(value)


def convert_layer(b, layer):
    cls, name, cfg = layer["class_name"], layer["name"], layer["config"]
    if cfg.get("data_format", "channels_last") != "channels_last":
        raise ConversionError("layer %s (%s): data_format %s is not supported" % (name, cls, cfg["data_format"]))

    if cls == "InputLayer":
        shape = cfg["batch_input_shape"]
        if len(shape) != 4 or None in shape[1:]:
            raise ConversionError("layer %s: input shape %s is not [batch, H, W, C]" % (name, shape))
        h, w, c = shape[1:]
        b.graph_input = helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, [1, c, h, w])
        b.tensors[name] = (INPUT_NAME, (c, h, w))
        return

    inputs = b.input_of(layer)
    x, shape = b.tensors[inputs[0]]

    if cls == "ZeroPadding2D":
        pad = cfg["padding"]
        if isinstance(pad, int):
            pad = [[pad, pad], [pad, pad]]
        elif isinstance(pad[0], int):
            pad = [[pad[0], pad[0]], [pad[1], pad[1]]]
        (top, bottom), (left, right) = pad
        # ONNX pads: [N, C, H, W] begins, then [N, C, H, W] ends.
        out = b.node("Pad", [x], name, name, mode="constant", value=0.0,
                     pads=[0, 0, top, left, 0, 0, bottom, right])
        c, h, w = shape
        b.tensors[name] = (out, (c, h + top + bottom, w + left + right))

    elif cls in ("Conv2D", "DepthwiseConv2D"):
        c, h, w = shape
        kernel = pairs(cfg["kernel_size"], name)
        strides = pairs(cfg["strides"], name)
        dilation = pairs(cfg.get("dilation_rate", 1), name)
        if cfg["padding"] == "valid":
            pads = [0, 0, 0, 0]
        elif cfg["padding"] == "same":
            pads = same_padding(name, kernel, strides, dilation)
        else:
            raise ConversionError("layer %s: padding %s is not supported" % (name, cfg["padding"]))
        if cls == "Conv2D":
            k = b.weight(name, "kernel")  # [kh, kw, in, out]
            if list(k.shape[:3]) != kernel + [c]:
                raise ConversionError("layer %s: kernel shape %s does not fit input %s" % (name, k.shape, shape))
            w_onnx = k.transpose(3, 2, 0, 1)  # OIHW
            group = 1
        else:
            k = b.weight(name, "depthwise_kernel")  # [kh, kw, C, multiplier]
            mult = cfg.get("depth_multiplier", 1)
            if list(k.shape) != kernel + [c, mult]:
                raise ConversionError("layer %s: kernel shape %s does not fit input %s" % (name, k.shape, shape))
            # Output channel c*mult + m uses k[:, :, c, m].
            w_onnx = k.transpose(2, 3, 0, 1).reshape(c * mult, 1, kernel[0], kernel[1])
            group = c
        conv_inputs = [x, b.const(name + "/W", w_onnx)]
        if cfg["use_bias"]:
            conv_inputs.append(b.const(name + "/B", b.weight(name, "bias")))
        out = b.node("Conv", conv_inputs, name, name, kernel_shape=kernel, strides=strides,
                     dilations=dilation, pads=pads, group=group)
        out = b.activation(name, cfg.get("activation"), out)
        oh = conv_output_size(h, kernel[0], strides[0], dilation[0], pads[0] + pads[2])
        ow = conv_output_size(w, kernel[1], strides[1], dilation[1], pads[1] + pads[3])
        b.tensors[name] = (out, (w_onnx.shape[0], oh, ow))

    elif cls == "BatchNormalization":
        if cfg["axis"] not in (-1, 3):
            raise ConversionError("layer %s: batch normalisation over axis %s is not supported" % (name, cfg["axis"]))
        c = shape[0]
        gamma = b.weight(name, "gamma") if cfg.get("scale", True) else np.ones(c, np.float32)
        beta = b.weight(name, "beta") if cfg.get("center", True) else np.zeros(c, np.float32)
        ins = [x, b.const(name + "/gamma", gamma), b.const(name + "/beta", beta),
               b.const(name + "/mean", b.weight(name, "moving_mean")),
               b.const(name + "/var", b.weight(name, "moving_variance"))]
        out = b.node("BatchNormalization", ins, name, name, epsilon=float(cfg["epsilon"]))
        b.tensors[name] = (out, shape)

    elif cls == "ReLU":
        if cfg.get("negative_slope", 0) != 0 or cfg.get("threshold", 0) != 0:
            raise ConversionError("layer %s: ReLU with negative_slope/threshold is not supported" % name)
        if cfg.get("max_value") is None:
            out = b.node("Relu", [x], name, name)
        else:
            out = b.node("Clip", [x], name, name, min=0.0, max=float(cfg["max_value"]))
        b.tensors[name] = (out, shape)

    elif cls == "Add":
        if len(inputs) < 2:
            raise ConversionError("layer %s: Add needs at least two inputs" % name)
        names = [b.tensors[i][0] for i in inputs]
        if any(b.tensors[i][1] != shape for i in inputs):
            raise ConversionError("layer %s: Add of different shapes" % name)
        out = names[0]
        for i, other in enumerate(names[1:]):
            step = name if i == len(names) - 2 else "%s/%d" % (name, i)
            out = b.node("Add", [out, other], step, step)
        b.tensors[name] = (out, shape)

    elif cls == "AveragePooling2D":
        c, h, w = shape
        pool = pairs(cfg["pool_size"], name)
        strides = pairs(cfg["strides"] or cfg["pool_size"], name)
        if cfg["padding"] == "valid":
            pads = [0, 0, 0, 0]
        elif cfg["padding"] == "same":
            pads = same_padding(name, pool, strides, [1, 1])
        else:
            raise ConversionError("layer %s: padding %s is not supported" % (name, cfg["padding"]))
        # Keras averages only over the real pixels under the window: count_include_pad=0.
        out = b.node("AveragePool", [x], name, name, kernel_shape=pool, strides=strides, pads=pads,
                     count_include_pad=0)
        oh = conv_output_size(h, pool[0], strides[0], 1, pads[0] + pads[2])
        ow = conv_output_size(w, pool[1], strides[1], 1, pads[1] + pads[3])
        b.tensors[name] = (out, (c, oh, ow))

    elif cls == "Flatten":
        if len(shape) != 3:
            raise ConversionError("layer %s: Flatten of a tensor of shape %s" % (name, shape))
        c, h, w = shape
        if (h, w) != (1, 1):
            # Keras flattens NHWC; go back to that order first so Dense weights line up.
            x = b.node("Transpose", [x], name + "/nhwc", name + "/nhwc", perm=[0, 2, 3, 1])
        out = b.node("Flatten", [x], name, name, axis=1)
        b.tensors[name] = (out, (c * h * w,))

    elif cls == "Dense":
        if len(shape) != 1:
            raise ConversionError("layer %s: Dense on a tensor of shape %s (flatten first)" % (name, shape))
        k = b.weight(name, "kernel")  # [in, out]
        if k.shape[0] != shape[0] or k.shape[1] != cfg["units"]:
            raise ConversionError("layer %s: kernel shape %s does not fit input %s" % (name, k.shape, shape))
        bias = b.weight(name, "bias") if cfg["use_bias"] else np.zeros(k.shape[1], np.float32)
        # Gemm with the kernel stored transposed ([out, in], transB=1), the layout OpenCV expects.
        out = b.node("Gemm", [x, b.const(name + "/W", k.T), b.const(name + "/B", bias)], name, name,
                     alpha=1.0, beta=1.0, transA=0, transB=1)
        out = b.activation(name, cfg.get("activation"), out)
        b.tensors[name] = (out, (k.shape[1],))

    elif cls == "Dropout":
        b.tensors[name] = (x, shape)  # identity at inference

    else:
        raise ConversionError("layer %s: unsupported layer type %s" % (name, cls))


def convert(model_json, weight_data):
    topology = model_json["modelTopology"]
    config = topology["model_config"]
    if config["class_name"] not in ("Model", "Functional"):
        raise ConversionError("not a Keras functional model: %s" % config["class_name"])
    cfg = config["config"]
    if len(cfg["input_layers"]) != 1 or len(cfg["output_layers"]) != 1:
        raise ConversionError("expected exactly one input and one output layer")

    b = Builder(load_weights(model_json["weightsManifest"], weight_data))
    b.graph_input = None
    for layer in cfg["layers"]:  # Keras stores the layers in topological order
        convert_layer(b, layer)

    unused = sorted(set(b.weights) - b.used)
    if unused:
        raise ConversionError("weights not used by any layer: %s" % ", ".join(unused))

    out_layer = cfg["output_layers"][0][0]
    out_tensor, out_shape = b.tensors[out_layer]
    if len(out_shape) != 1:
        raise ConversionError("output %s has shape %s, expected a vector" % (out_layer, out_shape))
    # Rename the final tensor to the public output name.
    for node in b.nodes:
        for i, name in enumerate(node.output):
            if name == out_tensor:
                node.output[i] = OUTPUT_NAME
        for i, name in enumerate(node.input):
            if name == out_tensor:
                node.input[i] = OUTPUT_NAME
    graph_output = helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, [1, out_shape[0]])

    graph = helper.make_graph(b.nodes, "nsfwjs_mobilenet_v2", [b.graph_input], [graph_output],
                              initializer=b.initializers, doc_string=SOURCE)
    model = helper.make_model(graph, producer_name=PRODUCER, producer_version="1",
                              opset_imports=[helper.make_opsetid("", OPSET)],
                              doc_string="Converted from %s (MIT licence, nsfwjs by Infinite Red). "
                                         "Input: RGB in [0,1], NCHW. Output: softmax over "
                                         "Drawing, Hentai, Neutral, Porn, Sexy." % SOURCE)
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {
        "source": SOURCE,
        "license": "MIT (nsfwjs, Copyright (c) 2019 Infinite Red, Inc.)",
        "classes": "Drawing,Hentai,Neutral,Porn,Sexy",
        "preprocessing": "RGB/255, bilinear resize to 224x224 with align_corners=true, NCHW",
        "keras_version": str(topology.get("keras_version", "")),
    })
    onnx.checker.check_model(model)
    inferred = onnx.shape_inference.infer_shapes(model, strict_mode=True)
    dims = [d.dim_value for d in inferred.graph.output[0].type.tensor_type.shape.dim]
    if dims != [1, out_shape[0]]:
        raise ConversionError("ONNX shape inference gives output shape %s" % dims)
    return model


def main(argv):
    if len(argv) != 4:
        sys.stderr.write("usage: /usr/bin/python3 keras_to_onnx.py MODEL_JSON WEIGHTS_BIN OUT.onnx\n")
        return 2
    try:
        with open(argv[1], "r", encoding="utf-8") as f:
            model_json = json.load(f)
        with open(argv[2], "rb") as f:
            weight_data = f.read()
        model = convert(model_json, weight_data)
        onnx.save(model, argv[3])
    except Exception as e:  # ConversionError, I/O, malformed JSON, onnx checker failures
        sys.stderr.write("keras_to_onnx.py: error: %s: %s\n" % (type(e).__name__, e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
