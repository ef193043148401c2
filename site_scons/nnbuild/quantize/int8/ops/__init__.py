"""The int8 scheme's per-op rules, one module per op family, discovered like nnbuild.ops.

A Rule says, for one op type,
  params(graph, op, q_in, q_out, options, warnings) -> (attrs, params): the integer attributes
           and arrays that the golden op and the C kernel read, given the (scale, zero_point) of
           the op's inputs (a list; None for the uint8 pixel input) and of its output, and the
           scheme options (e.g. {"per_channel": True})
  golden(op, args) -> int8 array: the bit-exact integer result (docs/int8_contract.md)
  same_params   the output keeps the input's (scale, zero point) (max/avg pool, relu): TFLite
                requires it, and no requantization is needed
  fixed_params  the output's (scale, zero point) is fixed by the op (logistic, tanh, softmax)
"""
import importlib
import pkgutil
from dataclasses import dataclass

from ....errors import NnbuildError


@dataclass(frozen=True)
class Rule:
    params: object
    golden: object
    same_params: bool = False
    fixed_params: tuple = None


RULES = {}


def register(op_type, r):
    if op_type in RULES:
        raise AssertionError(f"int8 rule for {op_type!r} registered twice")
    RULES[op_type] = r
    return r


def rule(op):
    r = RULES.get(op.type)
    if r is None:
        raise NnbuildError(f"the int8 scheme cannot quantize op type '{op.type}'",
                           where=f"layer '{op.name}' ({op.type})", expected="one of " + ", ".join(sorted(RULES)))
    return r


def where(op):
    return f"layer '{op.name}' ({op.type})"


def attr(op, key):
    """A quantized op's attribute (a clear error when a hand-made graph lacks it)."""
    if key in op.attrs:
        return op.attrs[key]
    raise NnbuildError(f"quantized op lacks attribute '{key}'", where=f"op '{op.name}' ({op.type})",
                       expected="a graph produced by nnbuild.quantize (scheme int8)")


for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
