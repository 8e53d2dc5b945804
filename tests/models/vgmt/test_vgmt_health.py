"""Codebook health: usage classes relative to uniform usage, perplexity, pairwise cosine distribution."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.evaluation import codebook_health, pairwise_cosine, perplexity


def test_uniform_usage_is_healthy():
    h = codebook_health(np.tile(np.arange(16), 5), 16)
    assert (h.active, h.unused, h.frequent, h.underused) == (1.0, 0.0, 0.0, 0.0)
    assert h.perplexity == pytest.approx(16.0) and h.normalized_perplexity == pytest.approx(1.0)


def test_usage_classes_by_hand():
    # K = 10, N = 40 tokens: uniform usage u = 4; frequent > 8, underused < 2
    codes = [0] * 20 + [1] * 9 + [2] * 5 + [3] * 4 + [4] * 1 + [5] * 1
    h = codebook_health(np.array(codes), 10)
    assert h.frequent == pytest.approx(0.2)  # codes 0, 1
    assert h.underused == pytest.approx(0.2)  # codes 4, 5
    assert h.unused == pytest.approx(0.4) and h.active == pytest.approx(0.6)
    p = np.array([20, 9, 5, 4, 1, 1]) / 40
    assert h.perplexity == pytest.approx(np.exp(-(p * np.log(p)).sum()))
    assert perplexity(np.array([7, 0, 0])) == pytest.approx(1.0)
    with pytest.raises(SkeletonInputError):
        codebook_health(np.array([10]), 10)


def test_cosine_distribution():
    rng = np.random.default_rng(0)
    e = rng.normal(size=(30, 5))
    cos = pairwise_cosine(e, chunk=7)
    n = e / np.linalg.norm(e, axis=1, keepdims=True)
    brute = np.array([n[i] @ n[j] for i, j in itertools.combinations(range(30), 2)])
    np.testing.assert_allclose(cos, brute, atol=1e-6)
    h = codebook_health(np.arange(30), 30, embeddings=e)
    assert h.cosine_quantiles["0.5"] == pytest.approx(np.quantile(brute, 0.5), abs=1e-6)
    assert sum(h.cosine_histogram["counts"]) == len(brute)
    assert codebook_health(np.arange(4), 4, embeddings=np.eye(4)).cosine_mean == pytest.approx(0.0)
    assert codebook_health(np.arange(3), 3, embeddings=np.ones((3, 2))).cosine_quantiles["0.05"] == pytest.approx(1.0)
