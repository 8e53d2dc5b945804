"""What the language-model heads of SkeletonLLM, LLaMo and Superman share (transformers shares such code
between its VLMs through modular files): embedding accessors, ``logits_to_keep`` and the causal-LM loss.

Each ``...ForConditionalGeneration`` holds its backbone as ``self.model`` and its head as ``self.lm_head``.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_utils import slice_logits_to_keep


class SkeletonLMHeadMixin:
    """Mixed into the three ``...ForConditionalGeneration`` classes, before ``PreTrainedModel``."""

    model: nn.Module
    lm_head: nn.Linear

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.lm_head

    def set_output_embeddings(self, value: nn.Module) -> None:
        self.lm_head = value

    def lm_logits_and_loss(self, hidden: torch.Tensor, labels: torch.LongTensor | None = None,
                           logits_to_keep: int | torch.Tensor = 0, **loss_kwargs):
        """hidden (B, L, D) -> ``(logits, loss)``: logits (B, L', V) at the kept positions (``0`` keeps all,
        an int ``k`` the last ``k``), and the shifted causal-LM loss when ``labels`` (B, L) are given
        (-100 where no loss is taken), else None."""
        logits = self.lm_head(slice_logits_to_keep(hidden, logits_to_keep))
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=logits.shape[-1], **loss_kwargs)
        return logits, loss


def rope_deltas_of(outputs, vlm) -> torch.Tensor | None:
    """(B, 1) M-RoPE offsets in use: from the VLM's ``outputs``, else where Qwen-VL models keep them on the
    module (``vlm.rope_deltas``); None for families without M-RoPE."""
    deltas = getattr(outputs, "rope_deltas", None)
    return deltas if deltas is not None else getattr(vlm, "rope_deltas", None)
