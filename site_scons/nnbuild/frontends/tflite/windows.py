"""TFLite padding (SAME / VALID, after an explicit PAD folded in) as the IR's symmetric padding:
a convolution where TFLite's leading padding and output size are the IR's (or are with one zero
tap in front of the filter: SAME with one more cell at the end); a pooling where every
window and, for an average, every divisor is the IR's (Caffe's ceil-mode windows, padding counted
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


def pool_pad(b, op, x, k, s, avg, zero):
    """(pad, exclude_pad): the IR's (Caffe's) pad whose windows are TFLite's, and for an average
    the divisor that is TFLite's (Caffe's, counting padding as real 0, where that is TFLite's
    count; else exclude_pad, the window's input cells, as SAME divides), or an error."""
    h, w, _ = b.shape(x.tensor)
    top, bottom, left, right = x.pads
    padding = op.options.get("padding", P.VALID)
    pads, divisors = [], {False, True} if avg else {False}
    for n, kk, ss, before, after in ((h, k[0], s[0], top, bottom), (w, k[1], s[1], left, right)):
        size = n + before + after
        out, lead = _axis_pad(n, kk, ss, 1, padding, before, after)
        tfl = []
        for o in range(max(out, 0)):
            a = o * ss - (lead - before)                  # window start in the padded tensor
            lo, hi = max(a, 0), min(a + kk, size)         # TFLite clips to the (explicitly) padded tensor
            tfl.append((max(lo - before, 0), min(hi - before, n), hi - lo, lo < before or hi > before + n))
        ok = out >= 1 and ir.pool_output_size(n, kk, ss, lead) == out and not ir.pool_has_empty_window(n, kk, ss, lead)
        for o, (start, end, count, touches_pad) in enumerate(tfl if ok else ()):
            c_start, c_end, c_count = ir.pool_window(o, kk, ss, lead, n)
            if (start, end) != (c_start, c_end) or end <= start:
                ok = False
            elif avg:
                if count != c_count or (touches_pad and x.pad_value != zero):
                    divisors.discard(False)               # Caffe's divisor counts padding (real 0)
                if count != end - start:
                    divisors.discard(True)                # TFLite counts explicitly padded cells here
            elif touches_pad and x.pad_value > zero:
                ok = False                                # max: padding never above a real value
        if not ok or not divisors:
            raise b.error(op, f"pooling {kk}x{ss} (kernel x stride) with {'SAME' if padding == P.SAME else 'VALID'} "
                              f"padding and explicit pads {list(x.pads)} on {n} cells: its windows"
                              f"{' and divisors' if avg else ''} are not the IR's (Caffe's) windows for any padding",
                          expected="a pooling whose windows the IR expresses")
        pads.append(lead)
    return tuple(pads), min(divisors)       # Caffe's where both agree: the graph as before
