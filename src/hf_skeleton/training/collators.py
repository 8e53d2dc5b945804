"""The SFT collator and chat helpers live in :mod:`hf_skeleton.processing` (evaluation and pipelines use
them too); this module keeps the old import path."""

from ..processing.collators import (  # noqa: F401
    IGNORE_INDEX,
    SkeletonSFTCollator,
    answer_suffix,
    build_labels,
    chat_prompt,
    placeholder_of,
)
