"""From inputs to model tensors: the :class:`SkeletonProcessor` (any clip -> normalised, padded tensors,
saved as ``preprocessor_config.json``), the interface of the models' processors that hold it
(:class:`SkeletonModelProcessor`, :class:`SkeletonTextProcessor`), chat prompts and label masks, and the
model-agnostic SFT collator (like transformers' ``data_collator``, below the trainers)."""

from . import collators as _collators
from .base import SkeletonModelProcessor, SkeletonTextProcessor, as_text_processor
from .collators import *
from .skeleton_processor import SkeletonProcessor

__all__ = _collators.__all__ + ["SkeletonModelProcessor", "SkeletonProcessor", "SkeletonTextProcessor",
                                "as_text_processor"]
