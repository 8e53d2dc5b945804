"""SkeletonLLM's projector warm-up (tower tokens -> projector -> GRU -> linear head) on real N-UCLA clips."""

from __future__ import annotations

import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.testing import tiny_skeleton_llm
from hf_skeleton.training.projector_warmup import projected_logits, tower_features, warm_up_projector


@pytest.fixture(scope="module")
def clips(nucla_dir):
    """Sit down vs walk around, 5 subjects each, view 1."""
    files = [nucla_dir / f"{a}_s0{s}_e00_v01.json" for a in ("a04", "a05") for s in range(1, 6)]
    out = [hs.load_skeleton(f) for f in files if f.is_file()]
    return out, [c.meta["label_name"] for c in out]


def llava(seed: int = 0):
    torch.manual_seed(seed)
    return tiny_skeleton_llm("llava", format="kinect_v1", num_frames=4, image_size=56)


def test_tower_features_are_deterministic_and_keep_the_mode(clips):
    model, proc = llava()
    model.train()
    feats = tower_features(model, proc, clips[0][:3], batch_size=2)
    tokens = model.config.num_visual_tokens() // 4  # per frame (the class token dropped)
    assert feats.shape[:3] == (3, 4, tokens) and feats.dtype == torch.float32 and torch.isfinite(feats).all()
    assert torch.equal(feats, tower_features(model, proc, clips[0][:3], batch_size=3))  # batching does not matter
    assert model.training and not feats.requires_grad


def test_warm_up_trains_the_projector_only(clips):
    """Which parameters move; that the warm-up separates real actions is tested on the pretrained tower
    (tests/models/skeleton_llm/test_pretrained_skeleton_llm.py): a random tiny tower's tokens barely differ."""
    model, proc = llava()
    train, labels = clips
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    losses = []
    head = warm_up_projector(model, proc, train, labels, epochs=3, batch_size=4,
                             on_epoch=lambda epoch, loss, head: losses.append(loss))
    assert len(losses) == 3 and head.classes == sorted(set(labels)) and len(set(labels)) == 2
    changed = {n.split(".")[2] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"multi_modal_projector"}  # tower, LLM and renderer untouched
    assert flags == {n: p.requires_grad for n, p in model.named_parameters()}  # flags restored
    feats = tower_features(model, proc, train[:2])
    with torch.no_grad():
        assert projected_logits(model.model.vlm.multi_modal_projector, head, feats).shape == (2, 2)


def test_warm_up_refuses_what_it_cannot_train(clips):
    train, labels = clips
    qwen, proc = tiny_skeleton_llm("qwen2_5_vl", format="kinect_v1", num_frames=4, image_size=56)
    with pytest.raises(hs.SkeletonInputError, match="from_backbones"):
        warm_up_projector(qwen, proc, train, labels, epochs=1)
    model, proc = llava()
    with pytest.raises(hs.SkeletonInputError, match="labels"):
        warm_up_projector(model, proc, train, labels[:-1], epochs=1)
    with pytest.raises(hs.SkeletonInputError, match="features"):
        warm_up_projector(model, proc, train, labels, features=torch.zeros(2, 4, 1, 8), epochs=1)
