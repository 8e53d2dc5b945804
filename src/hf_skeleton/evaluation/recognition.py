"""Open-vocabulary recognition: score candidate labels by likelihood, and strict / lenient accuracy.

Model-agnostic: any causal model that takes the processor's batch (``input_ids``,
``attention_mask``, ``skeletons``, ...) and returns ``logits``, with a
:class:`~hf_skeleton.processing.base.SkeletonTextProcessor` (its ``tokenizer``, ``placeholder_token_ids``
and call; see :mod:`hf_skeleton.processing.collators`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ..errors import SkeletonInputError
from ..models.kv_cache import CACHE_KWARG, output_cache
from ..processing.base import as_text_processor
from ..processing.collators import IGNORE_INDEX, SkeletonSFTCollator, answer_suffix, chat_prompt, left_padding


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
                           share_prefix: bool = True, **model_kwargs: Any) -> torch.Tensor:
    """Log-likelihood of every candidate label as the answer to ``prompt`` for every clip.

    Each (clip, candidate) pair is scored as ``chat_prompt(prompt) + label + eos`` (the same text
    the :class:`~hf_skeleton.training.collators.SkeletonSFTCollator` trains on); the score is the
    sum of the log-probabilities of the label tokens and the closing token (the end token is what
    tells "pick up" from "pick up with one hand"), optionally divided by their number.

    With ``share_prefix=True`` (default) each clip goes through the processor and the model once: one
    forward over the prompt
    (skeleton placeholder included) fills the KV cache, which is repeated for the C candidates, and
    a second forward runs the language model on the candidate tokens only. A batch then holds
    ``max(1, batch_size // C)`` clips (so ``B * C <= max(batch_size, C)`` rows read the cache).
    The model must be a ``GenerationMixin`` (its ``_prepare_position_ids_for_generation`` gives the
    prompt positions, M-RoPE included) whose forward accepts ``position_ids``, the KV cache,
    ``use_cache`` and ``logits_to_keep`` and returns a cache with ``batch_repeat_interleave`` (a
    transformers ``DynamicCache``); otherwise, or when the tokenizer does not split
    ``prompt + label`` at the prompt's end or cannot pad prompts on the left, the function falls
    back to the pairwise path.

    The candidates' tokens come from tokenising the text alone (a placeholder expands inside the
    prompt, so what follows the prompt does not depend on the clip).

    ``share_prefix=False`` runs one full forward per (clip, candidate) pair, ``batch_size`` pairs
    at a time: C times the vision / motion encoding, the same scores (up to float rounding).

    Args:
        sequences: N clips, anything the processor's ``skeleton_processor`` reads (paths, sequences,
            dataset rows, arrays with ``skeleton_format``).
        candidate_labels: C label strings.
        videos: optional, one video per clip, passed to the processor as ``videos=``.
        share_prefix: encode each clip once and score the candidates from its KV cache.
        model_kwargs: extra inputs for the forward that reads the clips (every pairwise forward;
            the prompt forward of the shared-prefix path).
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
    if share_prefix:
        scores = _score_shared_prefix(model, processor, sequences, prompt, list(candidate_labels), batch_size,
                                      length_normalize, skeleton_format, system, videos, model_kwargs)
        if scores is not None:
            return scores
    return _score_pairwise(model, processor, sequences, prompt, candidate_labels, batch_size, length_normalize,
                           skeleton_format, system, videos, model_kwargs)


def _score_pairwise(model, processor, sequences, prompt, candidate_labels, batch_size, length_normalize,
                    skeleton_format, system, videos, model_kwargs) -> torch.Tensor:
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


def _encode(processor, skeletons, texts, videos, skeleton_format):
    kwargs = {} if skeleton_format is None else {"skeleton_format": skeleton_format}
    if videos is not None:
        kwargs["videos"] = list(videos)
    return processor(skeletons=list(skeletons), text=list(texts), return_tensors="pt", padding=True, **kwargs)


def _candidate_tokens(processor, prompt_text: str, candidates: Sequence[str]):
    """Token ids each candidate adds after the prompt, exactly as the pairwise batch holds them.

    Tokenises ``prompt`` and every ``prompt + label + eos`` as text only (no clip: the placeholder
    expands inside the prompt, so the tokens after it are the same with or without its expansion) and
    keeps what follows the prompt's tokens. Returns ``(ids (C, Lc), attended (C, Lc), scored (C, Lc))``
    or ``None`` when a full text does not start with the prompt's tokens (a merge across the boundary).
    """
    text_processor = as_text_processor(processor)
    texts = [prompt_text] + [prompt_text + c + answer_suffix(processor) for c in candidates]
    rows = text_processor.tokenizer(texts)["input_ids"]
    prompt_ids, tails = list(rows[0]), []
    for full in rows[1:]:
        full = list(full)
        if len(full) <= len(prompt_ids) or full[:len(prompt_ids)] != prompt_ids:
            return None
        tails.append(full[len(prompt_ids):])
    length = max(len(t) for t in tails)
    ids = torch.zeros(len(tails), length, dtype=torch.long)
    attended = torch.zeros(len(tails), length, dtype=torch.bool)
    for k, t in enumerate(tails):
        ids[k, :len(t)], attended[k, :len(t)] = torch.tensor(t, dtype=torch.long), True
    ignore = torch.tensor([int(t) for t in text_processor.placeholder_token_ids], dtype=torch.long)
    return ids, attended, attended & ~torch.isin(ids, ignore)


def _score_shared_prefix(model, processor, sequences, prompt, candidates, batch_size, length_normalize,
                         skeleton_format, system, videos, model_kwargs) -> torch.Tensor | None:
    """The shared-prefix path of :func:`score_candidate_labels`; ``None`` when the model cannot take it."""
    positions_of = getattr(model, "_prepare_position_ids_for_generation", None)
    if not callable(positions_of):
        return None
    tokenizer = as_text_processor(processor).tokenizer
    prompt_text = chat_prompt(processor, prompt, system=system)
    tokens = _candidate_tokens(processor, prompt_text, candidates)
    if tokens is None:
        return None
    device = next(model.parameters()).device
    cand_ids, cand_mask, scored = (t.to(device) for t in tokens)
    C, Lc = cand_ids.shape
    clips_per_batch = max(1, batch_size // C)
    scores = torch.empty(len(sequences), C)
    for start in range(0, len(sequences), clips_per_batch):
        chunk = list(range(start, min(start + clips_per_batch, len(sequences))))
        with left_padding(tokenizer):  # every prompt ends in the last column, where the candidates continue
            enc = _encode(processor, [sequences[i] for i in chunk], [prompt_text] * len(chunk),
                          None if videos is None else [videos[i] for i in chunk], skeleton_format)
        inputs = {k: (v.to(device) if torch.is_tensor(v) else v) for k, v in enc.items()}
        ids, mask = inputs["input_ids"], inputs["attention_mask"]
        if not bool(mask[:, -1].all()):
            return None
        # the positions generate() would use: (B, L), or Qwen2-VL's (4, B, L) [text; M-RoPE] rows
        positions = positions_of(ids, {"input_ids": ids, "attention_mask": mask})
        out = model(**inputs, position_ids=positions, use_cache=True, logits_to_keep=1, **model_kwargs)
        cache = output_cache(out)
        if cache is None or not hasattr(cache, "batch_repeat_interleave"):
            return None
        B = len(chunk)
        first = torch.log_softmax(out.logits[:, -1].float(), dim=-1).repeat_interleave(C, dim=0)  # (B*C, V)
        cache.batch_repeat_interleave(C)  # row b * C + j: clip b, candidate j
        rows_ids, rows_mask = cand_ids.repeat(B, 1), cand_mask.repeat(B, 1)
        # every position row (text and M-RoPE alike) goes on by +1 per token, as in generate()
        step = torch.arange(1, Lc + 1, device=device)
        cont_positions = (positions[..., -1:] + step).repeat_interleave(C, dim=-2)
        cont = model(input_ids=rows_ids, attention_mask=torch.cat([mask.repeat_interleave(C, dim=0), rows_mask], 1),
                     position_ids=cont_positions, **{CACHE_KWARG: cache}, use_cache=True)
        logp = torch.cat([first[:, None], torch.log_softmax(cont.logits[:, :-1].float(), dim=-1)], dim=1)
        token_lp = logp.gather(-1, rows_ids.unsqueeze(-1)).squeeze(-1)  # (B*C, Lc)
        keep = scored.repeat(B, 1)
        total = (token_lp * keep).sum(-1)
        if length_normalize:
            total = total / keep.sum(-1).clamp(min=1)
        scores[chunk] = total.view(B, C).cpu()
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
