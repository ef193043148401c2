"""C code generation from lowered steps and a memory plan: one model -> <name>.h/.c (model.py);
all models of a firmware -> nn_models.c (registry.py). Sequencing lower -> plan -> emit is the
pipeline's job (nnbuild.pipeline.generate_model)."""
from .model import generate
from .registry import generate_registry

__all__ = ["generate", "generate_registry"]
