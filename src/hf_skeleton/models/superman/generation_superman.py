"""Constrained decoding for Superman: only the code slots of the motion-text template are free.

:func:`constrained_generate` is the entry point. Greedy decoding of a text prompt reads each run of the
template's fixed tokens in one forward, so it costs one forward per code slot instead of one per token
(the same tokens as ``generate`` with :class:`MotionTemplateConstraint`, which the tests check); sampling,
beam search and video prompts go through ``generate`` with the constraint.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from transformers import LogitsProcessor

from ..kv_cache import CACHE_KWARG, output_cache
from .motion_text import MotionTextFormatter

_VISION_INPUTS = ("pixel_values", "pixel_values_videos", "keypoints_2d")
# generation-config options that add logits processors to greedy decoding (the fast path applies none)
_LOGITS_OPTIONS = ("no_repeat_ngram_size", "bad_words_ids", "suppress_tokens", "begin_suppress_tokens",
                   "sequence_bias", "min_new_tokens")


class MotionTemplateConstraint(LogitsProcessor):
    """A ``LogitsProcessor`` that forces the motion-text template of ``num_steps`` frames.

    The text between code tokens does not depend on the codes (added tokens split the text), so the
    template's token ids are fixed except at the code slots, where any ``<skel_k>`` is allowed.
    Pass it as ``generate(..., logits_processor=[constraint], max_new_tokens=len(constraint))``.

    Args:
        processor: a :class:`~hf_skeleton.SupermanProcessor` (its tokenizer, motion ids and formatter).
        num_steps: motion steps (frames / the VGMT's temporal factor) the answer holds.
        prompt_length: L, the prompt's length in tokens; position ``L + i`` gets template token ``i``.
    """

    def __init__(self, processor, num_steps: int, prompt_length: int):
        fmt: MotionTextFormatter = processor.motion_formatter
        dummy = np.zeros((num_steps, fmt.codes_per_step), dtype=np.int64)
        ids = processor.tokenizer(fmt.format(dummy), add_special_tokens=False)["input_ids"]
        code0 = processor.motion_ids["codes"][0]
        self.template = list(ids) + [processor.tokenizer.eos_token_id]
        self.is_code = [i == code0 for i in self.template]
        self.codes = list(processor.motion_ids["codes"])
        self.prompt_length = prompt_length

    def __len__(self) -> int:
        return len(self.template)

    def allowed_tokens(self, input_ids: torch.Tensor) -> list[int]:
        """The token ids allowed next after ``input_ids`` (L,) or (B, L)."""
        pos = input_ids.shape[-1] - self.prompt_length
        if pos >= len(self.template):
            return [self.template[-1]]
        return self.codes if self.is_code[pos] else [self.template[pos]]

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        """input_ids (B, L), scores (B, V) -> scores with every token outside the template at -inf."""
        allowed = torch.tensor(self.allowed_tokens(input_ids), device=scores.device)
        masked = torch.full_like(scores, -float("inf"))
        masked[:, allowed] = scores[:, allowed]
        return masked


def _greedy(generate_kwargs: dict[str, Any], generation_config) -> bool:
    """Whether ``generate`` would decode greedily with these arguments (and nothing else that the fast path
    leaves out: penalties, bad words, ...)."""
    rest = {k: v for k, v in generate_kwargs.items() if k not in ("do_sample", "num_beams")}
    do_sample = generate_kwargs.get("do_sample", getattr(generation_config, "do_sample", False))
    num_beams = generate_kwargs.get("num_beams", getattr(generation_config, "num_beams", 1) or 1)
    penalty = getattr(generation_config, "repetition_penalty", 1.0)
    reshaped = any(getattr(generation_config, name, None) for name in _LOGITS_OPTIONS)
    return not rest and not do_sample and num_beams == 1 and penalty in (None, 1.0) and not reshaped


def constrained_generate(model, inputs: dict[str, Any], constraint: MotionTemplateConstraint,
                         **generate_kwargs: Any) -> torch.LongTensor:
    """The prompt and its constrained answer, (1, L + len(constraint)) token ids.

    ``inputs``: the processor's encoding of one prompt (``input_ids`` (1, L), ...); ``generate_kwargs``:
    ``generate``'s options (``do_sample``, ``temperature``, ...). Greedy decoding of a text prompt takes the
    fast path (one forward per code slot, the fixed tokens between slots read together); anything else is
    ``model.generate(**inputs, logits_processor=[constraint], max_new_tokens=len(constraint), ...)``.
    """
    input_ids = inputs["input_ids"]
    vision = any(inputs.get(name) is not None for name in _VISION_INPUTS)
    if vision or input_ids.shape[0] != 1 or not _greedy(generate_kwargs, model.generation_config):
        return model.generate(**inputs, logits_processor=[constraint], max_new_tokens=len(constraint),
                              **generate_kwargs)
    template, is_code = constraint.template, constraint.is_code
    codes = torch.tensor(constraint.codes, device=input_ids.device)
    first = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask")}
    prompt_mask = inputs.get("attention_mask")
    prompt_mask = torch.ones_like(input_ids) if prompt_mask is None else prompt_mask
    # prompt + template (code slots as <skel_0>): a text prompt's positions do not depend on the codes chosen,
    # so generate's own positions (M-RoPE rows for a Qwen-VL backbone) are computed once, then sliced
    full = torch.cat([input_ids, torch.tensor([template], dtype=input_ids.dtype, device=input_ids.device)], 1)
    mask = torch.cat([prompt_mask, prompt_mask.new_ones(1, len(template))], 1)
    positions = model._prepare_position_ids_for_generation(full, {**first, "input_ids": full, "attention_mask": mask})
    cache, answer, pos = None, [], 0
    while pos < len(template):
        end = pos
        while end < len(template) and not is_code[end]:
            end += 1
        answer += template[pos:end]  # the fixed tokens up to the next code slot, or the tail (<skel_end>, EOS)
        if end == len(template):
            break
        seen = input_ids.shape[1] + len(answer)
        done = 0 if cache is None else cache.get_seq_length()  # the prompt first, then the last choice on
        sequence = torch.cat([input_ids, torch.tensor([answer], dtype=input_ids.dtype, device=input_ids.device)], 1)
        with torch.no_grad():
            out = model(input_ids=sequence[:, done:], attention_mask=mask[:, :seen],
                        position_ids=positions[..., done:seen], use_cache=True, logits_to_keep=1,
                        **{CACHE_KWARG: cache}, **(first if cache is None else {}))
        cache = output_cache(out)
        answer.append(int(codes[out.logits[0, -1, codes].argmax()]))
        pos = end + 1
    return torch.cat([input_ids, torch.tensor([answer], dtype=input_ids.dtype, device=input_ids.device)], 1)
