"""The q7 scheme's per-op rules, one module per op family, discovered like nnbuild.ops.

A Rule says, for one op type,
  params(graph, op, f_in, f_out, warnings) -> (attrs, params): the integer attributes and arrays
           that the golden op and the C kernel read, given the frac bits of the op's inputs
           (a list) and output
  golden(op, args) -> int8 array: the bit-exact integer result (docs/q7_contract.md)
  same_bits   the output keeps the input's frac bits (relu, pooling: no requantization)
  fixed_bits  the output's frac bits are fixed by the op (tables with outputs in [-1, 1])
"""
import importlib
import pkgutil
from dataclasses import dataclass

from ...rules import RuleTable, attr, where  # noqa: F401 (the rules' imports)


@dataclass(frozen=True)
class Rule:
    params: object
    golden: object
    same_bits: bool = False
    fixed_bits: int = None


RULES = RuleTable("q7")
register, rule = RULES.register, RULES.rule


def same_bits(graph, op, f_in, f_out, warnings):
    """params() of ops whose output keeps the input's format."""
    if f_in[0] != f_out:    # share_groups guarantees this; a violation is a bug, not user input
        raise AssertionError(f"{where(op)}: frac bits {f_in[0]} -> {f_out} must be equal")
    return {}, {}


for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    importlib.import_module(f"{__name__}.{_m}")
