"""cache=DIR across checkouts: two copies of the repository in different directories share one
SCons cache. The second build runs no import, quantize, codegen, compile, link or gate step (each
artifact is "Retrieved ... from cache") and its firmware is byte-identical: no signature depends
on where a checkout lives (compile and link commands use project-relative paths, the model steps
sign manifest-relative paths and file contents)."""
import pytest

from conftest import needs_arm
from test_build import copy_repo, scons, steps

pytestmark = [needs_arm]


@pytest.mark.parametrize("scheme", ["q7", "int8"])
def test_second_checkout_retrieves_every_step_from_the_shared_cache(tmp_path, scheme):
    import yaml

    cache = tmp_path / "shared cache"
    clones = [copy_repo(tmp_path / "first"), copy_repo(tmp_path / "elsewhere" / "second")]
    for repo in clones:
        doc = yaml.safe_load((repo / "models.yaml").read_text())
        doc["models"][0]["quantization"]["scheme"] = scheme
        (repo / "models.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    first = scons(clones[0], "target=m4", f"cache={cache}")
    assert {"import sample_digits", "quantize sample_digits", "codegen sample_digits"} <= steps(first)
    second = scons(clones[1], "target=m4", f"cache={cache}")
    assert steps(second) == set(), second.stdout          # no step line: nothing ran
    retrieved = [ln for ln in second.stdout.splitlines() if ln.startswith("Retrieved")]
    for artifact in ("graph.json", "quant.json", "sample_digits.c", "sample_digits.o", "nn_conv2d_q7.o",
                     "firmware.unchecked.elf", "firmware.elf", "firmware.bin", "memory_map.json"):
        assert any(artifact in ln for ln in retrieved), (artifact, second.stdout)
    for name in ("firmware.elf", "firmware.bin", "firmware.hex"):
        a, b = (c / "build" / "m4" / name for c in clones)
        assert a.read_bytes() == b.read_bytes(), name
