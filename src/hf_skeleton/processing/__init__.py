"""From inputs to model tensors: chat prompts and label masks shared by every skeleton processor,
and the model-agnostic SFT collator (like transformers' ``data_collator``, below the trainers)."""

from .collators import *  # noqa: F401,F403
from .collators import __all__  # noqa: F401
