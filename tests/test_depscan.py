"""Build steps' tool code found by scanning imports (depscan), and the rebuilds that follow from it."""
import textwrap

import pytest

from conftest import needs_arm
from nnbuild import pipeline
from nnbuild.depscan import module_files
from nnbuild.errors import NnbuildError


def rel(paths, root=pipeline.PACKAGE_DIR):
    return [str(p.relative_to(root)) for p in paths]


def test_quantize_step_includes_calibration_and_imageio():
    files = rel(pipeline.step_sources("quantize"))
    for name in ("calibration.py", "imageio.py", "pipeline.py", "ir.py", "quantize/__init__.py", "__init__.py"):
        assert name in files, (name, files)


def test_each_step_gets_only_its_own_imports():
    """pipeline.py holds every step; a step's entry function selects its part of the module."""
    imp, code = (rel(pipeline.step_sources(s)) for s in ("import", "codegen"))
    assert "frontends/caffe/convert.py" in imp and not [f for f in imp if f.startswith(("quantize/", "codegen/"))], imp
    assert "lower.py" in code and "planner.py" in code and "calibration.py" not in code, code
    assert "memmap.py" in rel(pipeline.step_sources("gate"))


def test_result_is_sorted_and_deterministic():
    a = pipeline.step_sources("codegen")
    assert a == sorted(a) == pipeline.step_sources("codegen") and len(set(a)) == len(a)


def write_package(root, files):
    for name, text in files.items():
        p = root / "nnbuild" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text))
    return root / "nnbuild"


def test_scanner_follows_every_kind_of_package_import(tmp_path):
    pkg = write_package(tmp_path, {
        "__init__.py": "",
        "steps.py": """
            import os
            from . import base

            def step_a():
                helper()

            def helper():
                from .sub import deep          # inside a function, relative
                import nnbuild.absolute        # absolute, inside a function

            def step_b():
                from . import other
            """,
        "base.py": "import numpy\n",
        "sub/__init__.py": "",
        "sub/deep.py": "from .. import shared\nfrom ..newpkg.mod import thing\n",
        "shared.py": "",
        "newpkg/__init__.py": "",
        "newpkg/mod.py": "thing = 1\n",
        "absolute.py": "",
        "other.py": "from .never import x\n",
        "never.py": "x = 1\n",
        "unused.py": "",
    })
    files = rel(module_files(["nnbuild.steps:step_a"], pkg), pkg)
    assert files == ["__init__.py", "absolute.py", "base.py", "newpkg/__init__.py", "newpkg/mod.py",
                     "shared.py", "steps.py", "sub/__init__.py", "sub/deep.py"]
    whole = rel(module_files(["nnbuild.steps"], pkg), pkg)
    assert "other.py" in whole and "never.py" in whole and "unused.py" not in whole


def test_registry_loading_plugins_by_name_depends_on_every_plugin(tmp_path):
    """A registry package that imports its plug-ins by computed name (pkgutil + importlib):
    every module and subpackage beside it counts, and a new plug-in file is found by itself."""
    pkg = write_package(tmp_path, {
        "__init__.py": "",
        "step.py": "def run():\n    from . import ops\n    import importlib\n"
                   "    importlib.import_module('nnbuild.fixed')\n",
        "fixed.py": "",
        "other.py": "",
        "ops/__init__.py": """
            import importlib, pkgutil
            for m in pkgutil.iter_modules(__path__):
                importlib.import_module(f"{__name__}.{m.name}")
            """,
        "ops/conv.py": "from .. import shared_util\n",
        "ops/pool.py": "",
        "ops/fancy/__init__.py": "",
        "shared_util.py": "",
    })
    known = {}
    files = rel(module_files(["nnbuild.step:run"], pkg, known=known), pkg)
    assert files == ["__init__.py", "fixed.py", "ops/__init__.py", "ops/conv.py", "ops/fancy/__init__.py",
                     "ops/pool.py", "shared_util.py", "step.py"], files
    (pkg / "ops" / "relu.py").write_text("")
    assert "ops/relu.py" in rel(module_files(["nnbuild.step:run"], pkg, known=known), pkg)


def test_cache_of_scanned_modules_gives_the_same_answer_without_parsing(monkeypatch):
    from nnbuild import depscan

    known = {}
    first = pipeline.step_sources("quantize", known=known)
    assert known and all(":" in k for k in known)
    parsed = []
    real = depscan._parse
    monkeypatch.setattr(depscan, "_parse", lambda path, data: parsed.append(path.name) or real(path, data))
    monkeypatch.setattr(depscan, "_TREES", {})    # as in a new process
    assert pipeline.step_sources("quantize", known=known) == first
    assert parsed == []                           # no .py file changed: the recorded answer
    for k in [k for k in known if k.startswith("@result:")]:
        del known[k]                              # some file changed: rescan, parsing only...
    assert pipeline.step_sources("quantize", known=known) == first
    assert parsed == ["pipeline.py"], parsed      # ...the entry module, for its entry function


@pytest.mark.parametrize("entries, files, match", [
    (["nnbuild.nope"], {"__init__.py": ""}, "entry module 'nnbuild.nope' not found"),
    (["nnbuild.m:missing"], {"__init__.py": "", "m.py": "def f(): pass\n"}, "'missing' is not a function"),
    (["nnbuild.m"], {"__init__.py": "", "m.py": "def f(:\n"}, r"m\.py, line 1.*cannot scan"),
])
def test_bad_entries_and_unparsable_code_are_clear_errors(tmp_path, entries, files, match):
    pkg = write_package(tmp_path, files)
    with pytest.raises(NnbuildError, match=match):
        module_files(entries, pkg)


@needs_arm
def test_touching_tool_code_rebuilds_only_the_steps_that_import_it(tmp_path):
    from test_build import copy_repo, scons, steps

    repo = copy_repo(tmp_path / "repo")
    scons(repo, "target=m4")
    pkg = repo / "site_scons" / "nnbuild"
    (pkg / "cli.py").write_text((pkg / "cli.py").read_text() + "\n# not imported by any step\n")
    (pkg / "brand_new.py").write_text("# a new module nothing imports yet\n")
    assert steps(scons(repo, "target=m4")) == set()
    (pkg / "imageio.py").write_text((pkg / "imageio.py").read_text() + "\n# imported by calibration\n")
    ran = steps(scons(repo, "target=m4"))
    assert "quantize sample_digits" in ran and "import sample_digits" not in ran, ran
