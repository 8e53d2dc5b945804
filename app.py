"""Hugging Face Space entry point: ``python app.py`` serves hf_skeleton's app (the same page as
``hf-skeleton app``; see README, "The app"). Needs the ``app`` extra: ``pip install '.[app]'``."""

import sys
from pathlib import Path

try:
    import hf_skeleton  # noqa: F401
except ImportError:  # the repository run without installing it: use its src/ folder
    sys.path.insert(0, str(Path(__file__).resolve().parent / "src"))

from hf_skeleton.app import build_app

demo = build_app()

if __name__ == "__main__":
    demo.launch()
