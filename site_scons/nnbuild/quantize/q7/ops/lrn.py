"""lrn in q7 with one lookup table: the window sum S of q^2 is exact in int32; the table gives
2^table_shift * scale(S)^-beta at S's index (exact for S < 64, then 5 significant bits after the
leading one: a float-like index, so small and large sums are both resolved to about 1.5 %);
out = requant(q * T[index(S)], shift)."""
import numpy as np

from ....ops.lrn import scale_terms, window_sums
from ....errors import NnbuildError
from .. import golden, params
from . import Rule, attr, register, where

EXACT = 64          # sums below this index the table directly
MANT = 32           # entries per octave above it


def table_index(s):
    """index(S) for int64 sums (C: nn_lrn_index in kernels/ref/nn_lrn_q7.c)."""
    s = np.asarray(s, np.int64)
    e = np.zeros_like(s)
    for t in range(40):
        e += (s >> t) >= EXACT
    safe_e = np.maximum(e, 1)
    m = (s + (np.int64(1) << (safe_e - 1))) >> safe_e
    bump = m == EXACT
    m = np.where(bump, EXACT // 2, m)
    e2 = e + bump
    return np.where(s < EXACT, s, EXACT + (e2 - 1) * MANT + (m - EXACT // 2))


def index_value(idx):
    """The sum an index stands for (its table entry is computed there)."""
    idx = np.asarray(idx, np.int64)
    e = (idx - EXACT) // MANT + 1
    m = (idx - EXACT) % MANT + EXACT // 2
    return np.where(idx < EXACT, idx, m << np.maximum(e, 0))


def max_window_sum(op):
    n = int(op.attrs["local_size"])
    return (n if op.attrs["region"] == "across" else n * n) * 128 * 128


def _params(graph, op, f_in, f_out, warnings):
    k, a = scale_terms(op)
    beta = float(op.attrs["beta"])
    size = int(table_index(max_window_sum(op))) + 1
    real_sums = index_value(np.arange(size)).astype(np.float64) * 2.0 ** (-2 * f_in[0])
    values = (k + a * real_sums) ** -beta
    top = float(values.max())
    if not np.isfinite(top) or top <= 0:
        raise NnbuildError(f"the normaliser (k + alpha * sum)^-beta reaches {top:g}", where=where(op),
                           expected="k > 0 and finite alpha, beta")
    ft = 30
    while ft > -30 and top * 2.0 ** ft > 32767.5:
        ft -= 1
    s = f_in[0] + ft - f_out
    if not -31 <= s <= params.MAX_OUT_SHIFT:
        raise NnbuildError(f"output shift {s} is outside -31..31", where=where(op),
                           expected="activation ranges the int32 kernel can rescale")
    return {"shift": s}, {"table": np.round(values * 2.0 ** ft).astype(np.int16)}


def lrn(x, table, n, region, shift):
    x = np.asarray(x, np.int64)
    idx = table_index(window_sums(x * x, int(n), region))
    return golden.requant(x * np.asarray(table, np.int64)[idx], int(shift))


register("lrn", Rule(_params, lambda op, args: lrn(args[0], op.params["table"], op.attrs["local_size"],
                                                   op.attrs["region"], attr(op, "shift", 0))))
