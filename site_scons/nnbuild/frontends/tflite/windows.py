"""TFLite padding (SAME / VALID, after an explicit PAD folded in) as the IR's symmetric padding:
a convolution where TFLite's leading padding and output size are the IR's (or are with one zero
tap in front of the filter: SAME with one more cell at the end); a pooling where every
window and, for an average, every divisor is the IR's (Caffe's ceil-mode windows, or floor-mode
ones where they differ (the pool's ceil_mode false), padding counted
in the divisor as real 0, or avg_pool's exclude_pad: the input cells only), else an error naming
the operator."""
from ... import ir
from ... import tflite_schema as S

P = S.Padding


def _axis_pad(n, k, s, d, padding, before, after):
    """TFLite's (output size, leading padding) along one axis of an input of n cells with
    explicit padding (before, after) and then SAME or VALID."""
    size, extent = n + before + after, d * (k - 1) + 1
    if padding == P.SAME:
        out = -(-size // s)
        lead = max((out - 1) * s + extent - size, 0) // 2
    else:
        out, lead = (size - extent) // s + 1, 0
    return out, before + lead


def conv_pad(b, op, x, k, s, d):
    """((pad_h, pad_w), (extra_h, extra_w)): the IR's symmetric padding that computes what TFLite
    computes, and the zero taps to put in front of the filter along each axis, or an error.

    TFLite's SAME pads one cell more at the end than at the start when the total is odd (every
    stride-2 SAME convolution of an even size). The IR pads symmetrically, so the filter gets one
    zero tap in front and the IR pads one dilation more: the windows then start one tap earlier
    on a cell whose weight is 0 and read exactly TFLite's cells (bit-exact in int8 and float; it
    costs the extra taps' MACs)."""
    h, w, _ = b.shape(x.tensor)
    top, bottom, left, right = x.pads
    padding = op.options.get("padding", P.SAME)
    pads, extra = [], []
    for n, kk, ss, dd, before, after in ((h, k[0], s[0], d[0], top, bottom), (w, k[1], s[1], d[1], left, right)):
        out, lead = _axis_pad(n, kk, ss, dd, padding, before, after)
        if out >= 1 and ir.conv_output_size(n, kk, ss, lead, dd) == out:
            pads.append(lead)
            extra.append(0)
        elif out >= 1 and ir.conv_output_size(n, kk + 1, ss, lead + dd, dd) == out:
            pads.append(lead + dd)
            extra.append(1)
        else:
            raise b.error(op, f"padding {'SAME' if padding == P.SAME else 'VALID'} with explicit pads {list(x.pads)} "
                              f"on a {h}x{w} input is not symmetric (leading {lead}, {out} outputs)",
                          expected="padding the IR expresses: the same on both sides of each axis, or one more "
                                   "at the end")
    return tuple(pads), tuple(extra)


def _pool_axis(n, kk, ss, before, after, padding, avg, pad_value, zero, ceil):
    """(lead, divisors): the IR's pad along one axis whose windows (ceil: Caffe's ceil mode, else
    floor mode) are TFLite's, and the divisors ({False: Caffe's, True: exclude_pad}) that are
    TFLite's there; divisors empty when no IR pooling is TFLite's."""
    size = n + before + after
    out, lead = _axis_pad(n, kk, ss, 1, padding, before, after)
    divisors = {False, True} if avg else {False}
    if not (out >= 1 and ir.pool_output_size(n, kk, ss, lead, ceil) == out
            and not ir.pool_has_empty_window(n, kk, ss, lead, ceil)):
        return lead, set()
    for o in range(out):
        a = o * ss - (lead - before)                  # window start in the padded tensor
        lo, hi = max(a, 0), min(a + kk, size)         # TFLite clips to the (explicitly) padded tensor
        start, end, count = max(lo - before, 0), min(hi - before, n), hi - lo
        touches_pad = lo < before or hi > before + n
        c_start, c_end, c_count = ir.pool_window(o, kk, ss, lead, n)
        if (start, end) != (c_start, c_end) or end <= start:
            return lead, set()
        if avg:
            if count != c_count or (touches_pad and pad_value != zero):
                divisors.discard(False)               # Caffe's divisor counts padding (real 0)
            if count != end - start:
                divisors.discard(True)                # TFLite counts explicitly padded cells here
        elif touches_pad and pad_value > zero:
            return lead, set()                        # max: padding never above a real value
    return lead, divisors


def pool_pad(b, op, x, k, s, avg, zero):
    """(pad, exclude_pad, ceil): the IR's (Caffe's) pad whose windows are TFLite's, in Caffe's ceil
    mode where they are (the graph as before), else in floor mode (ceil_mode false: VALID on a size
    where Caffe's ceil mode adds a window), and for an average the divisor that is TFLite's
    (Caffe's, counting padding as real 0, where that is TFLite's count; else exclude_pad, the
    window's input cells, as SAME divides), or an error."""
    h, w, _ = b.shape(x.tensor)
    top, bottom, left, right = x.pads
    padding = op.options.get("padding", P.VALID)
    axes = ((h, k[0], s[0], top, bottom), (w, k[1], s[1], left, right))
    for ceil in (True, False):
        found = [_pool_axis(*axis, padding, avg, x.pad_value, zero, ceil) for axis in axes]
        divisors = found[0][1] & found[1][1]
        if divisors:
            return tuple(lead for lead, _ in found), min(divisors), ceil   # Caffe's divisor where both agree
    n, kk, ss = ([a for a, (_, d) in zip(axes, found) if not d] or axes)[0][:3]    # an axis at fault
    raise b.error(op, f"pooling {kk}x{ss} (kernel x stride) with {'SAME' if padding == P.SAME else 'VALID'} "
                      f"padding and explicit pads {list(x.pads)} on {n} cells: its windows"
                      f"{' and divisors' if avg else ''} are not the IR's (Caffe's) windows for any padding",
                  expected="a pooling whose windows the IR expresses (Caffe's ceil mode or floor mode)")
