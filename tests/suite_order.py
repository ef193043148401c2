"""The order in which the suite's files start (conftest.py's collection hook), and the measured
seconds it is taken from (tests/durations.json).

Under `./dev test` each pytest-xdist worker takes a whole file at a time (--dist loadfile), in
collection order; a heavy file taken last keeps one worker busy while the other idles. Starting
the heaviest files first (longest-processing-time first) keeps both busy to the end. Pure
functions on node ids, so that they are tested without running a suite."""
import json
import math


def file_of(nodeid):
    """The file part of a test's node id: the unit that --dist loadfile gives one worker."""
    return nodeid.split("::", 1)[0]


def heaviest_first(nodeids, seconds):
    """Indices into `nodeids` (collection order): files by their `seconds` (dict file -> seconds),
    heaviest first; files without a figure last, in their collected order. Stable: the tests of a
    file keep their order (pytest groups them by fixture parameters)."""
    def key(i):
        s = seconds.get(file_of(nodeids[i]))
        return (0, -s) if s is not None else (1, 0)
    return sorted(range(len(nodeids)), key=key)


def file_totals(reports):
    """{file: seconds} summed over (nodeid, duration) pairs: every phase of every test, as
    pytest reports them (setup, call, teardown), so module fixtures count where they are built."""
    totals = {}
    for nodeid, duration in reports:
        totals[file_of(nodeid)] = totals.get(file_of(nodeid), 0.0) + duration
    return totals


def dumps(totals):
    """The durations file's text: heaviest first, tenths of a second."""
    ordered = sorted(totals.items(), key=lambda kv: (-kv[1], kv[0]))
    return json.dumps({f: round(s, 1) for f, s in ordered}, indent=1) + "\n"


def loads(text, path):
    """The durations file's {file: seconds}; a ValueError that names `path` when it is not an
    object of finite non-negative numbers."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise ValueError(f"{path}: not JSON ({e}); expected {{\"tests/test_x.py\": seconds, ...}}") from None
    if not isinstance(doc, dict) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0
            for v in doc.values()):
        raise ValueError(f"{path}: expected an object {{\"tests/test_x.py\": seconds, ...}} of "
                         "non-negative numbers")
    return {str(k): float(v) for k, v in doc.items()}
