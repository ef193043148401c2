"""The suite's file order (tests/suite_order.py, conftest.py): heaviest files first, a file's tests
in their own order, unmeasured files last; the committed durations file is well-formed."""
import json

import pytest

import suite_order
from conftest import DURATIONS, ROOT

IDS = ["tests/test_a.py::t1", "tests/test_a.py::t2[x]", "tests/test_b.py::t1",
       "tests/test_c.py::K::t1", "tests/test_c.py::K::t0", "tests/test_d.py::t9", "tests/test_d.py::t1"]


def _ordered(seconds):
    return [IDS[i] for i in suite_order.heaviest_first(IDS, seconds)]


def test_heaviest_files_first_each_file_in_its_own_order():
    got = _ordered({"tests/test_a.py": 1.0, "tests/test_c.py": 30.0, "tests/test_d.py": 5.0})
    assert got == ["tests/test_c.py::K::t1", "tests/test_c.py::K::t0", "tests/test_d.py::t9",
                   "tests/test_d.py::t1", "tests/test_a.py::t1", "tests/test_a.py::t2[x]",
                   "tests/test_b.py::t1"]   # test_b: not measured, last


def test_unmeasured_files_keep_their_collected_order_after_the_measured_ones():
    assert _ordered({"tests/test_d.py": 0.0}) == IDS[5:] + IDS[:5]
    assert _ordered({}) == IDS


def test_totals_sum_every_phase_per_file_and_round_trip():
    reports = [("tests/test_a.py::t1", 0.5), ("tests/test_a.py::t1", 2.0), ("tests/test_b.py::t[1]", 0.25),
               ("tests/test_a.py::t2", 1.0)]
    totals = suite_order.file_totals(reports)
    assert totals == {"tests/test_a.py": 3.5, "tests/test_b.py": 0.25}
    text = suite_order.dumps(totals)
    assert list(json.loads(text)) == ["tests/test_a.py", "tests/test_b.py"]
    assert suite_order.loads(text, "d.json") == {"tests/test_a.py": 3.5, "tests/test_b.py": 0.2}


@pytest.mark.parametrize("text", ["[1, 2]", '{"tests/test_a.py": -1}', '{"x": "9"}', '{"x": true}',
                                  '{"x": NaN}', "{"])
def test_a_malformed_durations_file_is_named_in_one_line(text):
    with pytest.raises(ValueError, match=r"^d\.json: .*expected"):
        suite_order.loads(text, "d.json")


def test_the_committed_durations_name_existing_test_files():
    seconds = suite_order.loads(DURATIONS.read_text(), DURATIONS)
    assert seconds, "tests/durations.json is empty"
    missing = [f for f in seconds if not (ROOT / f).is_file()]
    assert not missing, f"tests/durations.json names files that are gone: {missing}"
