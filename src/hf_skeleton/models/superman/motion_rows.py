"""The motion-token rows of Superman's input embeddings and LM head as their own, small parameters.

On a pretrained LLM (SmolLM2-135M-Instruct: 49,152 x 576 embeddings, tied to the head) Superman trains the
rows of its ``<skel_k>``, ``<skel_start>``, ``<skel_end>`` tokens (K + 2 of them) and LoRA layers, and leaves
every other row frozen at the LLM's. :class:`MotionRowsEmbedding` (the input embeddings) and
:class:`MotionRowsHead` (the LM head) keep the full (V, D) ``weight`` under its usual name, frozen, and read
the K + 2 rows from ``motion_rows`` (K + 2, D) instead: a trained-parts folder
(``config.backbone_weights``, :mod:`hf_skeleton.backbone_weights`) then finds ``weight`` equal to the
LLM's (its added rows are the LLM's mean row, as a reload rebuilds them) and ships ``motion_rows`` alone:
0.3 M values for 512 codes on SmolLM2 instead of 28 M. A tied LLM ties both: ``lm_head.weight`` to the
embeddings' and ``lm_head.motion_rows`` to theirs (``_tied_weights_keys``).

Why not PEFT's ``trainable_token_indices`` (``TrainableTokensWrapper``, peft >= 0.15), which keeps the same
(n, D) delta: it renames the wrapped weights (``embed_tokens.token_adapter.base_layer.weight``), which neither
transformers' tied-weight keys nor the backbone mapping of a trained-parts folder know, and its forward
rebuilds the whole (V, D) table (``index_copy``) at every call, twice for an untied head: 114 MB a call on
SmolLM2, at every generated token. Here a lookup replaces only the looked-up rows, and the head only the
K + 2 logit columns.

Code that multiplies by ``lm_head.weight`` instead of calling the head (TRL's fused LM head in ``SFTTrainer``,
which never builds full logits) would score the motion tokens with the frozen placeholder rows and never train
``motion_rows``: :meth:`MotionRowsHead.reading_merged_weight` makes ``weight`` read as the merged table for such a
call (:func:`~hf_skeleton.training.superman_tasks.build_superman_trainer` wraps the trainer's forward in it).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn
from torch.nn import functional as F

from ...errors import SkeletonInputError


def _check_rows(name: str, rows: int, start: int, count: int) -> None:
    if count < 1 or start < 0 or start + count > rows:
        raise SkeletonInputError(name, f"motion rows [start, start + count) inside the {rows} rows",
                                 (start, start + count))


class MotionRowsEmbedding(nn.Embedding):
    """An ``nn.Embedding`` (V, D) whose rows ``[start, start + count)`` come from ``motion_rows`` (count, D).

    ``weight`` (the pretrained table) is frozen; only ``motion_rows`` trains. ids (...) -> (..., D).
    """

    def __init__(self, embedding: nn.Embedding, start: int, count: int):
        if type(embedding) is not nn.Embedding:  # a scaled or otherwise custom embedding would lose its forward
            raise SkeletonInputError("input embeddings", "a plain nn.Embedding (motion rows)", type(embedding).__name__)
        _check_rows("input embeddings", embedding.num_embeddings, start, count)
        nn.Module.__init__(self)
        self.num_embeddings, self.embedding_dim = embedding.num_embeddings, embedding.embedding_dim
        self.padding_idx, self.max_norm = embedding.padding_idx, embedding.max_norm
        self.norm_type, self.scale_grad_by_freq, self.sparse = (
            embedding.norm_type, embedding.scale_grad_by_freq, embedding.sparse)
        self.weight = embedding.weight  # the same tensor: nothing is copied
        self.weight.requires_grad_(False)
        self.start, self.count = int(start), int(count)
        self.motion_rows = nn.Parameter(torch.empty(count, self.embedding_dim, dtype=self.weight.dtype,
                                                    device=self.weight.device))
        nn.init.normal_(self.motion_rows, std=0.02)  # build_superman_... / from_pretrained set the real values

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        out = F.embedding(input_ids, self.weight, self.padding_idx)
        local = input_ids - self.start
        inside = (local >= 0) & (local < self.count)
        rows = F.embedding(local.clamp(0, self.count - 1), self.motion_rows)
        return torch.where(inside[..., None], rows, out)

    def extra_repr(self) -> str:
        return f"{self.num_embeddings}, {self.embedding_dim}, motion rows [{self.start}, {self.start + self.count})"


class MotionRowsHead(nn.Linear):
    """A bias-free LM head (V, D) whose output columns ``[start, start + count)`` come from ``motion_rows``
    (count, D). ``weight`` is frozen; only ``motion_rows`` trains. hidden (..., D) -> logits (..., V)."""

    def __init__(self, head: nn.Linear, start: int, count: int):
        if not isinstance(head, nn.Linear) or head.bias is not None:
            raise SkeletonInputError("lm_head", "a bias-free nn.Linear (motion rows)", type(head).__name__)
        _check_rows("lm_head", head.out_features, start, count)
        nn.Module.__init__(self)
        self.in_features, self.out_features = head.in_features, head.out_features
        self.weight = head.weight
        self.weight.requires_grad_(False)
        self.register_parameter("bias", None)
        self.start, self.count = int(start), int(count)
        self.motion_rows = nn.Parameter(torch.empty(count, self.in_features, dtype=self.weight.dtype,
                                                    device=self.weight.device))
        nn.init.normal_(self.motion_rows, std=0.02)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        logits = F.linear(hidden, self._parameters["weight"])
        logits[..., self.start:self.start + self.count] = F.linear(hidden, self.motion_rows)
        return logits

    def merged_weight(self) -> torch.Tensor:
        """(V, D): the stored ``weight`` with rows ``[start, start + count)`` replaced by ``motion_rows``
        (differentiable in ``motion_rows``); a copy of the table, made only for :meth:`reading_merged_weight`."""
        weight, end = self._parameters["weight"], self.start + self.count
        return torch.cat([weight[: self.start], self.motion_rows.to(weight.dtype), weight[end:]], 0)

    @contextmanager
    def reading_merged_weight(self) -> Iterator[None]:
        """Within the block ``self.weight`` reads as :meth:`merged_weight` (computed on entry), for code that
        multiplies by an LM head's weight instead of calling it; the stored parameter (``state_dict``, tying,
        ``named_parameters``) is untouched. Enter it once per forward: ``motion_rows`` changes every step."""
        self.__dict__["weight"] = self.merged_weight()  # found before nn.Module's lookup of _parameters
        try:
            yield
        finally:
            self.__dict__.pop("weight", None)

    def extra_repr(self) -> str:
        return f"{self.in_features} -> {self.out_features}, motion rows [{self.start}, {self.start + self.count})"


def typical_rows(weight: torch.Tensor, count: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """(count, D) new rows drawn like a typical row of ``weight`` (V, D): per dimension, its mean and
    standard deviation over the V rows (in float32, cast back to ``weight``'s dtype)."""
    w = weight.detach().float()
    mean, std = w.mean(0), w.std(0)
    noise = torch.randn(count, w.shape[1], generator=generator, device=w.device)
    return (mean + noise * std).to(weight.dtype)
