"""The per-op rule table that every scheme's `ops/` package fills (q7/ops, int8/ops): one Rule
per IR op type, registered once, looked up with a clear error naming the op. Each scheme keeps
its own Rule dataclass (the fields differ); the table and the attribute lookup are shared."""
from ..errors import NnbuildError


class RuleTable(dict):
    def __init__(self, scheme):
        super().__init__()
        self.scheme = scheme

    def register(self, op_type, r):
        if op_type in self:
            raise AssertionError(f"{self.scheme} rule for {op_type!r} registered twice")
        self[op_type] = r
        return r

    def rule(self, op):
        r = self.get(op.type)
        if r is None:
            raise NnbuildError(f"the {self.scheme} scheme cannot quantize op type '{op.type}'",
                               where=where(op), expected="one of " + ", ".join(sorted(self)))
        return r


def where(op):
    return f"layer '{op.name}' ({op.type})"


def attr(op, key, default=None, expected="a graph produced by nnbuild.quantize"):
    """A quantized op's attribute (a clear error when a hand-made graph lacks it)."""
    if key in op.attrs:
        return op.attrs[key]
    if default is not None:
        return default
    raise NnbuildError(f"quantized op lacks attribute '{key}'", where=f"op '{op.name}' ({op.type})",
                       expected=expected)
