"""concat: each input requantized to the output's format (a plain copy when they agree)."""
from .. import golden
from . import Rule, attr, register


def _params(graph, op, f_in, f_out, warnings):
    return {"shifts": [f - f_out for f in f_in]}, {}


register("concat", Rule(_params, lambda op, args: golden.concat(args, attr(op, "shifts"))))
