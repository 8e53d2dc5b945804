"""Warm-start LLaMo's motion encoder with a classification head before it meets the LLM.

LLaMo aligns *pretrained* encoders to a frozen LLM (stage 1). No pretrained skeleton encoder ships
with this stack, and learning one only through a 135 M-parameter LLM costs ~2 s a step on a CPU, so
the recipes first train the encoder alone: encoder -> mean over its tokens -> linear head,
cross-entropy on the training labels, one-cycle schedule, the processor's own normalisation and
augmentation. The head is thrown away; stage 1 then aligns the (frozen) encoder to the LLM as the
paper does. ``benchmarks/motion_probe_nucla.py`` uses the same loop as a probe of the motion pathway.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..errors import SkeletonInputError


def motion_batch(processor: Any, clips: Sequence[Any], augment: dict[str, Any] | None = None,
                 seed: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Clips -> ``(motion (B, T, J, 3), mask (B, T, J))``, zero padded to the longest, through the
    processor's ``skeleton_processor`` (normalise, then augment with clip ``i`` drawn from ``seed + i``)."""
    sp = processor.skeleton_processor
    seqs = [sp.prepare(c, name=f"clips[{i}]") for i, c in enumerate(clips)]
    pos, mask = sp.pad(sp.augment(seqs, None if augment is None else {**augment, "seed": seed}, per_clip_seeds=True))
    return torch.from_numpy(pos), torch.from_numpy(mask)


def pooled_logits(encoder: torch.nn.Module, head: torch.nn.Module, motion: torch.Tensor,
                  mask: torch.Tensor) -> torch.Tensor:
    """(B, T, J, 3) motion -> (B, C) class logits: the head on the mean of the encoder's tokens."""
    return head(encoder(motion, mask).features.mean(1))


def warm_up_motion_encoder(encoder: torch.nn.Module, processor: Any, clips: Sequence[Any], labels: Sequence[str], *,
                           epochs: int = 25, lr: float = 2e-3, batch_size: int = 32,
                           augment: dict[str, Any] | None = None, seed: int = 0,
                           on_epoch: Callable[[int, float, torch.nn.Module], None] | None = None) -> torch.nn.Module:
    """Train ``encoder`` (in place) to classify ``clips`` by ``labels``; returns the linear head.

    Args:
        encoder: a :class:`~hf_skeleton.models.llamo.motion_encoder.LlamoMotionEncoder`.
        processor: the model's processor (its ``prepare_motion`` normalises and augments).
        clips, labels: training clips and one label name per clip.
        augment: training augmentation (``{"max_angle", "max_tilt", "scale_range"}``); ``None``: off.
        on_epoch: called as ``on_epoch(epoch, last_loss, head)`` after every epoch (logging, probes).
    """
    if len(clips) != len(labels):
        raise SkeletonInputError("labels", f"one per clip ({len(clips)})", len(labels))
    if len(clips) < 2:
        raise SkeletonInputError("clips", "at least two training clips", len(clips))
    names = sorted(set(labels))
    y = torch.tensor([names.index(v) for v in labels])
    head = torch.nn.Linear(encoder.config.motion_hidden_size, len(names))
    head.classes = names  # row i of the head scores names[i]
    params = list(encoder.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.01)
    batch_size = min(batch_size, len(clips))
    steps_per_epoch = len(clips) // batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * steps_per_epoch)
    fixed = None if augment else motion_batch(processor, clips)
    gen = torch.Generator().manual_seed(seed)
    was_training = encoder.training
    encoder.train()
    for epoch in range(epochs):
        order = torch.randperm(len(clips), generator=gen)
        for k in range(steps_per_epoch):
            idx = order[k * batch_size:(k + 1) * batch_size]
            if fixed is None:
                x, m = motion_batch(processor, [clips[i] for i in idx], augment,
                                    seed=seed * 10**6 + epoch * 10**4 + k * 100)
            else:
                x, m = fixed[0][idx], fixed[1][idx]
            loss = torch.nn.functional.cross_entropy(pooled_logits(encoder, head, x, m), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        if on_epoch is not None:
            encoder.eval()
            on_epoch(epoch + 1, loss.item(), head)
            encoder.train()
    encoder.train(was_training)
    return head
