"""Model-agnostic collators: skeleton clip + prompt + answer -> a training batch with ``labels``.

They work with any :class:`~hf_skeleton.processing.base.SkeletonTextProcessor` (SkeletonLLM, LLaMo)::

    processor(skeletons=[...], text=[...], return_tensors="pt", padding=True)
        -> BatchFeature(input_ids, attention_mask, skeletons, skeleton_mask, ...)

reading only its ``tokenizer``, ``placeholder_token`` (the placeholder string it expands, e.g.
``"<skeleton>"`` or ``"<motion>"``) and ``placeholder_token_ids`` (ids that never carry a loss).
Processors written against the older protocol (``skeleton_token`` instead of ``placeholder_token``)
are adapted by :func:`~hf_skeleton.processing.base.as_text_processor`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import torch

from ..errors import SkeletonInputError
from .base import as_text_processor

IGNORE_INDEX = -100

__all__ = ["IGNORE_INDEX", "SkeletonSFTCollator", "answer_suffix", "build_labels", "chat_prompt", "placeholder_of",
           "prompt_lengths"]


@contextlib.contextmanager
def left_padding(processor: Any) -> Iterator[None]:
    """Within the block the processor's tokenizer pads on the left (batched generation and prompt
    caches need every prompt to end in the last column); the previous side is restored after."""
    tokenizer = getattr(processor, "tokenizer", processor)
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    try:
        yield
    finally:
        tokenizer.padding_side = side


def chat_prompt(processor: Any, prompt: str | Sequence[Mapping[str, Any]], *, placeholder: str | None = None,
                system: str | None = None) -> str:
    """The generation prompt text for one clip: the user turn (with the skeleton placeholder) and
    the assistant header, through the tokenizer's ``apply_chat_template`` when it has a chat template.

    ``prompt`` is a plain user question (the placeholder is prepended when missing) or a full list of
    chat messages. Without a chat template the text is ``"{placeholder}\\n{prompt}\\n"``.
    """
    text_processor = as_text_processor(processor)
    placeholder = placeholder or text_processor.placeholder_token
    tokenizer = text_processor.tokenizer
    if isinstance(prompt, str):
        text = prompt if placeholder in prompt else f"{placeholder}\n{prompt}"
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    else:
        messages = list(prompt)
        text = "\n".join(str(m.get("content", "")) for m in messages)
        if placeholder not in text:
            raise SkeletonInputError("prompt", f"chat messages containing the placeholder {placeholder!r}", text)
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n".join(str(m["content"]) for m in messages) + "\n"


def placeholder_of(processor: Any) -> str:
    """The processor's clip placeholder (``processor.placeholder_token``)."""
    return as_text_processor(processor).placeholder_token


def answer_suffix(processor: Any) -> str:
    """What closes an assistant answer: the tokenizer's end-of-turn / eos token."""
    return as_text_processor(processor).tokenizer.eos_token or ""


def prompt_lengths(processor: Any, prompts: Sequence[str], texts: Sequence[str],
                   attention_mask: torch.Tensor) -> torch.Tensor:
    """Tokens of each prompt once its placeholders are expanded, from ``texts`` (each starting with its
    prompt) encoded by the processor (``attention_mask`` (B, L)) and plain tokenisation of the text only.

    A placeholder expands to a fixed run of tokens for its clip, inside the prompt, so the expanded
    prompt holds ``len(tokenize(prompt)) + (expanded length of the text - len(tokenize(text)))``
    tokens: no clip goes through the processor a second time.
    """
    tokenizer = as_text_processor(processor).tokenizer
    plain = tokenizer(list(prompts) + list(texts))["input_ids"]
    n = len(prompts)
    expanded = attention_mask.sum(-1).tolist()
    return torch.tensor([len(p) + int(e) - len(t) for p, t, e in zip(plain[:n], plain[n:], expanded)])


class SkeletonSFTCollator:
    """Examples ``{"skeleton", "prompt", "answer"}`` -> ``BatchFeature`` with ``labels``.

    Each example holds:
      - ``skeleton``: anything the processor's ``skeleton_processor`` reads (a path, a
        :class:`~hf_skeleton.SkeletonSequence`, a dataset row, or a (T, [P,] J, 3) array whose format the
        collator's ``skeleton_format`` names);
      - ``prompt``: the user question (str; the placeholder is prepended when missing) or chat messages;
      - ``answer``: the target text;
      - optionally ``video``: passed to the processor as ``videos=`` (models that also read video).

    The text is ``chat_prompt(prompt) + answer + eos``. ``labels`` copy ``input_ids`` and hold
    ``-100`` on the prompt (including its expanded placeholder tokens), on padding, and on any
    ``placeholder_token_ids`` of the processor, so the loss covers the answer and its end token only.
    Works with left or right padding. Each clip goes through the processor once: the prompt's length
    comes from tokenising the text alone (:func:`prompt_lengths`).

    Args:
        processor: a :class:`~hf_skeleton.processing.base.SkeletonTextProcessor` (see the module docstring).
        skeleton_format: the format of examples given as bare arrays (a name, or a user-defined format's
            definition dict).
        system: optional system message for every prompt.
        keys: names of the (skeleton, prompt, answer) fields in each example.
        processor_kwargs: extra keyword arguments for every processor call (e.g. ``num_frames``).
        augment: training augmentation of the normalised clips (keyword arguments of
            :func:`hf_skeleton.skeletons.transforms.augment`, e.g. ``{"max_angle": 30, "max_tilt": 15}``),
            passed to the processor as ``augment=``; batch ``n`` draws from seed ``seed + n``, so a
            run is reproducible. ``None``: clips as the processor normalises them.
        seed: first augmentation seed.
    """

    def __init__(self, processor: Any, *, skeleton_format: str | dict | None = None, system: str | None = None,
                 keys: tuple[str, str, str] = ("skeleton", "prompt", "answer"),
                 processor_kwargs: Mapping[str, Any] | None = None, augment: Mapping[str, Any] | None = None,
                 seed: int = 0):
        as_text_processor(processor)  # a typed error now rather than at the first batch
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
        if self.augment is not None:
            self.processor_kwargs["augment"] = {**self.augment, "seed": self.seed + self._batches}
            self._batches += 1
        # an optional "video" per example goes to the processor as videos= (LLaMo and other
        # skeleton + video models); all or none of the examples must carry one
        has_video = [ex.get("video") is not None for ex in examples]
        if any(has_video) and not all(has_video):
            raise SkeletonInputError("examples", "a 'video' in every example or in none", has_video)
        videos = [ex["video"] for ex in examples] if all(has_video) else None
        suffix = answer_suffix(self.processor)
        texts = [p + a + suffix for p, a in zip(prompts, answers)]
        batch = self._encode(skeletons, texts, videos)  # each clip goes through the processor once
        lengths = prompt_lengths(self.processor, prompts, texts, batch["attention_mask"])
        batch["labels"] = build_labels(batch["input_ids"], batch["attention_mask"], lengths,
                                       as_text_processor(self.processor).placeholder_token_ids)
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
