"""Collators and training recipes (TRL SFTTrainer stages). Heavy imports (trl, peft) stay inside the
recipe modules so that importing the collators is cheap. :func:`train_llamo`, :func:`train_skeleton_llm`,
:func:`train_vgmt` and :func:`train_superman` run the recipes from Python, on our recordings or on any converted
dataset (``dataset=``)."""

from ..processing.collators import IGNORE_INDEX, SkeletonSFTCollator, build_labels, chat_prompt
from .api import train_llamo, train_skeleton_llm, train_superman, train_vgmt

__all__ = ["IGNORE_INDEX", "SkeletonSFTCollator", "build_labels", "chat_prompt", "train_llamo", "train_skeleton_llm",
           "train_superman", "train_vgmt"]
