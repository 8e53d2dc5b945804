"""Constrained decoding for Superman: only the code slots of the motion-text template are free."""

from __future__ import annotations

import numpy as np
import torch
from transformers import LogitsProcessor

from .motion_text import MotionTextFormatter


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
