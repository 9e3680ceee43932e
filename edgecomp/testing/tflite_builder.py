"""Write .tflite files for tests and benchmarks, float or quantized, with no converter.

A ``TfNet`` records a small network in TFLite's own terms (NHWC, TFLite op names and
options); ``to_tflite()`` serializes it with the ``tflite`` package's generated flatbuffer code.
A quantized copy comes from the same description: ``to_tflite("int8", ranges)`` /
``to_tflite("uint8", ranges)`` with activation ranges measured on the float model
(``float_ranges`` runs it in the reference interpreter and reads every tensor):

    net = TfNet((1, 8, 8, 3), seed=0)
    y = net.conv(net.input, 6, 3, act="RELU6")
    net.outputs = [net.softmax(net.fc(net.reshape(y, (1, -1)), 10))]
    float_model = net.to_tflite()
    int8_model = net.to_tflite("int8", float_ranges(float_model, inputs))

Quantization follows TFLite's rules: int8 activations asymmetric, weights symmetric
per-channel int8 (uint8: per-tensor with zero point 128), int32 bias at scale s_in * s_w,
pools / reshapes / pads / transposes / resizes keep their input's parameters, SOFTMAX and
LOGISTIC output 1/256 with zero point -128 (uint8: 0).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

TYPE_CODES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int8": 9}
ACT = {None: 0, "NONE": 0, "RELU": 1, "RELU_N1_TO_1": 2, "RELU6": 3}
SAME_PARAMS = ("MAX_POOL_2D", "AVERAGE_POOL_2D", "RESHAPE", "PAD", "TRANSPOSE",
               "RESIZE_BILINEAR", "RESIZE_NEAREST_NEIGHBOR", "SQUEEZE", "EXPAND_DIMS")


@dataclass
class _Op:
    name: str                       # TFLite builtin op name
    inputs: list                    # activation ids (int) or constants (np.ndarray / _Const)
    output: int
    options_type: str | None = None
    options: dict = field(default_factory=dict)


@dataclass
class _Const:
    """A constant input and how to store it when quantized."""
    value: np.ndarray
    role: str = "plain"             # weight | bias | plain (int32/int64 shapes, axes, ...)
    channel_axis: int = 0


class TfNet:
    def __init__(self, input_shape, seed: int = 0):
        self.rng = np.random.default_rng(seed)
        self.shapes: list[tuple[int, ...]] = [tuple(input_shape)]
        self.ops: list[_Op] = []
        self.input = 0
        self.outputs: list[int] = []

    # -- recording -------------------------------------------------------------------------
    def _new(self, shape) -> int:
        self.shapes.append(tuple(int(d) for d in shape))
        return len(self.shapes) - 1

    def _op(self, name, inputs, shape, options_type=None, **options) -> int:
        y = self._new(shape)
        self.ops.append(_Op(name, list(inputs), y, options_type, options))
        return y

    def _w(self, *shape, fan_in):
        return (self.rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    @staticmethod
    def _same_out(n, k, s, padding):
        return -(-n // s) if padding == "SAME" else -(-(n - k + 1) // s)

    def conv(self, x, c_out, k, stride=1, padding="SAME", act=None, dilation=1, weight=None,
             bias=None):
        n, h, w, c = self.shapes[x]
        weight = self._w(c_out, k, k, c, fan_in=k * k * c) if weight is None else weight
        bias = self._w(c_out, fan_in=4) if bias is None else bias
        ke = dilation * (k - 1) + 1
        shape = (n, self._same_out(h, ke, stride, padding), self._same_out(w, ke, stride, padding),
                 c_out)
        return self._op("CONV_2D", [x, _Const(weight, "weight", 0), _Const(bias, "bias")],
                        shape, "Conv2DOptions", Padding=0 if padding == "SAME" else 1,
                        StrideW=stride, StrideH=stride, FusedActivationFunction=ACT[act],
                        DilationWFactor=dilation, DilationHFactor=dilation)

    def depthwise(self, x, k, mult=1, stride=1, padding="SAME", act=None):
        n, h, w, c = self.shapes[x]
        weight = self._w(1, k, k, c * mult, fan_in=k * k)
        shape = (n, self._same_out(h, k, stride, padding), self._same_out(w, k, stride, padding),
                 c * mult)
        return self._op("DEPTHWISE_CONV_2D",
                        [x, _Const(weight, "weight", 3), _Const(self._w(c * mult, fan_in=4),
                                                               "bias")],
                        shape, "DepthwiseConv2DOptions", Padding=0 if padding == "SAME" else 1,
                        StrideW=stride, StrideH=stride, DepthMultiplier=mult,
                        FusedActivationFunction=ACT[act], DilationWFactor=1, DilationHFactor=1)

    def fc(self, x, n_out, act=None, keep_num_dims=False):
        k = self.shapes[x][-1]
        shape = self.shapes[x][:-1] + (n_out,) if keep_num_dims else (1, n_out)
        return self._op("FULLY_CONNECTED",
                        [x, _Const(self._w(n_out, k, fan_in=k), "weight", 0),
                         _Const(self._w(n_out, fan_in=4), "bias")], shape,
                        "FullyConnectedOptions", FusedActivationFunction=ACT[act],
                        KeepNumDims=keep_num_dims)

    def pool(self, kind, x, k, stride, padding="VALID", act=None):
        n, h, w, c = self.shapes[x]
        shape = (n, self._same_out(h, k, stride, padding), self._same_out(w, k, stride, padding),
                 c)
        return self._op(f"{kind}_POOL_2D", [x], shape, "Pool2DOptions",
                        Padding=0 if padding == "SAME" else 1, StrideW=stride, StrideH=stride,
                        FilterWidth=k, FilterHeight=k, FusedActivationFunction=ACT[act])

    def binary(self, kind, a, b, act=None):
        """ADD / MUL / SUB / DIV; b may be a constant (numpy array)."""
        sb = self.shapes[b] if isinstance(b, int) else np.shape(b)
        shape = tuple(np.broadcast_shapes(self.shapes[a], sb))
        ins = [a, b if isinstance(b, int) else _Const(np.asarray(b, np.float32), "operand")]
        opts = {"ADD": "AddOptions", "MUL": "MulOptions", "SUB": "SubOptions",
                "DIV": "DivOptions"}[kind]
        return self._op(kind, ins, shape, opts, FusedActivationFunction=ACT[act])

    def concat(self, xs, axis):
        shape = list(self.shapes[xs[0]])
        shape[axis] = sum(self.shapes[x][axis] for x in xs)
        return self._op("CONCATENATION", xs, shape, "ConcatenationOptions", Axis=axis,
                        FusedActivationFunction=0)

    def reshape(self, x, shape):
        total = int(np.prod(self.shapes[x]))
        shape = list(shape)
        if -1 in shape:
            shape[shape.index(-1)] = total // -int(np.prod(shape))
        return self._op("RESHAPE", [x, _Const(np.array(shape, np.int32))], shape,
                        "ReshapeOptions", NewShape=np.array(shape, np.int32))

    def softmax(self, x, beta=1.0):
        return self._op("SOFTMAX", [x], self.shapes[x], "SoftmaxOptions", Beta=beta)

    def mean(self, x, axes, keep_dims):
        s = self.shapes[x]
        shape = [1 if d in axes else n for d, n in enumerate(s)] if keep_dims else \
            [n for d, n in enumerate(s) if d not in axes]
        return self._op("MEAN", [x, _Const(np.array(axes, np.int32))], shape, "ReducerOptions",
                        KeepDims=keep_dims)

    def pad(self, x, paddings):
        p = np.array(paddings, np.int32)
        shape = [n + a + b for n, (a, b) in zip(self.shapes[x], p)]
        return self._op("PAD", [x, _Const(p)], shape, "PadOptions")

    def unary(self, kind, x, **options):
        opts = {"HARD_SWISH": "HardSwishOptions", "LEAKY_RELU": "LeakyReluOptions"}.get(kind)
        return self._op(kind, [x], self.shapes[x], opts, **options)

    def resize(self, kind, x, size, align_corners=False, half_pixel=False):
        n, h, w, c = self.shapes[x]
        name = {"BILINEAR": ("RESIZE_BILINEAR", "ResizeBilinearOptions"),
                "NEAREST": ("RESIZE_NEAREST_NEIGHBOR", "ResizeNearestNeighborOptions")}[kind]
        return self._op(name[0], [x, _Const(np.array(size, np.int32))], (n, *size, c), name[1],
                        AlignCorners=align_corners, HalfPixelCenters=half_pixel)

    def requantize(self, x, widen=1.7):
        """QUANTIZE int -> int with a ``widen`` times larger range (a float model: a no-op
        RESHAPE, so the ranges line up)."""
        return self._op("QUANTIZE", [x], self.shapes[x], None, widen=widen)

    def transpose(self, x, perm):
        shape = [self.shapes[x][p] for p in perm]
        return self._op("TRANSPOSE", [x, _Const(np.array(perm, np.int32))], shape,
                        "TransposeOptions")

    # -- serialization -----------------------------------------------------------------------
    def to_tflite(self, quant: str | None = None, ranges: dict | None = None,
                  float_io: bool = False) -> bytes:
        """float32 model, or a quantized one (``quant`` "int8" / "uint8") whose activation
        ranges are ``ranges[id]`` (see ``float_ranges``); ``float_io`` adds QUANTIZE /
        DEQUANTIZE at the ends so the model takes and returns float32."""
        return _Writer(self, quant, ranges or {}, float_io).build()


def act_params(lo: float, hi: float, dtype: str) -> tuple[float, int]:
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    scale = float(np.float32(max(hi - lo, 1e-6) / 255))
    zp = int(round(-lo / scale)) + (-128 if dtype == "int8" else 0)
    return scale, int(np.clip(zp, -128, 127) if dtype == "int8" else np.clip(zp, 0, 255))


class _Writer:
    def __init__(self, net: TfNet, quant, ranges, float_io):
        import flatbuffers

        self.net, self.quant, self.ranges, self.float_io = net, quant, ranges, float_io
        self.b = flatbuffers.Builder(4096)
        self.buffers: list[bytes] = [b""]
        self.tensors: list[tuple] = []          # (name, shape, type, buffer, quant)
        self.act_index: dict[int, int] = {}
        self.params: dict[int, tuple[float, int]] = {}
        self.opcodes: list[tuple[str, int]] = []
        self.ops: list[tuple] = []

    # quantization of every activation id
    def _plan(self):
        net, dt = self.net, self.quant
        producer = {op.output: op for op in net.ops}

        def root(j):  # the tensor whose parameters j shares (through pools, reshapes, ...)
            while j in producer and producer[j].name in SAME_PARAMS:
                j = producer[j].inputs[0]
            return j

        for op in net.ops:
            if op.name in ("SOFTMAX", "LOGISTIC"):
                self.params[op.output] = (1 / 256, -128 if dt == "int8" else 0)
        for op in net.ops:  # TFLite's int8 CONCATENATION wants one scale for all its tensors
            if op.name == "CONCATENATION":
                ids = [root(j) for j in (*op.inputs, op.output)]
                fixed = [self.params[j] for j in ids if j in self.params]
                joint = fixed[0] if fixed else act_params(
                    min(self.ranges[j][0] for j in ids), max(self.ranges[j][1] for j in ids), dt)
                for j in ids:
                    self.params.setdefault(j, joint)
        for i in range(len(net.shapes)):
            if i in self.params:
                continue
            op = next((o for o in net.ops if o.output == i), None)
            if op is not None and op.name in SAME_PARAMS:
                self.params[i] = self.params[op.inputs[0]]
            elif op is not None and op.name in ("SOFTMAX", "LOGISTIC"):
                self.params[i] = (1 / 256, -128 if dt == "int8" else 0)
            elif op is not None and op.name == "QUANTIZE":
                w = op.options["widen"]
                self.params[i] = act_params(self.ranges[i][0] * w, self.ranges[i][1] * w, dt)
            else:
                self.params[i] = act_params(*self.ranges[i], dt)

    def _tensor(self, name, shape, ttype, data=None, q=None) -> int:
        buf = 0
        if data is not None:
            self.buffers.append(np.ascontiguousarray(data).tobytes())
            buf = len(self.buffers) - 1
        self.tensors.append((name, tuple(int(d) for d in shape), ttype, buf, q))
        return len(self.tensors) - 1

    def _activation(self, i: int) -> int:
        if i not in self.act_index:
            if self.quant:
                s, z = self.params[i]
                self.act_index[i] = self._tensor(f"t{i}", self.net.shapes[i], self.quant,
                                                 q=([s], [z], 0))
            else:
                self.act_index[i] = self._tensor(f"t{i}", self.net.shapes[i], "float32")
        return self.act_index[i]

    def _const(self, c: _Const, op: _Op, k: int) -> int:
        v = c.value
        name = f"c{len(self.tensors)}"
        if not self.quant or c.role == "plain" or v.dtype.kind in "iu":
            if v.dtype.kind in "iu":
                return self._tensor(name, v.shape, "int32", v.astype(np.int32))
            return self._tensor(name, v.shape, "float32", v.astype(np.float32))
        s_in = self.params[op.inputs[0]][0]
        if c.role == "weight":
            return self._weight(name, v, c.channel_axis)
        if c.role == "bias":
            w_scales = self._last_weight_scales
            scale = (np.float32(s_in) * w_scales).astype(np.float32) if self.quant == "uint8" \
                else (s_in * w_scales.astype(np.float64)).astype(np.float32)
            q = np.round(v / scale).astype(np.int32)
            if self.quant == "uint8":  # per-tensor weights: a per-tensor bias scale
                scale = scale[:1]
            return self._tensor(name, v.shape, "int32", q,
                                (list(scale), [0] * scale.size, 0))
        # an elementwise constant operand: its own per-tensor params
        s, z = act_params(float(v.min()), float(v.max()), self.quant)
        lo, hi = (-128, 127) if self.quant == "int8" else (0, 255)
        q = np.clip(np.round(v / s) + z, lo, hi).astype(self.quant)
        return self._tensor(name, v.shape, self.quant, q, ([s], [z], 0))

    def _weight(self, name, v, axis):
        n = v.shape[axis]
        moved = np.moveaxis(v, axis, 0).reshape(n, -1)
        if self.quant == "int8":
            scales = (np.maximum(np.abs(moved).max(axis=1), 1e-8) / 127).astype(np.float32)
            shape = [1] * v.ndim
            shape[axis] = -1
            q = np.clip(np.round(v / scales.reshape(shape)), -127, 127).astype(np.int8)
            self._last_weight_scales = scales
            return self._tensor(name, v.shape, "int8", q, (list(scales), [0] * n, axis))
        scale = np.float32(max(float(np.abs(v).max()), 1e-8) / 127)
        q = (np.clip(np.round(v / scale), -127, 127) + 128).astype(np.uint8)
        self._last_weight_scales = np.full(n, scale, np.float32)
        return self._tensor(name, v.shape, "uint8", q, ([scale], [128], 0))

    def _opcode(self, name: str) -> int:
        import tflite

        code = getattr(tflite.BuiltinOperator, name)
        if (name, code) not in self.opcodes:
            self.opcodes.append((name, code))
        return self.opcodes.index((name, code))

    def build(self) -> bytes:
        net = self.net
        if self.quant:
            self._plan()
        graph_in = self._activation(net.input)
        if self.quant and self.float_io:
            f_in = self._tensor("input_float", net.shapes[net.input], "float32")
            self.ops.append(("QUANTIZE", [f_in], [graph_in], None, {}))
            graph_in = f_in
        for op in net.ops:
            ins = []
            for k, x in enumerate(op.inputs):
                ins.append(self._activation(x) if isinstance(x, int) else self._const(x, op, k))
            name, kind, options = op.name, op.options_type, op.options
            if name == "QUANTIZE":  # requantize; in a float model an identity RESHAPE
                shape = np.array(net.shapes[op.output], np.int32)
                name, kind, options = (("QUANTIZE", None, {}) if self.quant else
                                       ("RESHAPE", "ReshapeOptions", {"NewShape": shape}))
            self.ops.append((name, ins, [self._activation(op.output)], kind, options))
        outs = [self._activation(o) for o in net.outputs]
        if self.quant and self.float_io:
            f_outs = []
            for k, o in enumerate(outs):
                f = self._tensor(f"output_float{k}", self.tensors[o][1], "float32")
                self.ops.append(("DEQUANTIZE", [o], [f], None, {}))
                f_outs.append(f)
            outs = f_outs
        return self._serialize([graph_in], outs)

    # -- flatbuffer ------------------------------------------------------------------------
    def _vec(self, values, dtype) -> int:
        return self.b.CreateNumpyVector(np.asarray(values, dtype))

    def _bytes(self, data: bytes) -> int:
        b = self.b
        b.StartVector(1, len(data), 16)  # 16-byte aligned, as TFLite wants buffers
        b.head = b.head - len(data)
        b.Bytes[b.head:b.head + len(data)] = data
        b.vectorNumElems = len(data)
        return b.EndVector()

    def _options(self, kind: str, options: dict) -> int:
        import tflite

        b = self.b
        vectors = {k: self._vec(v, np.int32) for k, v in options.items()
                   if isinstance(v, (list, tuple, np.ndarray))}
        getattr(tflite, f"{kind}Start")(b)
        for k, v in options.items():
            add = getattr(tflite, f"{kind}Add{k}")
            add(b, vectors[k] if k in vectors else v)
        return getattr(tflite, f"{kind}End")(b)

    def _serialize(self, inputs, outputs) -> bytes:
        import tflite

        b = self.b
        buffers = []
        for data in self.buffers:
            vec = self._bytes(data) if data else None
            tflite.BufferStart(b)
            if vec is not None:
                tflite.BufferAddData(b, vec)
            buffers.append(tflite.BufferEnd(b))
        tensors = []
        for name, shape, ttype, buf, q in self.tensors:
            name_off = b.CreateString(name)
            shape_off = self._vec(shape, np.int32)
            q_off = None
            if q is not None:
                sc, zp = self._vec(q[0], np.float32), self._vec(q[1], np.int64)
                tflite.QuantizationParametersStart(b)
                tflite.QuantizationParametersAddScale(b, sc)
                tflite.QuantizationParametersAddZeroPoint(b, zp)
                tflite.QuantizationParametersAddQuantizedDimension(b, q[2])
                q_off = tflite.QuantizationParametersEnd(b)
            tflite.TensorStart(b)
            tflite.TensorAddShape(b, shape_off)
            tflite.TensorAddType(b, TYPE_CODES[ttype])
            tflite.TensorAddBuffer(b, buf)
            tflite.TensorAddName(b, name_off)
            if q_off is not None:
                tflite.TensorAddQuantization(b, q_off)
            tensors.append(tflite.TensorEnd(b))
        ops = []
        for name, ins, outs, kind, options in self.ops:
            ins_off, outs_off = self._vec(ins, np.int32), self._vec(outs, np.int32)
            opt_off = self._options(kind, options) if kind else None
            tflite.OperatorStart(b)
            tflite.OperatorAddOpcodeIndex(b, self._opcode(name))
            tflite.OperatorAddInputs(b, ins_off)
            tflite.OperatorAddOutputs(b, outs_off)
            if opt_off is not None:
                tflite.OperatorAddBuiltinOptionsType(b, getattr(tflite.BuiltinOptions, kind))
                tflite.OperatorAddBuiltinOptions(b, opt_off)
            ops.append(tflite.OperatorEnd(b))
        codes = []
        for name, code in self.opcodes:
            tflite.OperatorCodeStart(b)
            tflite.OperatorCodeAddDeprecatedBuiltinCode(b, min(code, 127))
            tflite.OperatorCodeAddBuiltinCode(b, code)
            tflite.OperatorCodeAddVersion(b, 1)
            codes.append(tflite.OperatorCodeEnd(b))

        def table_vector(offsets):
            b.StartVector(4, len(offsets), 4)
            for off in reversed(offsets):
                b.PrependUOffsetTRelative(off)
            return b.EndVector()

        t_vec, o_vec = table_vector(tensors), table_vector(ops)
        in_vec, out_vec = self._vec(inputs, np.int32), self._vec(outputs, np.int32)
        sg_name = b.CreateString("main")
        tflite.SubGraphStart(b)
        tflite.SubGraphAddTensors(b, t_vec)
        tflite.SubGraphAddInputs(b, in_vec)
        tflite.SubGraphAddOutputs(b, out_vec)
        tflite.SubGraphAddOperators(b, o_vec)
        tflite.SubGraphAddName(b, sg_name)
        sg = tflite.SubGraphEnd(b)
        sg_vec, code_vec, buf_vec = table_vector([sg]), table_vector(codes), table_vector(buffers)
        desc = b.CreateString("edgecomp.testing.tflite_builder")
        tflite.ModelStart(b)
        tflite.ModelAddVersion(b, 3)
        tflite.ModelAddOperatorCodes(b, code_vec)
        tflite.ModelAddSubgraphs(b, sg_vec)
        tflite.ModelAddDescription(b, desc)
        tflite.ModelAddBuffers(b, buf_vec)
        b.Finish(tflite.ModelEnd(b), file_identifier=b"TFL3")
        return bytes(b.Output())


def reference_interpreter(model: bytes, preserve: bool = False):
    """LiteRT's interpreter (ai-edge-litert), or tflite-runtime where it still loads."""
    try:
        from ai_edge_litert.interpreter import Interpreter, OpResolverType
    except ImportError:  # pragma: no cover - the fallback for machines without ai-edge-litert
        from tflite_runtime.interpreter import Interpreter, OpResolverType
    # TFLite's own kernels: the XNNPACK delegate declines some legal quantized graphs
    it = Interpreter(model_content=model, experimental_preserve_all_tensors=preserve,
                     experimental_op_resolver_type=(
                         OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES))
    it.allocate_tensors()
    return it


def run_reference(model: bytes, x: np.ndarray, all_tensors: bool = False):
    it = reference_interpreter(model, all_tensors)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    if all_tensors:
        return {d["name"]: it.get_tensor(d["index"]) for d in it.get_tensor_details()
                if d["name"].startswith("t")}
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def float_ranges(model: bytes, inputs: np.ndarray) -> dict[int, tuple[float, float]]:
    """(min, max) of every activation of a float TfNet model over ``inputs`` ([N, ...])."""
    lo: dict[int, float] = {}
    hi: dict[int, float] = {}
    for x in inputs:
        for name, v in run_reference(model, x[None], all_tensors=True).items():
            i = int(name[1:])
            lo[i] = min(lo.get(i, np.inf), float(v.min()))
            hi[i] = max(hi.get(i, -np.inf), float(v.max()))
    return {i: (lo[i], hi[i]) for i in lo}
