"""firmware_template/sources.json (nnbuild.csources) agrees with the folders, and bad lists fail clearly."""
import json

import pytest

from nnbuild import csources, targets
from nnbuild.errors import NnbuildError

T = csources.TEMPLATE_DIR


def _rel(paths):
    return {p.relative_to(T).as_posix() for p in paths}


def test_every_c_file_on_disk_is_listed_and_every_listed_file_exists():
    # the one place that scans the folders: to prove the list complete
    on_disk = _rel(p for d in ("kernels", "app", "boards") for p in (T / d).rglob("*.c"))
    listed = set(csources.board_sources(root=T)) | set(csources.app_sources())
    for isa in csources.isas():
        listed |= set(csources.kernel_sources(isa))
    assert on_disk == _rel(listed)
    for d in csources.include_dirs():
        assert d.is_dir(), d
    assert (T / "kernels" / "nn_kernels.h").is_file()


def test_every_variant_file_has_a_ref_twin_and_replaces_it():
    ref = {p.name: p for p in csources.kernel_sources("ref")}
    assert all(p.parent.name == "ref" for p in ref.values())
    for isa in csources.isas():
        srcs = csources.kernel_sources(isa)
        assert sorted(p.name for p in srcs) == sorted(ref), isa   # same public functions
        for p in srcs:
            assert p.parent.name in ("ref", isa)
        own = [p for p in srcs if p.parent.name == isa]
        assert isa == "ref" or own, f"{isa} replaces nothing"


def test_one_public_function_per_file_named_after_it():
    header = (T / "kernels" / "nn_kernels.h").read_text()
    for p in csources.kernel_sources("ref"):
        # but the weight layout marker's file: a const per layout (tests/test_weight_layout.py)
        assert f" {p.stem}(" in header or p.stem == "nn_weight_layout", p.name


def test_isa_for_follows_the_target_table():
    assert {n: csources.isa_for(t) for n, t in targets.TARGETS.items()} == {
        "m0": "thumb1", "m3": "mla", "m4": "dsp", "m7": "dsp", "m33": "dsp", "m55": "mve", "host": "ref"}


def test_an_mve_variant_would_be_picked_for_helium_cores_over_dsp(tmp_path):
    doc = json.loads(csources.LIST_FILE.read_text())
    doc["kernels"]["isa"]["mve"] = {"base": "dsp", "sources": ["kernels/mve/nn_conv2d_q7.c"]}
    f = tmp_path / "sources.json"
    f.write_text(json.dumps(doc))
    assert csources.isa_for(targets.get_target("m55"), path=f) == "mve"
    assert csources.isa_for(targets.get_target("m4"), path=f) == "dsp"
    srcs = csources.kernel_sources_rel("mve", path=f)
    assert "kernels/mve/nn_conv2d_q7.c" in srcs and "kernels/dsp/nn_fc_q7.c" in srcs
    assert "kernels/ref/nn_add_q7.c" in srcs and len(srcs) == len(csources.kernel_sources("ref"))


def _broken(mutate):
    doc = json.loads(csources.LIST_FILE.read_text())
    mutate(doc)
    return doc


@pytest.mark.parametrize("mutate,where", [
    (lambda d: d.pop("app"), "top level"),
    (lambda d: d["kernels"]["isa"].pop("ref"), "kernels.isa"),
    (lambda d: d["kernels"]["isa"]["dsp"].update(base="neon"), "kernels.isa.dsp.base"),
    (lambda d: d["kernels"]["isa"]["ref"].update(base="dsp"), "kernels.isa.ref.base"),
    (lambda d: d["kernels"]["isa"]["ref"]["sources"].append("../x.c"), "kernels.isa.ref.sources"),
    (lambda d: d["app"]["sources"].append("app/nn_app.h"), "app.sources"),
    (lambda d: d["kernels"].update(include_dirs="kernels"), "kernels.include_dirs"),
    (lambda d: d["kernels"].update(size="kernels/dsp/nn_avgpool_q7.c"), "kernels.size"),
    (lambda d: d["kernels"].update(size=["kernels/dsp/nn_lrn_q7.c"]), "kernels.size: 'kernels/dsp/nn_lrn_q7.c'"),
])
def test_malformed_list_names_the_place(mutate, where):
    with pytest.raises(NnbuildError) as e:
        csources.parse(_broken(mutate), "sources.json")
    assert where in str(e.value) and "sources.json" in str(e.value)


def test_unreadable_list_and_unknown_isa_fail_clearly(tmp_path):
    bad = tmp_path / "sources.json"
    bad.write_text("{not json")
    with pytest.raises(NnbuildError, match="not valid JSON"):
        csources.kernel_sources("ref", path=bad)
    with pytest.raises(NnbuildError, match="cannot read"):
        csources.app_sources(path=tmp_path / "missing.json")
    with pytest.raises(NnbuildError, match="unknown kernel ISA variant 'neon'"):
        csources.kernel_sources("neon")
    assert csources.isas() == ["ref", "dsp", "mve", "mla", "thumb1"]
    assert csources.host_isas() == ["ref", "dsp", "mla", "thumb1"]
