"""bench's per-layer figures for streamed models: one entry per fused group, never a per-step
number the firmware cannot measure (inside a group the steps interleave row by row)."""
import json

from nnbuild.firmware import _plan_groups, fuse_group_layers


def _layers():
    return [{"name": n, "op": op, "instructions": ins, "macs": macs, "cycles_estimate": cyc}
            for n, op, ins, macs, cyc in (("input_stage", "input_stage", 60, 0, 80),
                                          ("conv1", "conv2d", 62, 100, 70),
                                          ("pool1", "max_pool", 5000, 0, 6000),
                                          ("conv2", "conv2d", 900, 400, 1200))]


def test_a_group_becomes_one_entry_with_summed_figures():
    got = fuse_group_layers(_layers(), [[0, 1, 2]])
    assert [g["name"] for g in got] == ["input_stage -> conv1 -> pool1", "conv2"]
    assert got[0] == {"name": "input_stage -> conv1 -> pool1", "op": "fused_group", "instructions": 5122,
                      "macs": 100, "cycles_estimate": 6150}
    assert got[1]["op"] == "conv2d" and got[1]["instructions"] == 900


def test_layer_by_layer_is_unchanged_and_unmeasured_stays_unmeasured():
    assert fuse_group_layers(_layers(), []) == _layers()
    layers = _layers()
    layers[1]["instructions"] = None               # built without profiling
    assert fuse_group_layers(layers, [[1, 2]])[1]["instructions"] is None


def test_plan_groups_reads_the_schedule_of_plan_json(tmp_path):
    p = tmp_path / "plan.json"
    assert _plan_groups(p) == []                    # no plan written: layer by layer
    p.write_text(json.dumps({"arena_bytes": 8, "schedule": {"groups": [{"steps": [0, 1], "names": ["a", "b"]}]}}))
    assert _plan_groups(p) == [[0, 1]]
    p.write_text(json.dumps({"arena_bytes": 8}))
    assert _plan_groups(p) == []
