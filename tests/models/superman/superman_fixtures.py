"""Shared builders and fixtures of the superman tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from hf_skeleton.testing import build_tiny_tokenizer, tiny_superman, tiny_text_config

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return tiny_superman(use_maft=True, maft_num_heads=2, maft_num_points=2)


def _motion(T=16, seed=0):
    return np.random.default_rng(seed).normal(scale=0.05, size=(T, 17, 3)).cumsum(0).astype(np.float32)


def save_tiny_llama(folder: Path, tied: bool) -> Path:
    """A tiny random Llama causal LM (the SmolLM2 family; head tied or not) and its tokenizer saved to ``folder``."""
    tokenizer = build_tiny_tokenizer(extra_texts=["Predict the next frames of this motion"])
    config = tiny_text_config(tokenizer, hidden_size=32, layers=1, model_type="llama")
    config.tie_word_embeddings = tied
    torch.manual_seed(0)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
