"""Evaluation protocols shared by the CLI (`hf-skeleton evaluate`) and the examples.

``recognition_protocol`` scores a saved understanding model (SkeletonLLM or LLaMo) on labelled clips:
top-1 by candidate likelihood (what the pipeline returns) and, as the authors scored generated
answers, strict (exact label) and lenient (case-insensitive substring) accuracy of greedy answers.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..errors import SkeletonInputError
from ..skeletons.io import load_skeleton
from .recognition import predict_labels, recognition_accuracy, score_candidate_labels

RECOGNITION_QUESTION = "What action is the person doing? Answer with the action name."

# name -> (file glob under the data folder, clip filter)
PROTOCOLS: dict[str, tuple[str, Callable[[Any], bool]]] = {
    "nucla-view3": ("nw_ucla/all_sqe/*.json", lambda seq: seq.meta.get("view") == 3),
    "nucla-all": ("nw_ucla/all_sqe/*.json", lambda seq: True),
}


def load_protocol_clips(protocol: str, data_dir: str | Path, limit: int | None = None, seed: int = 0) -> list:
    """The labelled clips of ``protocol`` under ``data_dir``, in file order; with ``limit``, a seeded,
    class-balanced sample of that many (see :func:`balanced_sample`)."""
    if protocol not in PROTOCOLS:
        raise SkeletonInputError("protocol", f"one of {sorted(PROTOCOLS)}", protocol)
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise SkeletonInputError("limit", "a positive number of clips (None for all)", limit)
    pattern, keep = PROTOCOLS[protocol]
    files = sorted(Path(data_dir).glob(pattern))
    if not files:
        raise SkeletonInputError("data_dir", f"a folder containing {pattern}", str(data_dir))
    clips = [seq for seq in (load_skeleton(f) for f in files) if keep(seq)]
    return clips if limit is None else balanced_sample(clips, limit, seed=seed)


def balanced_sample(clips: Sequence[Any], limit: int, *, seed: int = 0, key: str = "label_name") -> list:
    """``limit`` clips drawn round-robin over the classes (``meta[key]``), each class in a seeded random
    order, returned in their original order: every class is represented as evenly as ``limit`` allows."""
    return [clips[i] for i in balanced_indices([seq.meta.get(key) for seq in clips], limit, seed=seed)]


def balanced_indices(classes: Sequence[Any], limit: int, *, seed: int = 0) -> list[int]:
    """The sorted positions of ``limit`` items drawn round-robin over ``classes`` (one class per item),
    each class in a seeded random order (what :func:`balanced_sample` keeps)."""
    rng = np.random.default_rng(seed)
    by_class: dict[Any, list[int]] = {}
    for i, name in enumerate(classes):
        by_class.setdefault(name, []).append(i)
    queues = [list(rng.permutation(idx)) for _, idx in sorted(by_class.items(), key=lambda kv: str(kv[0]))]
    chosen: list[int] = []
    while len(chosen) < min(limit, len(classes)):
        for queue in queues:
            if queue and len(chosen) < limit:
                chosen.append(int(queue.pop()))
    return sorted(chosen)


def recognition_protocol(model: Any, processor: Any, clips: Sequence[Any], candidate_labels: Sequence[str], *,
                         question: str = RECOGNITION_QUESTION, batch_size: int = 32, generate: bool = True,
                         max_new_tokens: int = 12, progress: Callable | None = None) -> dict[str, Any]:
    """Top-1 by likelihood over ``candidate_labels``, plus strict/lenient accuracy of greedy answers."""
    references = [seq.meta.get("label_name") for seq in clips]
    if any(r is None for r in references):
        raise SkeletonInputError("clips", "clips whose meta has a label_name", "a clip without one")
    model.eval()
    scores = score_candidate_labels(model, processor, clips, question, candidate_labels, batch_size=batch_size)
    predicted = predict_labels(scores, candidate_labels)
    result: dict[str, Any] = {"clips": len(clips), "chance": 1.0 / len(candidate_labels),
                              "top1_likelihood": sum(p == r for p, r in zip(predicted, references)) / len(clips)}
    if generate:
        answers = generate_answers(model, processor, clips, question, batch_size=batch_size,
                                   max_new_tokens=max_new_tokens, progress=progress)
        accuracy = recognition_accuracy(answers, references)
        result["generated_strict"] = accuracy["strict"]
        result["generated_lenient"] = accuracy["lenient"]
    return result


def generate_answers(model: Any, processor: Any, clips: Sequence[Any], prompt: str, *, batch_size: int = 32,
                     max_new_tokens: int = 12, progress: Callable | None = None) -> list[str]:
    """Greedy answers of ``model`` to ``prompt`` about each clip (batched, prompts padded on the left so
    every answer continues its prompt from the end), decoded without special tokens and stripped."""
    import torch

    from ..processing.collators import chat_prompt, left_padding

    answers: list[str] = []
    steps = range(0, len(clips), batch_size)
    for start in (progress(steps) if progress else steps):
        chunk = list(clips[start:start + batch_size])
        with left_padding(processor):
            enc = processor(skeletons=chunk, text=[chat_prompt(processor, prompt)] * len(chunk),
                            return_tensors="pt", padding=True)
        with torch.no_grad():
            out = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False)
        answers += processor.tokenizer.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)
    return [a.strip() for a in answers]


def open_vocabulary_protocol(model: Any, processor: Any, clips: Sequence[Any], seen: Sequence[str],
                             unseen: Sequence[str], *, question: str = RECOGNITION_QUESTION, batch_size: int = 32,
                             generate: bool = False) -> dict[str, Any]:
    """A seen/unseen class split scored by likelihood ranking: ``seen`` = the clips of seen classes
    against the seen names, ``unseen`` = the clips of unseen classes against the unseen names only
    (zero-shot; chance 1 / len(unseen)), ``all_names`` = every clip against all names (generalised)."""
    overlap = sorted(set(seen) & set(unseen))
    if overlap or not seen or not unseen:
        raise SkeletonInputError("seen/unseen", "two disjoint, non-empty lists of class names", overlap or (seen, unseen))
    result: dict[str, Any] = {"seen_names": list(seen), "unseen_names": list(unseen)}
    for part, names in (("seen", seen), ("unseen", unseen)):
        subset = [seq for seq in clips if seq.meta.get("label_name") in names]
        if not subset:
            raise SkeletonInputError("clips", f"clips of the {part} classes {list(names)}", "none")
        result[part] = recognition_protocol(model, processor, subset, names, question=question,
                                            batch_size=batch_size, generate=generate and part == "seen")
    kept = [seq for seq in clips if seq.meta.get("label_name") in set(seen) | set(unseen)]
    result["all_names"] = recognition_protocol(model, processor, kept, list(seen) + list(unseen), question=question,
                                               batch_size=batch_size, generate=False)
    return result
