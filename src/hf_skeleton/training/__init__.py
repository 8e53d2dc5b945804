"""Collators and training recipes (TRL SFTTrainer stages). Heavy imports (trl, peft) stay inside the
recipe modules so that importing the collators is cheap."""

from ..processing.collators import IGNORE_INDEX, SkeletonSFTCollator, build_labels, chat_prompt

__all__ = ["IGNORE_INDEX", "SkeletonSFTCollator", "build_labels", "chat_prompt"]
