"""C code generation: one model -> <name>.h/.c (model.py); all models -> nn_models.c (registry.py)."""
from .model import generate
from .registry import generate_registry
from .tables import softmax_exp_table

__all__ = ["generate", "generate_model", "generate_registry", "softmax_exp_table"]


def generate_model(qgraph, out_dir, name):
    """lower -> plan -> generate in one call; returns (steps, plan, [header, source])."""
    from ..lower import lower
    from ..planner import plan as make_plan
    steps = lower(qgraph)
    p = make_plan(steps, qgraph)
    return steps, p, generate(qgraph, p, steps, out_dir, name)
