"""The golden model: runs a quantized graph with the bit-exact integer ops of its scheme
(nnbuild.quantize.<scheme>.GOLDEN). It is the definition of what the device computes; the C
kernels, the host build and the firmware in QEMU must agree with it on every byte."""
from . import reference
from .errors import NnbuildError


def _golden_table(qgraph):
    from .quantize import scheme_of

    return scheme_of(qgraph).GOLDEN


def run(qgraph, pixels, outputs=None, batch=256):
    """Integer outputs of a quantized graph for uint8 pixels (N, H, W, C).

    Returns the first graph output (N, H, W, C) or, with `outputs` a list of tensor names, a
    dict name -> array."""
    table = _golden_table(qgraph)

    def run_op(op, args):
        fn = table.get(op.type)
        where = f"op '{op.name}' ({op.type})"
        if fn is None:
            raise NnbuildError(f"the golden model cannot execute op type '{op.type}'", where=where)
        try:
            return fn(op, args)
        except NnbuildError as e:   # name the op in errors raised by the arithmetic (e.g. overflow)
            if e.where:
                raise
            raise type(e)(e.message, file=e.file, where=where, expected=e.expected) from None

    return reference.run_batched(qgraph, pixels, outputs, batch, run_op)


def dequantize(qgraph, name, q):
    """Real values of the integer array `q` held by tensor `name` of `qgraph`."""
    from .quantize import scheme_of

    return scheme_of(qgraph).dequantize(q, qgraph.tensors[name])
