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
  check(op)     refuses a float op the rule cannot quantize, before any calibration (optional)
"""
import importlib
import pkgutil
from dataclasses import dataclass

from ... import rules
from ...rules import RuleTable


@dataclass(frozen=True)
class Rule:
    params: object
    golden: object
    same_params: bool = False
    fixed_params: tuple = None
    check: object = None


RULES = RuleTable("int8")
register, rule = RULES.register, RULES.rule
where = rules.where


def attr(op, key):
    """A quantized op's attribute (a clear error when a hand-made graph lacks it)."""
    return rules.attr(op, key, expected="a graph produced by nnbuild.quantize (scheme int8)")


for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
