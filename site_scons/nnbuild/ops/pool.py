"""max_pool / avg_pool with Caffe's semantics: ceil-mode output size, windows clipped to the
input, the average divisor counting padding up to size + pad (ir.pool_window). An avg_pool with
the optional attribute exclude_pad = true divides by the input cells of each window instead
(ONNX count_include_pad = 0, TFLite's AVERAGE_POOL_2D); absent means false. Both pools take
the optional attribute ceil_mode (absent: true, Caffe's); false is floor mode (ONNX/PyTorch
ceil_mode 0, TFLite VALID), whose windows all lie in the padded input (ir.pool_output_size)."""
import numpy as np

from .. import ir
from ..errors import NnbuildError
from ..windows import pair, pool_offsets
from . import OpDef, register


def exclude_pad(op):
    """avg_pool's exclude_pad (absent: false, Caffe's divisor); anything but a bool is refused."""
    v = op.attrs.get("exclude_pad", False)
    if not isinstance(v, bool):
        raise NnbuildError(f"exclude_pad {v!r}", where=f"op '{op.name}' ({op.type})", expected="true or false")
    return v


def ceil_mode(op):
    """A pool's ceil_mode (absent: true, Caffe's output size); anything but a bool is refused."""
    v = op.attrs.get("ceil_mode", True)
    if not isinstance(v, bool):
        raise NnbuildError(f"ceil_mode {v!r}", where=f"op '{op.name}' ({op.type})", expected="true or false")
    return v


def window(op):
    """(kernel, stride, pad, ceil) of a pool, as windows.pool_offsets and the goldens take them."""
    return op.attrs["kernel"], op.attrs["stride"], op.attrs["pad"], ceil_mode(op)


def _shape(op, in_shapes):
    if op.type == "avg_pool":
        exclude_pad(op)
    h, w, c = in_shapes[0]
    (kh, kw), (sh, sw), (ph, pw) = (pair(op.attrs[k]) for k in ("kernel", "stride", "pad"))
    ceil = ceil_mode(op)
    if not ceil and (kh > h + 2 * ph or kw > w + 2 * pw):      # floor mode would have no window
        raise NnbuildError(f"floor-mode pooling window {kh}x{kw} on a {h}x{w} input padded by {ph}x{pw}",
                           where=f"op '{op.name}' ({op.type})", expected="a window that fits the padded input")
    return ir.pool_output_size(h, kh, sh, ph, ceil), ir.pool_output_size(w, kw, sw, pw, ceil), c


def _max(op, args):
    views, _ = pool_offsets(args[0], *window(op), -np.inf)
    return np.maximum.reduce(views)


def _avg(op, args):
    views, counts = pool_offsets(args[0], *window(op), 0.0, exclude_pad(op))
    return (np.add.reduce(views) / counts[None, :, :, None]).astype(np.float32)


ATTRS = frozenset({"kernel", "stride", "pad"})
register(OpDef("max_pool", ATTRS, (), _shape, _max))
register(OpDef("avg_pool", ATTRS, (), _shape, _avg))
