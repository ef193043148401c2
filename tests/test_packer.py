"""The arena packer (planner.Packer, TFLite Micro's AddBuffer interface): over random lifetimes no
two buffers live at the same sub-step share a byte, and the plan's peak is the true maximum of
live bytes over sub-steps."""
import numpy as np
import pytest

from nnbuild.planner import ALIGN, Packer


def _random_packer(rng):
    p = Packer()
    horizon = int(rng.integers(1, 40))
    for i in range(int(rng.integers(1, 30))):
        first = int(rng.integers(0, horizon))
        last = first + int(rng.integers(0, horizon - first))
        size = int(rng.choice([0, 1, 3, 4, 17, 100, 1024, int(rng.integers(1, 5000))]))
        p.add_buffer(f"b{i}", size, first, last)
    return p, horizon


@pytest.mark.parametrize("seed", range(300))
def test_random_lifetimes_never_overlap_and_peak_is_the_true_maximum(seed):
    p, horizon = _random_packer(np.random.default_rng(seed))
    arena = p.pack()
    bufs = list(p.buffers.values())
    aligned = lambda b: -(-b.size // ALIGN) * ALIGN
    for b in bufs:
        assert b.offset % ALIGN == 0 and b.offset + aligned(b) <= arena
    for i, a in enumerate(bufs):
        for b in bufs[i + 1:]:
            if a.start <= b.end and b.start <= a.end and a.size and b.size:
                assert a.offset + aligned(a) <= b.offset or b.offset + aligned(b) <= a.offset, (a, b)
    # the true live bytes per sub-step, counted byte by byte over the placed arena
    for t in range(horizon):
        used = np.zeros(arena, dtype=int)
        for b in bufs:
            if b.start <= t <= b.end:
                used[b.offset:b.offset + aligned(b)] += 1
        assert used.max(initial=0) <= 1
        assert p.live_bytes(t) == int(used.sum())
    assert arena >= max(p.live_bytes(t) for t in range(horizon))


def test_bad_buffers_are_refused():
    p = Packer()
    p.add_buffer("a", 4, 0, 1)
    for args in (("a", 4, 0, 1), ("b", 4, 2, 1), ("c", -1, 0, 0), ("d", 4, -1, 0)):
        with pytest.raises(AssertionError):
            p.add_buffer(*args)
