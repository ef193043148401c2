"""int8 MEAN over H and W (an imported model's MEAN: avg_pool marked `tflite_mean`): golden ==
TensorFlow Lite Micro on every possible sum and on random shapes, scales and zero points; the
writer gives MEAN back byte for byte; host C == golden; what int32 cannot hold is refused."""
import numpy as np
import pytest

from conftest import needs_qemu
from test_tflite_frontend import MEAN, SCALE, B, S, T, Tfl, _pixels, _write, load_int8
from tflm_oracle import run_tflm

from nnbuild import golden
from nnbuild.errors import NnbuildError
from nnbuild.exporters import tflite
from nnbuild.quantize.int8 import golden as g8
from nnbuild.quantize.int8.ops.pool import mean_multiplier


def mean_model(h, w, c, q_in, q_out):
    """A one-op int8 MEAN over axes 1, 2 with keep_dims, input (scale, zp) q_in, output q_out."""
    m = Tfl()

    def quant(s, z):
        return {"scale": np.array([s], np.float32), "zero_point": np.array([z], np.int64), "dim": 0}
    x = m.tensor([1, h, w, c], T.INT8, quant=quant(*q_in))
    m.inputs = [x]
    out = m.op(B.MEAN, [x, m.const(np.array([1, 2], np.int32))], [1, 1, 1, c],
               (S.BuiltinOptions.ReducerOptions, (S.ReducerOptions, [(0, "bool", True)])), out_type=T.INT8)
    m.tensors[out]["quant"] = quant(*q_out)
    m.outputs = [out]
    return m.bytes()


def _golden_mean(x, q_in, q_out):
    n = x.shape[1] * x.shape[2]
    mult, shift = mean_multiplier(float(np.float32(q_in[0])) / float(np.float32(q_out[0])), n)
    return g8.mean(x, q_in[1], mult, shift, q_out[1], -128, 127)


@pytest.mark.parametrize("n,q_in,q_out", [(9, (0.07, -3), (0.07, -3)), (4, (0.07, 5), (0.07, 5)),
                                          (25, (0.07, 0), (0.07, 0)), (9, (0.05, 7), (0.02, -20)),
                                          (16, (0.3, -128), (0.9, 100)), (1, (0.1, 3), (0.1, 3))])
def test_every_sum_against_tflm(n, q_in, q_out):
    """One channel per possible sum of n int8 cells: golden.mean == TFLM's MEAN on all of them."""
    side = int(np.sqrt(n))
    sums = np.arange(-128 * n, 127 * n + 1)
    xs = np.full((len(sums), n), -128, np.int64)        # fill cells from -128 upwards to reach each sum
    rest = sums + 128 * n
    for c in range(n):
        xs[:, c] += np.minimum(rest, 255)
        rest = rest - np.minimum(rest, 255)
    x = xs.astype(np.int8).reshape(-1, side, side, 1)
    got = run_tflm(mean_model(side, side, 1, q_in, q_out), x).reshape(-1)
    want = _golden_mean(x, q_in, q_out).reshape(-1)
    assert np.array_equal(got, want) and len(np.unique(want)) > 3, (n, q_in, q_out)


def _random_cases(k, seed=12):
    rng = np.random.default_rng(seed)
    for _ in range(k):
        h, w, c = (int(v) for v in rng.integers(1, 9, 3))
        s_in = float(rng.uniform(0.01, 0.2))
        s_out = s_in * float(rng.choice([1.0, rng.uniform(0.3, 3.0)]))
        yield h, w, c, (s_in, int(rng.integers(-128, 128))), (s_out, int(rng.integers(-128, 128)))


@pytest.mark.parametrize("h,w,c,q_in,q_out", list(_random_cases(8)))
def test_imported_mean_runs_like_tflm_and_writes_back(tmp_path, h, w, c, q_in, q_out):
    data = mean_model(h, w, c, q_in, q_out)
    g = load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)
    assert [op.type for op in g.ops] == ["input_stage", "avg_pool"] and g.ops[1].attrs["tflite_mean"]
    rng = np.random.default_rng(h * 100 + w * 10 + c)
    x = rng.integers(-128, 128, (64, h, w, c)).astype(np.int8)
    got = run_tflm(data, x).reshape(64, 1, 1, c)
    assert np.array_equal(got, g8.mean(x, *(g.ops[1].attrs[k] for k in ("in_zp", "mean_mult", "mean_shift",
                                                                          "out_zp", "act_min", "act_max"))))
    assert np.array_equal(got, _golden_mean(x, q_in, q_out))
    again = tflite.export(g)                                  # the writer gives MEAN back
    (tmp_path / "re").mkdir()
    assert tflite.export(load_int8(_write(tmp_path / "re", again), mean=(MEAN,), scale=SCALE)) == again
    px = _pixels(g.tensors[g.input].shape, 16)
    r = golden.run(g, px, outputs=[g.ops[0].outputs[0], g.outputs[0]])
    assert np.array_equal(run_tflm(again, r[g.ops[0].outputs[0]]).reshape(r[g.outputs[0]].shape), r[g.outputs[0]])


def test_host_c_equals_golden(tmp_path):
    from nnbuild import lower, schedule
    from nnbuild.hostrun import generate_and_build

    for i, (h, w, c, q_in, q_out) in enumerate(_random_cases(3, seed=5)):
        g = load_int8(_write(tmp_path, mean_model(h, w, c, q_in, q_out)), mean=(MEAN,), scale=SCALE)
        steps = lower.lower(g)
        assert [s.kernel for s in steps][1:] == ["nn_mean_s8"] and steps[1].rows is None     # never row-banded
        assert not any(s.kernel == "nn_mean_s8" for c in schedule.chains(steps, g) for s in c)
        px = _pixels(g.tensors[g.input].shape, 24, i)
        want = golden.run(g, px).reshape(len(px), -1)
        for dsp in (False, True):
            host = generate_and_build(g, tmp_path / f"m{i}{dsp}", "mean", dsp=dsp)
            assert np.array_equal(host.run(px).reshape(want.shape), want), (i, dsp)


def test_a_left_shift_that_overflows_int32_is_refused(tmp_path):
    data = mean_model(8, 8, 2, (1.0, 0), (1e-7, 0))   # s_in / s_out = 1e7: a left shift of 18 after 1/64
    with pytest.raises(NnbuildError, match=r"int8 MEAN over 64 cells .* overflow int32"):
        load_int8(_write(tmp_path, data), mean=(MEAN,), scale=SCALE)


@needs_qemu
def test_qemu_m4_equals_golden(tmp_path):
    from test_tflite_frontend import assert_qemu_m4_equals_golden

    _write(tmp_path, mean_model(5, 3, 8, (0.05, 20), (0.02, -39)))
    assert_qemu_m4_equals_golden(tmp_path, load_int8(tmp_path / "m.tflite", mean=(MEAN,), scale=SCALE))
