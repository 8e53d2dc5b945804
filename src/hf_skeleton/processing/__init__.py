"""From inputs to model tensors: chat prompts and label masks shared by every skeleton processor,
and the model-agnostic SFT collator (like transformers' ``data_collator``, below the trainers)."""

from .collators import (
    IGNORE_INDEX,
    SkeletonSFTCollator,
    answer_suffix,
    build_labels,
    chat_prompt,
    placeholder_of,
)

__all__ = ["IGNORE_INDEX", "SkeletonSFTCollator", "answer_suffix", "build_labels", "chat_prompt", "placeholder_of"]
