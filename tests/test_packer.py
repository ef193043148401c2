"""The arena packer (planner.Packer, TFLite Micro's AddBuffer interface): over random lifetimes (one
interval, or several with dead gaps between them) no two buffers live at the same sub-step share
a byte, and the plan's peak is the true maximum of live bytes over sub-steps."""
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
        spans = None
        if last - first >= 2 and rng.random() < 0.4:   # live in some sub-steps only
            cut = sorted({first, last, *(int(t) for t in rng.integers(first, last + 1, 4))})
            spans = [(a, a + int(rng.integers(0, b - a + 1)) if b > a else a) for a, b in zip(cut, cut[1:])]
            spans = [(a, min(b, last)) for a, b in spans] + [(last, last)]
        p.add_buffer(f"b{i}", size, first, last, spans=spans)
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
            if any(a.live_at(t) and b.live_at(t) for t in range(horizon)) and a.size and b.size:
                assert a.offset + aligned(a) <= b.offset or b.offset + aligned(b) <= a.offset, (a, b)
    # the true live bytes per sub-step, counted byte by byte over the placed arena
    for t in range(horizon):
        used = np.zeros(arena, dtype=int)
        for b in bufs:
            if any(x <= t <= y for x, y in (b.spans or [(b.start, b.end)])):
                used[b.offset:b.offset + aligned(b)] += 1
        assert used.max(initial=0) <= 1
        assert p.live_bytes(t) == int(used.sum())
    assert arena >= max(p.live_bytes(t) for t in range(horizon))


def test_bad_buffers_are_refused():
    p = Packer()
    p.add_buffer("a", 4, 0, 1)
    for args, spans in ((("a", 4, 0, 1), None), (("b", 4, 2, 1), None), (("c", -1, 0, 0), None),
                        (("d", 4, -1, 0), None), (("e", 4, 0, 5), [(1, 5)]), (("f", 4, 0, 5), [(0, 2)]),
                        (("g", 4, 0, 5), [(0, 1), (4, 3), (5, 5)])):
        with pytest.raises(AssertionError):
            p.add_buffer(*args, spans=spans)


def test_a_buffer_dead_between_its_spans_lends_its_bytes():
    p = Packer()
    p.add_buffer("row", 1024, 0, 4, spans=[(0, 1), (4, 4)])   # written, read; then again at 4
    p.add_buffer("scratch", 3200, 2, 3)                       # another step's, in the gap
    assert p.pack() == 3200 and p.buffers["row"].offset == p.buffers["scratch"].offset == 0
    assert [p.live_bytes(t) for t in range(5)] == [1024, 1024, 3200, 3200, 1024]
