"""softmax: exp table over value differences, outputs with 7 frac bits."""
from ...tables import softmax_exp_table
from .. import golden
from . import Rule, register


def _params(graph, op, f_in, f_out, warnings):
    return {}, {"exp_table": softmax_exp_table(2.0 ** -f_in[0])}


register("softmax", Rule(_params, lambda op, args: golden.softmax(args[0], op.params["exp_table"]), fixed_bits=7))
