"""Collators and training recipes (TRL SFTTrainer stages). Heavy imports (trl, peft) stay inside the
recipe modules so that importing the collators is cheap. :func:`train_llamo` and :func:`train_skeleton_llm`
run the recipes from Python, on N-UCLA or on any converted dataset (``dataset=``)."""

from ..processing.collators import IGNORE_INDEX, SkeletonSFTCollator, build_labels, chat_prompt
from .api import train_llamo, train_skeleton_llm

__all__ = ["IGNORE_INDEX", "SkeletonSFTCollator", "build_labels", "chat_prompt", "train_llamo", "train_skeleton_llm"]
