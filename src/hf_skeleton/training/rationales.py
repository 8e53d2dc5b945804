"""Teacher rationales for stage 3 (causal-reasoning distillation), cached as JSONL.

A teacher is either a generate-capable Hugging Face model (with its tokenizer): it is asked why the
motion shows the action; or any callable ``teacher(clip, label) -> str``. Rationales are cached
one JSON object per line (``{"key", "label", "rationale"}``) so a slow teacher runs once.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import SkeletonInputError
from ..skeletons.sequence import SkeletonSequence
from ..skeletons.transforms import median_bone_length, up_vector

RATIONALE_PROMPT = "What is the person doing? Explain the movement, then give the action name."
TEACHER_PROMPT = ("A person performs the action '{label}'. In one or two sentences, explain which body parts move "
                  "and how, so that a student can recognise '{label}' from the skeleton alone.")


class RationaleBuilder:
    """Produce (and cache) one rationale per (clip key, label).

    Args:
        teacher: a callable ``(clip, label) -> str``, or a model with ``generate`` (then pass
            ``tokenizer``); the model sees :data:`TEACHER_PROMPT` through the tokenizer's chat template.
        cache: JSONL path; existing entries are reused, new ones appended.
        max_new_tokens: generation budget of a model teacher.
    """

    def __init__(self, teacher: Any, cache: str | Path | None = None, tokenizer: Any = None,
                 max_new_tokens: int = 96, prompt_template: str = TEACHER_PROMPT):
        if not callable(teacher) and not hasattr(teacher, "generate"):
            raise SkeletonInputError("teacher", "a callable (clip, label) -> str or a model with generate()",
                                     type(teacher).__name__)
        if hasattr(teacher, "generate") and tokenizer is None:
            raise SkeletonInputError("tokenizer", "the tokenizer of a model teacher", None)
        self.teacher, self.tokenizer = teacher, tokenizer
        self.max_new_tokens, self.prompt_template = int(max_new_tokens), prompt_template
        self.cache = None if cache is None else Path(cache)
        self._entries: dict[str, dict[str, str]] = {}
        if self.cache is not None and self.cache.exists():
            for n, line in enumerate(self.cache.read_text(encoding="utf-8").splitlines(), 1):
                if not line.strip():
                    continue
                try:
                    entry = json.loads(line)
                    self._entries[entry["key"]] = entry
                except (json.JSONDecodeError, KeyError, TypeError):
                    from ..errors import SkeletonFileError

                    raise SkeletonFileError(self.cache, f"line {n}", 'a JSON object with "key", "label", '
                                            '"rationale"', line[:80]) from None

    def _ask(self, clip: Any, label: str) -> str:
        if hasattr(self.teacher, "generate"):
            import torch

            text = self.prompt_template.format(label=label)
            if getattr(self.tokenizer, "chat_template", None):
                text = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                          add_generation_prompt=True)
            enc = self.tokenizer(text, return_tensors="pt").to(self.teacher.device)
            with torch.no_grad():
                out = self.teacher.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False)
            return self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:], skip_special_tokens=True).strip()
        result = self.teacher(clip, label)
        if not isinstance(result, str):
            raise SkeletonInputError("teacher output", "a string", type(result).__name__)
        return result.strip()

    def __call__(self, clips: Sequence[Any], labels: Sequence[str], keys: Sequence[str] | None = None) -> list[str]:
        """One rationale per clip (cached by ``keys``, default: the clip's ``meta['source']`` + label)."""
        if len(clips) != len(labels):
            raise SkeletonInputError("clips/labels", "equally many clips and labels", (len(clips), len(labels)))
        if keys is None:
            keys = [f"{getattr(c, 'meta', {}).get('source', i)}|{y}" for i, (c, y) in enumerate(zip(clips, labels))]
        out, new = [], []
        for clip, label, key in zip(clips, labels, keys):
            if key not in self._entries:
                entry = {"key": str(key), "label": label, "rationale": self._ask(clip, label)}
                self._entries[key] = entry
                new.append(entry)
            out.append(self._entries[key]["rationale"])
        if self.cache is not None and new:
            self.cache.parent.mkdir(parents=True, exist_ok=True)
            with open(self.cache, "a", encoding="utf-8") as f:
                for entry in new:
                    f.write(json.dumps(entry) + "\n")
        return out


def rationale_examples(clips: Sequence[Any], labels: Sequence[str], rationales: Sequence[str],
                       prompt: str = RATIONALE_PROMPT) -> list[dict[str, Any]]:
    """Stage 3 examples: the answer is the rationale followed by the action name."""
    return [{"skeleton": c, "prompt": prompt, "answer": f"{r.rstrip('.')}. So the action is {y}."}
            for c, y, r in zip(clips, labels, rationales)]


def kinematic_teacher(clip: SkeletonSequence, label: str) -> str:
    """A data-driven teacher for machines without a teacher LLM: names the body part that moves
    most, the direction of the body's displacement and the change of height over the clip."""
    if not isinstance(clip, SkeletonSequence):
        raise SkeletonInputError("clip", "a SkeletonSequence", type(clip).__name__)
    pos, mask = clip.positions[:, 0], clip.mask[:, 0]  # first person (T, J, 3)
    parts = clip.format.parts or {}
    speed = np.zeros(clip.num_joints)
    if clip.num_frames > 1:
        step = np.linalg.norm(np.diff(pos, axis=0), axis=-1) * (mask[1:] & mask[:-1])
        speed = step.sum(0)
    ranked = sorted(((float(speed[list(j)].mean()), name) for name, j in parts.items() if len(j)), reverse=True)
    part = ranked[0][1].replace("_", " ") if ranked else "body"
    up = up_vector(clip)
    scale = median_bone_length(clip) or 1.0  # thresholds in bone lengths, so any unit works
    centre = np.array([p[m].mean(0) if m.any() else np.zeros(3) for p, m in zip(pos, mask)])
    shift = (centre[-1] - centre[0]) / scale
    rise = float(shift @ up)
    travel = float(np.linalg.norm(shift - rise * up))
    height = "the body lowers" if rise < -0.5 else "the body rises" if rise > 0.5 else "the body height stays level"
    moving = "the person travels across the scene" if travel > 2.0 else "the person stays in place"
    return f"The {part} moves the most, {height} and {moving}, which fits {label}"
