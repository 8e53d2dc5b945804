"""The SFT collator and chat helpers live in :mod:`hf_skeleton.processing.collators` (evaluation and
pipelines use them too); this module keeps the old import path."""

from ..processing.collators import *  # noqa: F401,F403
from ..processing.collators import __all__  # noqa: F401
