"""Where nnbuild's own files are, in a checkout and in an installed package alike: the firmware
templates (C kernels, app, boards, sources.json) are `firmware_template/` beside this module (a
link to the checkout's top-level folder; package data in a wheel)."""
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATE_DIR = Path(__file__).parent.joinpath("firmware_template").resolve()
