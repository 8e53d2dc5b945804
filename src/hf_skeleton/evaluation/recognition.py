"""Open-vocabulary recognition: score candidate labels by likelihood, and strict / lenient accuracy.

Model-agnostic: any causal model that takes the processor's batch (``input_ids``,
``attention_mask``, ``skeletons``, ...) and returns ``logits``, with a processor that follows the
skeleton protocol of :mod:`hf_skeleton.training.collators`.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from ..errors import SkeletonInputError
from ..training.collators import IGNORE_INDEX, SkeletonSFTCollator


def answer_log_likelihood(logits: torch.Tensor, labels: torch.Tensor, *, length_normalize: bool = False) -> torch.Tensor:
    """Sum (or mean) over positions with ``labels != -100`` of ``log p(labels[t] | tokens < t)``.

    Args:
        logits: (B, L, V) next-token logits aligned with the inputs (position t predicts t + 1).
        labels: (B, L) with -100 where no score is taken.
    Returns:
        (B,) float32.
    """
    shift_logits = logits[:, :-1].float()
    shift_labels = labels[:, 1:]
    valid = shift_labels != IGNORE_INDEX
    logp = torch.log_softmax(shift_logits, dim=-1)
    token_lp = logp.gather(-1, shift_labels.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    total = (token_lp * valid).sum(-1)
    if length_normalize:
        total = total / valid.sum(-1).clamp(min=1)
    return total


@torch.no_grad()
def score_candidate_labels(model: Any, processor: Any, sequences: Sequence[Any], prompt: str,
                           candidate_labels: Sequence[str], *, batch_size: int = 16,
                           length_normalize: bool = False, skeleton_format: str | None = None,
                           system: str | None = None, videos: Sequence[Any] | None = None,
                           **model_kwargs: Any) -> torch.Tensor:
    """Log-likelihood of every candidate label as the answer to ``prompt`` for every clip.

    Each (clip, candidate) pair is encoded as ``chat_prompt(prompt) + label + eos`` (the same text
    the :class:`~hf_skeleton.training.collators.SkeletonSFTCollator` trains on); the score is the
    sum of the log-probabilities of the label tokens and the closing token (the end token is what
    tells "pick up" from "pick up with one hand"), optionally divided by their number. Pairs are
    batched ``batch_size`` at a time, one forward pass per batch.

    Args:
        sequences: N clips (SkeletonSequence or arrays with ``skeleton_format``).
        candidate_labels: C label strings.
        videos: optional, one video per clip, passed to the processor as ``videos=``.
        model_kwargs: extra inputs for every forward.
    Returns:
        (N, C) float32 tensor.
    """
    if not candidate_labels or any(not isinstance(c, str) or not c.strip() for c in candidate_labels):
        raise SkeletonInputError("candidate_labels", "a non-empty list of non-empty strings", candidate_labels)
    if len(sequences) == 0:
        raise SkeletonInputError("sequences", "at least one clip", 0)
    if videos is not None and len(videos) != len(sequences):
        raise SkeletonInputError("videos", f"{len(sequences)} videos (one per clip)", len(videos))
    if batch_size < 1:
        raise SkeletonInputError("batch_size", "a positive integer", batch_size)
    collator = SkeletonSFTCollator(processor, skeleton_format=skeleton_format, system=system)
    pairs = [(i, j) for i in range(len(sequences)) for j in range(len(candidate_labels))]
    scores = torch.empty(len(sequences), len(candidate_labels))
    device = next(model.parameters()).device
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start:start + batch_size]
        batch = collator([{"skeleton": sequences[i], "prompt": prompt, "answer": candidate_labels[j],
                           "video": None if videos is None else videos[i]} for i, j in chunk])
        labels = batch.pop("labels").to(device)
        inputs = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in batch.items()}
        out = model(**inputs, **model_kwargs)
        lls = answer_log_likelihood(out.logits, labels, length_normalize=length_normalize).cpu()
        for (i, j), value in zip(chunk, lls):
            scores[i, j] = value
    return scores


def _norm(text: str) -> str:
    return " ".join(str(text).strip().split())


def recognition_accuracy(predictions: Sequence[str], references: Sequence[str]) -> Mapping[str, float]:
    """Top-1 accuracy of predicted texts against reference labels, scored two ways.

    - ``strict``: the prediction equals the label (whitespace-normalised, case-sensitive).
    - ``lenient``: the label occurs in the prediction, case-insensitively (the authors' scoring of
      generated answers).

    Returns ``{"strict": float, "lenient": float, "n": int}``.
    """
    if len(predictions) != len(references):
        raise SkeletonInputError("predictions", f"{len(references)} predictions (one per reference)",
                                 len(predictions))
    if not references:
        raise SkeletonInputError("references", "at least one reference", 0)
    strict = sum(_norm(p) == _norm(r) for p, r in zip(predictions, references))
    lenient = sum(_norm(r).lower() in _norm(p).lower() for p, r in zip(predictions, references))
    n = len(references)
    return {"strict": strict / n, "lenient": lenient / n, "n": n}


def predict_labels(scores: torch.Tensor, candidate_labels: Sequence[str]) -> list[str]:
    """The best-scoring label of each row of an (N, C) score matrix."""
    if scores.ndim != 2 or scores.shape[1] != len(candidate_labels):
        raise SkeletonInputError("scores", f"an (N, {len(candidate_labels)}) tensor", tuple(scores.shape))
    return [candidate_labels[k] for k in scores.argmax(-1).tolist()]
