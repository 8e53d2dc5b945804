"""Codebook health of a vector-quantised tokenizer: usage shares, perplexity, code similarity.

Usage classes are defined relative to uniform usage u = N / K (N tokens counted, K codes):
- unused: count 0;
- underused: 0 < count < ``underused_ratio`` * u (default 0.5 u);
- frequent: count > ``frequent_ratio`` * u (default 2 u);
- active: count > 0 (every used code, frequent and underused included).
Perplexity is exp(entropy) of the usage distribution (K when usage is uniform, 1 when one code takes
everything). The similarity distribution is that of the cosine similarity over all pairs of distinct
codes (Superman Fig. 7: a healthy codebook has codes that are not near-duplicates).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from ..errors import SkeletonInputError

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)


@dataclass
class CodebookHealth:
    num_codes: int
    num_tokens: int
    frequent: float
    active: float
    underused: float
    unused: float
    perplexity: float
    normalized_perplexity: float
    cosine_quantiles: dict = field(default_factory=dict)
    cosine_mean: float | None = None
    cosine_histogram: dict | None = None

    def to_dict(self) -> dict:
        return asdict(self)


def code_counts(codes, num_codes: int) -> np.ndarray:
    """Usage count of each code id in ``codes`` (any shape)."""
    c = np.asarray(codes.detach().cpu().numpy() if hasattr(codes, "detach") else codes).reshape(-1)
    if c.size and (not np.issubdtype(c.dtype, np.integer) or c.min() < 0 or c.max() >= num_codes):
        raise SkeletonInputError("codes", f"integer ids in [0, {num_codes - 1}]",
                                 (str(c.dtype), c.min(), c.max()))
    return np.bincount(c.astype(np.int64), minlength=num_codes)


def perplexity(counts: np.ndarray) -> float:
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    if total == 0:
        return 0.0
    p = counts[counts > 0] / total
    return float(np.exp(-(p * np.log(p)).sum()))


def pairwise_cosine(embeddings, chunk: int = 1024) -> np.ndarray:
    """Cosine similarity of every pair i < j of rows of ``embeddings`` (K, D), as a flat float32 array."""
    e = np.asarray(embeddings.detach().cpu().float().numpy() if hasattr(embeddings, "detach") else embeddings,
                   np.float32)
    if e.ndim != 2 or e.shape[0] < 2:
        raise SkeletonInputError("embeddings", "an array (K >= 2, D)", e.shape)
    e = e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12)
    K = e.shape[0]
    out = np.empty(K * (K - 1) // 2, np.float32)
    pos = 0
    for start in range(0, K, chunk):
        block = e[start:start + chunk] @ e.T  # (b, K)
        for r in range(block.shape[0]):
            i = start + r
            row = block[r, i + 1:]
            out[pos:pos + row.size] = row
            pos += row.size
    return out


def codebook_health(codes, num_codes: int, embeddings=None, *, frequent_ratio: float = 2.0,
                    underused_ratio: float = 0.5, bins: int = 40) -> CodebookHealth:
    """Usage shares and perplexity of ``codes`` (ids of the tokens of an evaluation set) and, given
    the code vectors ``embeddings`` (K, D), the distribution of their pairwise cosine similarity."""
    counts = code_counts(codes, num_codes)
    n = int(counts.sum())
    if n == 0:
        raise SkeletonInputError("codes", "at least one token", 0)
    uniform = n / num_codes
    health = CodebookHealth(
        num_codes=num_codes, num_tokens=n,
        frequent=float((counts > frequent_ratio * uniform).mean()),
        active=float((counts > 0).mean()),
        underused=float(((counts > 0) & (counts < underused_ratio * uniform)).mean()),
        unused=float((counts == 0).mean()),
        perplexity=perplexity(counts), normalized_perplexity=perplexity(counts) / num_codes)
    if embeddings is not None:
        if len(embeddings) != num_codes:
            raise SkeletonInputError("embeddings", f"{num_codes} rows", len(embeddings))
        cos = pairwise_cosine(embeddings)
        health.cosine_quantiles = {str(q): float(v) for q, v in zip(QUANTILES, np.quantile(cos, QUANTILES))}
        health.cosine_mean = float(cos.mean(dtype=np.float64))
        hist, edges = np.histogram(cos, bins=bins, range=(-1.0, 1.0))
        health.cosine_histogram = {"edges": edges.tolist(), "counts": hist.tolist()}
    return health
