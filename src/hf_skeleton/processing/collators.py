"""Model-agnostic collators: skeleton clip + prompt + answer -> a training batch with ``labels``.

They work with any processor that follows the package's skeleton protocol::

    processor(skeletons=[...], text=[...], return_tensors="pt", padding=True)
        -> BatchFeature(input_ids, attention_mask, skeletons, skeleton_mask, ...)

and exposes ``tokenizer``, ``skeleton_token`` or ``motion_token`` (the placeholder string it
expands, e.g. ``"<skeleton>"`` or ``"<motion>"``) and optionally ``placeholder_token_ids`` (ids that never
carry a loss). :class:`~hf_skeleton.SkeletonLLMProcessor` and the LLaMo processor do.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import torch

from ..errors import SkeletonInputError

IGNORE_INDEX = -100

__all__ = ["IGNORE_INDEX", "SkeletonSFTCollator", "answer_suffix", "build_labels", "chat_prompt", "placeholder_of"]


def chat_prompt(processor: Any, prompt: str | Sequence[Mapping[str, Any]], *, placeholder: str | None = None,
                system: str | None = None) -> str:
    """The generation prompt text for one clip: the user turn (with the skeleton placeholder) and
    the assistant header, through the tokenizer's chat template when it has one.

    ``prompt`` is a plain user question (the placeholder is prepended when missing) or a full list of
    chat messages. Without a chat template the text is ``"{placeholder}\\n{prompt}\\n"``.
    """
    placeholder = placeholder or placeholder_of(processor)
    tokenizer = getattr(processor, "tokenizer", processor)
    if isinstance(prompt, str):
        text = prompt if placeholder in prompt else f"{placeholder}\n{prompt}"
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    else:
        messages = list(prompt)
        text = "\n".join(str(m.get("content", "")) for m in messages)
        if placeholder not in text:
            raise SkeletonInputError("prompt", f"chat messages containing the placeholder {placeholder!r}", text)
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n".join(str(m["content"]) for m in messages) + "\n"


def placeholder_of(processor: Any) -> str:
    """The processor's clip placeholder: ``skeleton_token`` (SkeletonLLM) or ``motion_token`` (LLaMo)."""
    for name in ("skeleton_token", "motion_token"):
        value = getattr(processor, name, None)
        if isinstance(value, str) and value:
            return value
    return "<skeleton>"


def answer_suffix(processor: Any) -> str:
    """What closes an assistant answer: the tokenizer's end-of-turn / eos token."""
    tokenizer = getattr(processor, "tokenizer", processor)
    return tokenizer.eos_token or ""


class SkeletonSFTCollator:
    """Examples ``{"skeleton", "prompt", "answer"}`` -> ``BatchFeature`` with ``labels``.

    Each example holds:
      - ``skeleton``: a :class:`~hf_skeleton.SkeletonSequence` or a (T, [P,] J, 3) array (then the
        collator's ``skeleton_format`` names its format);
      - ``prompt``: the user question (str; the placeholder is prepended when missing) or chat messages;
      - ``answer``: the target text;
      - optionally ``video``: passed to the processor as ``videos=`` (models that also read video).

    The text is ``chat_prompt(prompt) + answer + eos``. ``labels`` copy ``input_ids`` and hold
    ``-100`` on the prompt (including its expanded placeholder tokens), on padding, and on any
    ``placeholder_token_ids`` of the processor, so the loss covers the answer and its end token only.
    Works with left or right padding.

    Args:
        processor: a skeleton processor (see the module docstring).
        skeleton_format: format name for examples given as bare arrays.
        system: optional system message for every prompt.
        keys: names of the (skeleton, prompt, answer) fields in each example.
        processor_kwargs: extra keyword arguments for every processor call (e.g. ``num_frames``).
        augment: training augmentation of the normalised clips (keyword arguments of
            :func:`hf_skeleton.skeletons.transforms.augment`, e.g. ``{"max_angle": 30, "max_tilt": 15}``),
            passed to the processor as ``augment=``; batch ``n`` draws from seed ``seed + n``, so a
            run is reproducible. ``None``: clips as the processor normalises them.
        seed: first augmentation seed.
    """

    def __init__(self, processor: Any, *, skeleton_format: str | None = None, system: str | None = None,
                 keys: tuple[str, str, str] = ("skeleton", "prompt", "answer"),
                 processor_kwargs: Mapping[str, Any] | None = None, augment: Mapping[str, Any] | None = None,
                 seed: int = 0):
        self.processor = processor
        self.skeleton_format = skeleton_format
        self.system = system
        self.keys = tuple(keys)
        self.processor_kwargs = dict(processor_kwargs or {})
        if augment is not None and not isinstance(augment, Mapping):
            raise SkeletonInputError("augment", "a dict of augmentation options or None", type(augment).__name__)
        self.augment = None if augment is None else dict(augment)
        self.seed = int(seed)
        self._batches = 0

    def _fields(self, examples: Sequence[Mapping[str, Any]]):
        if not examples:
            raise SkeletonInputError("examples", "a non-empty list of examples", examples)
        sk, pr, an = self.keys
        skeletons, prompts, answers = [], [], []
        for i, ex in enumerate(examples):
            if not isinstance(ex, Mapping):
                raise SkeletonInputError(f"examples[{i}]", "a dict", type(ex).__name__)
            missing = [k for k in self.keys if k not in ex]
            if missing:
                raise SkeletonInputError(f"examples[{i}]", f"keys {list(self.keys)}", sorted(ex))
            if not isinstance(ex[an], str):
                raise SkeletonInputError(f"examples[{i}][{an!r}]", "a string", type(ex[an]).__name__)
            skeletons.append(ex[sk])
            prompts.append(chat_prompt(self.processor, ex[pr], system=self.system))
            answers.append(ex[an])
        return skeletons, prompts, answers

    def _encode(self, skeletons, texts, videos=None):
        kwargs = dict(self.processor_kwargs)
        if self.skeleton_format is not None:
            kwargs["skeleton_format"] = self.skeleton_format
        if videos is not None:
            kwargs["videos"] = videos
        return self.processor(skeletons=skeletons, text=texts, return_tensors="pt", padding=True, **kwargs)

    def __call__(self, examples: Sequence[Mapping[str, Any]]):
        skeletons, prompts, answers = self._fields(examples)
        if self.augment is not None:  # the same draw for the full text and the prompt-only encoding
            self.processor_kwargs["augment"] = {**self.augment, "seed": self.seed + self._batches}
            self._batches += 1
        # an optional "video" per example goes to the processor as videos= (LLaMo and other
        # skeleton + video models); all or none of the examples must carry one
        has_video = [ex.get("video") is not None for ex in examples]
        if any(has_video) and not all(has_video):
            raise SkeletonInputError("examples", "a 'video' in every example or in none", has_video)
        videos = [ex["video"] for ex in examples] if all(has_video) else None
        suffix = answer_suffix(self.processor)
        batch = self._encode(skeletons, [p + a + suffix for p, a in zip(prompts, answers)], videos)
        prompt_ids = self._encode(skeletons, prompts, videos)
        batch["labels"] = build_labels(batch["input_ids"], batch["attention_mask"],
                                       prompt_ids["attention_mask"].sum(-1),
                                       getattr(self.processor, "placeholder_token_ids", ()) or ())
        return batch


def build_labels(input_ids: torch.Tensor, attention_mask: torch.Tensor, prompt_lengths: torch.Tensor,
                 ignore_token_ids: Sequence[int] = ()) -> torch.Tensor:
    """``labels`` for causal-LM training: ``input_ids`` with ``-100`` on the first ``prompt_lengths[i]``
    attended tokens of row ``i``, on padding and on ``ignore_token_ids``.

    Args:
        input_ids, attention_mask: (B, L).
        prompt_lengths: (B,) number of prompt tokens (not counting padding) of each row.
    """
    if input_ids.shape != attention_mask.shape or input_ids.ndim != 2:
        raise SkeletonInputError("input_ids/attention_mask", "two (B, L) tensors of one shape",
                                 (tuple(input_ids.shape), tuple(attention_mask.shape)))
    attended = attention_mask.bool()
    # rank of each attended token within its row: 0, 1, ... (padding on either side does not count)
    rank = attended.long().cumsum(-1) - 1
    prompt = rank < prompt_lengths.to(rank.device)[:, None]
    labels = input_ids.clone()
    labels[prompt | ~attended] = IGNORE_INDEX
    for tid in ignore_token_ids:
        labels[input_ids == int(tid)] = IGNORE_INDEX
    return labels
