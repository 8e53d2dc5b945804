"""Warm-start SkeletonLLM's projector on the frozen vision tower's features before stage 1.

The paper's stage 1 aligns a projector that is already pretrained (Qwen2.5-VL's merger). A VLM composed
from two backbones (:meth:`~hf_skeleton.models.skeleton_llm.SkeletonLLMForConditionalGeneration.from_backbones`)
starts with a random projector, and learning it only through a 135 M-parameter LLM costs ~1-3 s a step on
a CPU; LLaMo's motion encoder had the same problem (:mod:`~hf_skeleton.training.motion_encoder_warmup`).
So the recipe first trains the projector alone: the tower's tokens of each clip's DrAction frames,
computed once (eval mode: deterministic frames, no gradient), -> projector -> per-frame mean -> a small
GRU over the frames -> a linear head, cross-entropy on the training labels. The head is thrown away;
stage 1 then aligns the warmed projector (and the renderer) to the frozen LLM as the paper does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ..errors import SkeletonInputError


def _vision_parts(model: Any) -> tuple[nn.Module, nn.Module, nn.Module]:
    """(inner SkeletonLLM model, tower, projector) of a LLaVA-layout composed SkeletonLLM."""
    inner = model.model
    vlm = inner.vlm
    tower, projector = getattr(vlm, "vision_tower", None), getattr(vlm, "multi_modal_projector", None)
    if tower is None or projector is None or inner.config.frames_as != "images":
        raise SkeletonInputError("model", "a SkeletonLLM composed with from_backbones (a LLaVA-layout VLM whose "
                                          "vision_tower reads every frame as an image)", type(vlm).__name__)
    return inner, tower, projector


def _selected(states: Sequence[torch.Tensor], config: Any) -> torch.Tensor:
    """The tokens LLaVA's ``get_image_features`` hands its projector: the configured layer(s), without
    the class token under the ``"default"`` strategy."""
    layer = config.vision_feature_layer
    tokens = states[layer] if isinstance(layer, int) else torch.cat([states[i] for i in layer], -1)
    return tokens[:, 1:] if config.vision_feature_select_strategy == "default" else tokens


def tower_features(model: Any, processor: Any, clips: Sequence[Any], batch_size: int = 16) -> torch.Tensor:
    """Clips -> ``(N, T', K, C)`` tower tokens (``K = token_grid ** 2``) of their deterministic DrAction frames.

    The processor normalises each clip as in training and inference; no gradient, the model's mode is kept."""
    inner, tower, _ = _vision_parts(model)
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, len(clips), batch_size):
            seqs = [processor.prepare_sequence(c, index=start + k) for k, c in enumerate(clips[start:start + batch_size])]
            skeletons, mask = processor.pad_skeletons(seqs)
            pixels = inner.vision_inputs(skeletons, mask)["pixel_values"]  # (n * T', 3, H, W)
            states = tower(pixels.to(tower.dtype), output_hidden_states=True, return_dict=True).hidden_states
            tokens = _selected(states, model.model.vlm.config)
            out.append(tokens.reshape(len(seqs), -1, *tokens.shape[1:]).float())
    model.train(was_training)
    return torch.cat(out)


class TemporalHead(nn.Module):
    """``(B, T', K, D)`` projected tokens -> ``(B, C)`` logits: mean over the K tokens of a frame, a GRU over
    the frames (the order tells e.g. sit down from stand up), a linear layer on its last state."""

    def __init__(self, dim: int, num_classes: int, hidden: int = 256):
        super().__init__()
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, num_classes)

    def forward(self, projected: torch.Tensor) -> torch.Tensor:
        states, _ = self.gru(projected.mean(2))
        return self.out(states[:, -1])


def projected_logits(projector: nn.Module, head: TemporalHead, features: torch.Tensor) -> torch.Tensor:
    """``(B, T', K, C)`` tower tokens -> ``(B, classes)``: the projector, then the head."""
    return head(projector(features.to(next(projector.parameters()).dtype)).float())


def warm_up_projector(model: Any, processor: Any, clips: Sequence[Any], labels: Sequence[str], *,
                      epochs: int = 30, lr: float = 1e-3, batch_size: int = 32, seed: int = 0,
                      features: torch.Tensor | None = None,
                      on_epoch: Callable[[int, float, TemporalHead], None] | None = None) -> TemporalHead:
    """Train the projector of a composed SkeletonLLM (in place) to classify ``clips`` by ``labels``.

    Args:
        model: a SkeletonLLM built with ``from_backbones`` (its tower and LLM stay untouched).
        clips, labels: training clips and one label name per clip.
        features: :func:`tower_features` of ``clips`` when already computed.
        on_epoch: called as ``on_epoch(epoch, last_loss, head)`` after every epoch.
    Returns:
        the trained :class:`TemporalHead`; ``head.classes[i]`` is the name its row ``i`` scores.
    """
    if len(clips) != len(labels):
        raise SkeletonInputError("labels", f"one per clip ({len(clips)})", len(labels))
    if len(clips) < 2:
        raise SkeletonInputError("clips", "at least two training clips", len(clips))
    _, _, projector = _vision_parts(model)
    if features is None:
        features = tower_features(model, processor, clips)
    if features.shape[0] != len(clips):
        raise SkeletonInputError("features", f"one row per clip ({len(clips)})", tuple(features.shape))
    names = sorted(set(labels))
    y = torch.tensor([names.index(v) for v in labels])
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = TemporalHead(model.config.vlm_config.text_config.hidden_size, len(names))
    head.classes = names
    was_training = projector.training
    flags = [p.requires_grad for p in projector.parameters()]
    projector.requires_grad_(True)
    projector.train()
    params = list(projector.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    batch_size = min(batch_size, len(clips))
    steps_per_epoch = len(clips) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch)
    for epoch in range(epochs):
        order = torch.randperm(len(clips), generator=gen)
        for k in range(steps_per_epoch):
            idx = order[k * batch_size:(k + 1) * batch_size]
            loss = nn.functional.cross_entropy(projected_logits(projector, head, features[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if on_epoch is not None:
            on_epoch(epoch + 1, loss.item(), head)
    for p, flag in zip(projector.parameters(), flags):
        p.requires_grad_(flag)
    projector.train(was_training)
    return head


__all__ = ["TemporalHead", "projected_logits", "tower_features", "warm_up_projector"]
