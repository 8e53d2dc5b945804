"""Shared builders and fixtures of the superman tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hf_skeleton.testing import tiny_superman

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return tiny_superman(use_maft=True, maft_num_heads=2, maft_num_points=2)


def _motion(T=16, seed=0):
    return np.random.default_rng(seed).normal(scale=0.05, size=(T, 17, 3)).cumsum(0).astype(np.float32)
