"""The build report: report.json (data.collect) and report.html (page.render of that JSON only).

    write(report, json_path, html_path)    both files, each written atomically
    load_plans({model: plan.json})         the codegen step's plans
    add_bench(report, bench)               a copy of a gate's report with one model's bench counts
"""
import json

from ..errors import NnbuildError, atomic_write
from . import data
from .data import collect
from .page import render

__all__ = ["add_bench", "collect", "load_plans", "render", "write"]


def _read_json(path, what):
    try:
        with open(path) as f:
            return json.load(f)
    except OSError as e:
        raise NnbuildError(f"cannot read {what}: {e.strerror}", file=path,
                           expected="the file written by scons for this target") from None
    except ValueError as e:
        raise NnbuildError(f"{what} is not valid JSON: {e}", file=path) from None


def load_plans(paths):
    return {name: _read_json(path, "the memory plan") for name, path in sorted(paths.items())}


def load(path):
    report = _read_json(path, "the build report data")
    if not isinstance(report, dict) or report.get("format") != data.FORMAT:
        raise NnbuildError("not a build report of this nnbuild version", file=path,
                           expected=f"report.json with format {data.FORMAT} (rebuild with scons)")
    return report


def add_bench(report, bench):
    """`report` (a gate's) with `bench` (firmware.bench's dict for one model) joined in."""
    plans = {name: m["plan"] for name, m in report["models"].items()}
    benches = {name: m["bench"] | {"layers": [{"name": lay["name"], "op": lay["op"],
                                              "instructions": lay["instructions"]} for lay in m["layers"]]}
               for name, m in report["models"].items() if m["bench"]}
    if bench["model"] not in plans:
        raise NnbuildError(f"model '{bench['model']}' is not in the build report",
                           expected="one of " + ", ".join(plans))
    benches[bench["model"]] = bench
    return collect(report["memory"], plans, report["violations"], benches)


def write(report, json_path, html_path):
    """report.json then report.html (its rendering): a reader never sees a page without its data."""
    text = json.dumps(report, indent=1, sort_keys=True) + "\n"
    page = render(json.loads(text))      # the page shows exactly what the JSON holds
    with atomic_write(json_path, "w") as f:
        f.write(text)
    with atomic_write(html_path, "w") as f:
        f.write(page)
