"""Shared test fixtures: paths, the optional ../shared data, compiler availability; how the suite
is split between pytest-xdist workers (./dev test runs two) and the order its files start in."""
import fcntl
import os
import shutil
import sys
from pathlib import Path

import pytest

import suite_order

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "site_scons"))

SHARED = (ROOT.parent / "shared").resolve()   # CI clones the repo beside ../shared
CIFAR_DIR = SHARED / "models" / "cifar10_m4"
CIFAR_PROTOTXT = CIFAR_DIR / "cifar10_m4_train_test.prototxt"
CIFAR_H5 = CIFAR_DIR / "cifar10_m4_iter_70000.caffemodel.h5"
CIFAR_QUANT_CAFFEMODEL = CIFAR_DIR / "quantized_cifar10_m4_iter_70000.caffemodel"
CIFAR_MEAN = CIFAR_DIR / "mean.binaryproto"
CIFAR_CALIB = SHARED / "datasets" / "cifar10" / "calib.npz"
CIFAR_TEST = SHARED / "datasets" / "cifar10" / "test.npz"

needs_shared = pytest.mark.skipif(not CIFAR_H5.exists(), reason="../shared (real CIFAR-10 model) not present")
needs_arm = pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
needs_qemu = pytest.mark.skipif(shutil.which("qemu-system-arm") is None, reason="qemu-system-arm not installed")


@pytest.fixture(scope="session")
def root():
    return ROOT


@pytest.fixture(scope="session")
def cifar_graph():
    """The real cifar10_m4 float graph (prototxt as published + .caffemodel.h5 + mean), after the
    pipeline's graph passes, as the build imports it."""
    if not CIFAR_H5.exists():
        pytest.skip("../shared (real CIFAR-10 model) not present")
    from nnbuild import passes
    from nnbuild.frontends.caffe import load_caffe, load_mean

    mean = load_mean(CIFAR_MEAN, (32, 32, 3))
    return passes.run(load_caffe(CIFAR_PROTOTXT, CIFAR_H5, input_shape=(32, 32, 3), mean=mean, scale=1.0,
                                 channel_order="RGB"))


def assert_cli_import_refuses(tmp_path, fmt, model_file):
    """`nnbuild import` of tmp_path/model_file (format fmt) in a fresh interpreter: exit 1 with one
    line on stderr that names the file, no traceback, nothing written."""
    import os
    import subprocess

    (tmp_path / "models.yaml").write_text(f"version: 1\nmodels:\n  - name: bad\n    format: {fmt}\n"
                                          f"    model: {model_file}\n")
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "nnbuild.cli", "import", "--manifest", str(tmp_path / "models.yaml"),
                        "--model", "bad", "-o", str(out)], cwd=ROOT, capture_output=True, text=True,
                       env={"PYTHONPATH": str(ROOT / "site_scons"), "PATH": os.environ["PATH"]})
    assert r.returncode == 1 and model_file in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert not out.exists() or not any(out.iterdir())


# -- parallel runs (./dev test: pytest-xdist, 2 workers, --dist loadfile) -----------------------------
# Tests write under tmp_path (per worker), or host libraries into build/ that hostcc names by content
# and renames into place; those marked repo_build build in the checkout's own build/ (the default
# build dir of scons and of the nnbuild command), so they hold a lock on it, whichever worker (or
# other pytest run) they are in.
REPO_BUILD = ROOT / "build"


def pytest_configure(config):
    config.addinivalue_line("markers", "repo_build: writes the checkout's own build/ (default build dirs), "
                                       "under a lock")
    if config.pluginmanager.hasplugin("xdist"):
        config.option.loadscopereorder = False   # xdist would order files by test count: keep ours


@pytest.fixture(autouse=True)
def _repo_build_lock(request):
    if request.node.get_closest_marker("repo_build") is None:
        yield
        return
    REPO_BUILD.mkdir(exist_ok=True)
    with open(REPO_BUILD / ".pytest.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)     # released when the file closes, also if the test fails
        yield


# -- the order the files start in: heaviest first (tests/suite_order.py) ------------------------------
# tests/durations.json: each file's seconds, measured with --file-durations on a whole run; files it
# does not name (new ones) start last. Refresh it when a file's weight changes much:
#   ./dev test --file-durations=tests/durations.json
DURATIONS = Path(__file__).with_name("durations.json")


def pytest_addoption(parser):
    parser.addoption("--file-durations", metavar="PATH",
                     help="write each test file's total seconds (all phases) to PATH as JSON, heaviest "
                          "first (the suite's file order reads tests/durations.json)")


@pytest.hookimpl(trylast=True)   # after pytest's own regrouping by fixture parameters, inside files
def pytest_collection_modifyitems(config, items):
    try:
        seconds = suite_order.loads(DURATIONS.read_text(), DURATIONS) if DURATIONS.exists() else {}
    except ValueError as e:
        raise pytest.UsageError(str(e)) from None
    order = suite_order.heaviest_first([it.nodeid for it in items], seconds)
    items[:] = [items[i] for i in order]


_phase_seconds = []


def pytest_runtest_logreport(report):
    # under xdist the controller receives every worker's reports here
    _phase_seconds.append((report.nodeid, report.duration))


def pytest_sessionfinish(session):
    path = session.config.getoption("file_durations")
    if not path or hasattr(session.config, "workerinput"):   # the controller (or a serial run) writes
        return
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(suite_order.dumps(suite_order.file_totals(_phase_seconds)))
    os.replace(tmp, path)   # never a half-written file
