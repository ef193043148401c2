"""Test helper: small int8 `.tflite` graphs built with the schema object API that tflite-micro
ships, run in TensorFlow Lite Micro's reference interpreter (the oracle of the int8 ops).

Graph(...) collects int8 tensors (shape, scale, zero point) and builtin ops; run() packs it
(file identifier TFL3), invokes TFLM on the given inputs and returns the outputs. The one-op
shortcuts below (add, concat, logistic, tanh, softmax) are what tests/test_int8_ops_tflm.py uses.
"""
import flatbuffers
import numpy as np
from tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as fb

_OPTIONS = {
    fb.BuiltinOperator.ADD: (fb.BuiltinOptions.AddOptions, fb.AddOptionsT),
    fb.BuiltinOperator.CONCATENATION: (fb.BuiltinOptions.ConcatenationOptions, fb.ConcatenationOptionsT),
    fb.BuiltinOperator.SOFTMAX: (fb.BuiltinOptions.SoftmaxOptions, fb.SoftmaxOptionsT),
}


class Graph:
    def __init__(self):
        self.tensors, self.operators, self.codes = [], [], []

    def tensor(self, shape, scale, zero_point):
        q = fb.QuantizationParametersT()
        q.scale, q.zeroPoint = [float(np.float32(scale))], [int(zero_point)]
        t = fb.TensorT()
        t.shape, t.type, t.buffer, t.quantization = [int(d) for d in shape], fb.TensorType.INT8, 0, q
        t.name = f"t{len(self.tensors)}"
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, code, inputs, outputs, **options):
        if code not in self.codes:
            self.codes.append(code)
        o = fb.OperatorT()
        o.opcodeIndex, o.inputs, o.outputs = self.codes.index(code), list(inputs), list(outputs)
        if code in _OPTIONS:
            kind, cls = _OPTIONS[code]
            o.builtinOptionsType, o.builtinOptions = kind, cls()
            for k, v in options.items():
                setattr(o.builtinOptions, k, v)
        self.operators.append(o)

    def to_bytes(self, inputs, outputs):
        sub = fb.SubGraphT()
        sub.tensors, sub.operators, sub.inputs, sub.outputs = self.tensors, self.operators, inputs, outputs
        model = fb.ModelT()
        model.version, model.subgraphs, model.buffers = 3, [sub], [fb.BufferT()]
        model.operatorCodes = []
        for code in self.codes:
            c = fb.OperatorCodeT()
            c.builtinCode, c.deprecatedBuiltinCode, c.version = code, min(code, 127), 1
            model.operatorCodes.append(c)
        builder = flatbuffers.Builder(1024)
        builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
        return bytes(builder.Output())

    def run(self, inputs, outputs, arrays):
        data = self.to_bytes(inputs, outputs)
        nbytes = sum(int(np.prod(t.shape)) for t in self.tensors)
        interp = runtime.Interpreter.from_bytes(data, arena_size=4 * nbytes + (1 << 16))
        for i, a in enumerate(arrays):
            interp.set_input(np.ascontiguousarray(a, np.int8), i)
        interp.invoke()
        return [np.array(interp.get_output(i)) for i in range(len(outputs))]


def unary(code, x, q_in, q_out, **options):
    g = Graph()
    a, y = g.tensor(x.shape, *q_in), g.tensor(x.shape, *q_out)
    g.op(code, [a], [y], **options)
    return g.run([a], [y], [x])[0]


def logistic(x, q_in):
    return unary(fb.BuiltinOperator.LOGISTIC, x, q_in, (1 / 256, -128))


def tanh(x, q_in):
    return unary(fb.BuiltinOperator.TANH, x, q_in, (1 / 128, 0))


def softmax(x, q_in):
    return unary(fb.BuiltinOperator.SOFTMAX, x, q_in, (1 / 256, -128), beta=1.0)


def add(x1, x2, q1, q2, q_out, activation=fb.ActivationFunctionType.NONE):
    g = Graph()
    a, b, y = g.tensor(x1.shape, *q1), g.tensor(x2.shape, *q2), g.tensor(x1.shape, *q_out)
    g.op(fb.BuiltinOperator.ADD, [a, b], [y], fusedActivationFunction=activation)
    return g.run([a, b], [y], [x1, x2])[0]


def concat(xs, q_ins, q_out, requantize=True):
    """CONCATENATION on the last axis; with requantize, an int8->int8 QUANTIZE to the output's
    (scale, zero point) before each input whose own differ (TFLM's CONCATENATION requires equal
    ones), as the .tflite export does."""
    g = Graph()
    ins, cat_ins = [], []
    for x, q in zip(xs, q_ins):
        t = g.tensor(x.shape, *q)
        ins.append(t)
        if requantize and tuple(q) != tuple(q_out):
            r = g.tensor(x.shape, *q_out)
            g.op(fb.BuiltinOperator.QUANTIZE, [t], [r])
            t = r
        cat_ins.append(t)
    shape = list(xs[0].shape[:-1]) + [sum(x.shape[-1] for x in xs)]
    y = g.tensor(shape, *q_out)
    g.op(fb.BuiltinOperator.CONCATENATION, cat_ins, [y], axis=len(shape) - 1)
    return g.run(ins, [y], xs)[0]
