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
        an int ``k`` the last ``k``, a tensor the positions transformers' ``slice_logits_to_keep`` takes: 1D
        indices, (B, K) indices, or a (B, L) bool mask giving (N, V)), and the shifted causal-LM loss when
        ``labels`` (B, L) are given (-100 where no loss is taken), else None.

        With labels, the loss is taken at the kept positions only, each predicting its next token: keeping
        just the positions that predict a label (:func:`label_positions`) gives the same loss without
        full-vocabulary logits for the whole sequence (152k x 3.1k values for a Qwen2.5-VL clip of 12
        frames)."""
        kept = slice_logits_to_keep(hidden, logits_to_keep)
        # as rows: on CPU, a bfloat16 Linear on a sliced (B, k, D) view (generate's last position) takes a
        # batched-matmul path that copies the transposed (V, D) weight: 9.5 s a call for Qwen2.5-7B's
        # 152k x 3584 head, 17 s for two rows, against 0.1 s as a (B * k, D) matrix
        logits = self.lm_head(kept.reshape(-1, kept.shape[-1])).view(*kept.shape[:-1], -1)
        loss = None
        if labels is not None:
            keeps_all = isinstance(logits_to_keep, int) and logits_to_keep == 0
            if not keeps_all and loss_kwargs.get("shift_labels") is None:
                shifted = nn.functional.pad(labels, (0, 1), value=-100)[:, 1:]
                loss_kwargs["shift_labels"] = slice_logits_to_keep(shifted[..., None], logits_to_keep)[..., 0].contiguous()
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=logits.shape[-1], **loss_kwargs)
        return logits, loss


def label_positions(labels: torch.LongTensor, ignore_index: int = -100) -> torch.Tensor:
    """(B, L) labels -> the (B, L) bool mask of positions whose *next* token is a label: pass it as
    ``logits_to_keep`` with the same ``labels`` for the same loss while computing (N, V) logits only there."""
    mask = torch.zeros_like(labels, dtype=torch.bool)
    mask[:, :-1] = labels[:, 1:] != ignore_index
    return mask


def rope_deltas_of(outputs, vlm) -> torch.Tensor | None:
    """(B, 1) M-RoPE offsets in use: from the VLM's ``outputs``, else where Qwen-VL models keep them on the
    module (``vlm.rope_deltas``); None for families without M-RoPE."""
    deltas = getattr(outputs, "rope_deltas", None)
    return deltas if deltas is not None else getattr(vlm, "rope_deltas", None)
