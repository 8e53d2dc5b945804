"""Confusable action pairs and the prompt/answer examples of SkeletonLLM's training stages.

Pairs come from a shipped table (:func:`hf_skeleton.data.confusable_pairs`), from label-text
similarity (:func:`pairs_from_label_similarity`), from a model's confusion matrix
(:func:`pairs_from_confusion`), or from the user.
"""

from __future__ import annotations

import re
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from ..errors import SkeletonInputError

RECOGNITION_PROMPT = "What action is the person doing? Answer with the action name."
MULTIPLE_CHOICE_PROMPT = "What action is the person doing? Choose one of: {options}."
YES_NO_PROMPT = "Is the person doing the action '{label}'? Answer yes or no."


def _words(label: str) -> set[str]:
    return set(re.findall(r"[a-z]+", label.lower()))


def _trigrams(label: str) -> set[str]:
    s = f"  {label.lower()}  "
    return {s[i:i + 3] for i in range(len(s) - 2)}


def label_similarity(a: str, b: str) -> float:
    """Mean of word and character-trigram Jaccard similarities, in [0, 1]."""
    def jac(x: set, y: set) -> float:
        return len(x & y) / len(x | y) if x | y else 0.0

    return 0.5 * (jac(_words(a), _words(b)) + jac(_trigrams(a), _trigrams(b)))


def pairs_from_label_similarity(labels: Sequence[str], per_label: int = 1, min_similarity: float = 0.1
                                ) -> list[tuple[str, str]]:
    """For each label, its ``per_label`` most similar other labels (by :func:`label_similarity`,
    at least ``min_similarity``), as unordered unique pairs."""
    pairs: set[tuple[str, str]] = set()
    for a in labels:
        ranked = sorted((label_similarity(a, b), b) for b in labels if b != a)[::-1]
        for sim, b in ranked[:per_label]:
            if sim >= min_similarity:
                pairs.add(tuple(sorted((a, b))))
    return sorted(pairs)


def pairs_from_confusion(confusion: np.ndarray, labels: Sequence[str], top_k: int = 5) -> list[tuple[str, str]]:
    """The ``top_k`` most confused class pairs of a (C, C) confusion matrix (rows: truth), symmetric."""
    m = np.asarray(confusion, dtype=np.float64)
    if m.shape != (len(labels), len(labels)):
        raise SkeletonInputError("confusion", f"a ({len(labels)}, {len(labels)}) matrix", m.shape)
    sym = m + m.T
    np.fill_diagonal(sym, -1)
    iu = np.triu_indices(len(labels), 1)
    order = np.argsort(sym[iu])[::-1][:top_k]
    return [(labels[iu[0][k]], labels[iu[1][k]]) for k in order if sym[iu][k] > 0]


# ---------------------------------------------------------------------- stage examples
def recognition_examples(clips: Sequence[Any], labels: Sequence[str], prompt: str = RECOGNITION_PROMPT
                         ) -> list[dict[str, Any]]:
    """Stage 4 (and evaluation): clip -> its action name."""
    _check(clips, labels)
    return [{"skeleton": c, "prompt": prompt, "answer": y} for c, y in zip(clips, labels)]


def multiple_choice_examples(clips: Sequence[Any], labels: Sequence[str], choices: Sequence[str],
                             seed: int = 0, num_options: int | None = None) -> list[dict[str, Any]]:
    """Stage 1: "choose one of: ..." over the seen labels (shuffled per example; ``num_options``
    keeps the true label plus random distractors), answer = the label."""
    _check(clips, labels)
    rng = np.random.default_rng(seed)
    choices = list(dict.fromkeys(choices))
    missing = sorted(set(labels) - set(choices))
    if missing:
        raise SkeletonInputError("labels", "labels that are among the choices", missing)
    out = []
    for clip, y in zip(clips, labels):
        others = [c for c in choices if c != y]
        if num_options is not None:
            others = list(rng.choice(others, size=min(len(others), num_options - 1), replace=False))
        options = [y] + others
        rng.shuffle(options)
        out.append({"skeleton": clip, "prompt": MULTIPLE_CHOICE_PROMPT.format(options=", ".join(options)),
                    "answer": y})
    return out


def yes_no_examples(clips: Sequence[Any], labels: Sequence[str], pairs: Iterable[tuple[str, str]], seed: int = 0
                    ) -> list[dict[str, Any]]:
    """Stage 2: for every clip whose label is in a confusable pair, one "yes" question about its own
    label and one "no" question about a confusable partner (balanced)."""
    _check(clips, labels)
    partners: dict[str, list[str]] = {}
    for a, b in pairs:
        partners.setdefault(a, []).append(b)
        partners.setdefault(b, []).append(a)
    rng = np.random.default_rng(seed)
    out = []
    for clip, y in zip(clips, labels):
        if y not in partners:
            continue
        other = partners[y][int(rng.integers(len(partners[y])))]
        out.append({"skeleton": clip, "prompt": YES_NO_PROMPT.format(label=y), "answer": "yes"})
        out.append({"skeleton": clip, "prompt": YES_NO_PROMPT.format(label=other), "answer": "no"})
    if not out:
        raise SkeletonInputError("pairs", "pairs that involve the clips' labels", sorted(partners))
    return out


def _check(clips: Sequence[Any], labels: Sequence[str]) -> None:
    if len(clips) != len(labels) or not clips:
        raise SkeletonInputError("clips/labels", "equally many (at least one) clips and labels",
                                 (len(clips), len(labels)))


def named_pairs(pairs: Iterable[tuple[int, int]], names: Mapping[int, str]) -> list[tuple[str, str]]:
    """Class-id pairs -> label-name pairs."""
    return [(names[a], names[b]) for a, b in pairs]
