"""max_pool / avg_pool: the output keeps the input's format."""
from ....ops.pool import ceil_mode, exclude_pad
from .. import golden
from . import Rule, register, same_bits


def _window(op):
    return op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"]


register("max_pool", Rule(same_bits, lambda op, args: golden.max_pool(args[0], *_window(op), ceil_mode(op)),
                         same_bits=True))
register("avg_pool", Rule(same_bits, lambda op, args: golden.avg_pool(args[0], *_window(op), exclude_pad(op),
                                                                      ceil_mode(op)), same_bits=True))
