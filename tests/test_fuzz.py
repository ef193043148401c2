"""Fuzzing every parser of user files (tools/fuzz_parsers.py, run briefly and derandomized here):
mutated valid files, structurally generated ones and random bytes, each in a worker subprocess
under a 1 GiB address-space limit and a time limit. Only success or NnbuildError is acceptable.
Run the same targets longer with `tools/fuzz_parsers.py --examples N --seconds S`."""
import sys

import pytest
from conftest import ROOT

sys.path.insert(0, str(ROOT / "tools"))
import fuzz_parsers  # noqa: E402

EXAMPLES = 30


@pytest.fixture(scope="module")
def worker():
    w = fuzz_parsers.Worker()
    yield w
    w.close()


@pytest.mark.parametrize("target", fuzz_parsers.TARGETS)
def test_parser_accepts_or_explains(worker, target):
    stats = fuzz_parsers.fuzz(target, worker, EXAMPLES)
    assert stats.examples >= EXAMPLES // 2   # the inputs really ran


def test_worker_reports_what_is_not_acceptable():
    """The harness can fail: another exception, a memory bomb, a hang and a dying worker are each
    reported, and the worker is replaced after each."""
    w = fuzz_parsers.Worker(timeout=3)
    try:
        assert w.run("manifest", b"version: 1\nmodels: []\n", "m.yaml")["outcome"] == "error"
        assert w.run("image", fuzz_parsers.seeds("image")[0], "i.png")["outcome"] == "ok"
        crash = w.run("selftest", b"crash", "t")
        assert crash["outcome"] == "crash" and "ValueError: not an NnbuildError" in crash["detail"]
        memory = w.run("selftest", b"memory", "t")
        assert memory["outcome"] == "crash" and "MemoryError" in memory["detail"]
        assert w.run("selftest", b"hang", "t")["outcome"] == "timeout"
        assert w.run("selftest", b"exit", "t")["outcome"] == "died"
        assert w.run("selftest", b"fine", "t")["outcome"] == "ok"
    finally:
        w.close()


def test_tool_prints_json_and_saves_failing_inputs(tmp_path, capsys, monkeypatch):
    import json

    assert fuzz_parsers.main(["--examples", "5", "--targets", "mean", "--seed", "--out", str(tmp_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["targets"]["mean"]["examples"] == 5 and report["targets"]["mean"]["failures"] == []

    def crash_on_long_inputs(self, target, data, name):   # a pretend parser bug
        bad = len(data) > 3
        return {"outcome": "crash" if bad else "ok", "detail": "Traceback", "seconds": 0.0, "rss": 0}

    monkeypatch.setattr(fuzz_parsers.Worker, "run", crash_on_long_inputs)
    assert fuzz_parsers.main(["--examples", "20", "--targets", "npz", "--seed", "--out", str(tmp_path)]) == 1
    failure = json.loads(capsys.readouterr().out)["targets"]["npz"]["failures"][0]
    saved = open(failure["input"], "rb").read()
    assert failure["outcome"] == "crash" and len(saved) == 4   # shrunk to the smallest crashing input
