"""Shared-prefix candidate scoring: each clip is encoded once, and the scores equal the pairwise path."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from transformers import CLIPVisionConfig

import hf_skeleton as hs
from hf_skeleton.evaluation.recognition import score_candidate_labels
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.testing import (
    QWEN_VISION_TOKENS,
    build_tiny_tokenizer,
    tiny_llava_config,
    tiny_qwen2_5_vl_config,
    tiny_text_config,
)
from hf_skeleton.training.collators import chat_prompt

PROMPT = "what action is the person doing ? answer with the action name ."
# one to many tokens each, so candidates are right-padded among themselves
LABELS = ["walk", "pick up with one hand", "sit down", "pick up", "touch other person's pocket"]


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>", "<image>", "<motion>",
                                                                          "<video>"))


def sharpen(model, std=0.2):
    """Re-draw the language model's matrices with a wide spread: random tiny models at their usual
    init predict near-uniform tokens, which would hide a wrong position or mask in the scores."""
    torch.manual_seed(1)
    with torch.no_grad():
        for module in (model.model.language_model, model.lm_head):
            for p in module.parameters():
                if p.ndim == 2:
                    p.normal_(0.0, std)
    return model


def skeleton_llm(tok, family="qwen2_5_vl", frames_as="images"):
    torch.manual_seed(0)
    draction = hs.DrActionConfig(format="kinect_v2", num_frames=2, image_size=56, backend="torch")
    vlm = (tiny_qwen2_5_vl_config(tok, hidden_size=32, heads=2) if family == "qwen2_5_vl"
           else tiny_llava_config(tok, hidden_size=32, heads=2))
    config = hs.SkeletonLLMConfig(draction, vlm, frames_as=frames_as)
    model = sharpen(hs.SkeletonLLMForConditionalGeneration(config).eval())
    return model, hs.SkeletonLLMProcessor.from_model_config(config, tok)


def llamo(tok, video=False):
    torch.manual_seed(0)
    tower = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                             image_size=56, patch_size=14)
    vision = {"vision_config": tower, "num_video_frames": 2, "video_pooling": "mean"} if video else {}
    cfg = hs.LlamoConfig(format="kinect_v1", use_video=video, motion_hidden_size=32, motion_num_layers=1,
                         motion_num_heads=4, motion_intermediate_size=64, max_motion_frames=24,
                         motion_temporal_stride=2, motion_dropout=0.0, fusion_num_heads=4,
                         text_config=tiny_text_config(tok, hidden_size=32, heads=4),
                         motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                         video_token_id=tok.convert_tokens_to_ids("<video>"), **vision)
    return sharpen(hs.LlamoForConditionalGeneration(cfg).eval()), hs.LlamoProcessor.from_config(cfg, tok)


def kinect_v2_clips():
    return [synthetic_clip("walk", 20), synthetic_clip("wave", 9), synthetic_clip("squat", 14)]


def kinect_v1_clips():
    rng = np.random.default_rng(0)
    # 3, 11 and 24 frames: 2, 6 and 12 motion tokens (stride 2), so prompts differ in length
    return [rng.normal(size=(T, 20, 3)).astype(np.float32) for T in (3, 11, 24)]


def both_paths(model, proc, clips, **kw):
    shared = score_candidate_labels(model, proc, clips, PROMPT, LABELS, share_prefix=True, **kw)
    pairwise = score_candidate_labels(model, proc, clips, PROMPT, LABELS, share_prefix=False, **kw)
    return shared, pairwise


def test_candidates_differ_in_token_length(tok):
    lengths = {len(tok.encode(label, add_special_tokens=False)) for label in LABELS}
    assert len(lengths) >= 3


@pytest.mark.parametrize("family,frames_as", [("qwen2_5_vl", "images"), ("qwen2_5_vl", "video"),
                                              ("llava", "images")])
def test_skeleton_llm_shared_prefix_equals_pairwise(tok, family, frames_as):
    model, proc = skeleton_llm(tok, family, frames_as)
    clips = kinect_v2_clips()
    for length_normalize in (False, True):
        shared, pairwise = both_paths(model, proc, clips, batch_size=10, length_normalize=length_normalize)
        assert shared.shape == (3, len(LABELS)) and torch.isfinite(shared).all()
        torch.testing.assert_close(shared, pairwise, atol=1e-4, rtol=0)
    # one clip per prompt pass (batch_size < C) gives the same numbers as several
    one = score_candidate_labels(model, proc, clips, PROMPT, LABELS, batch_size=1, length_normalize=True)
    torch.testing.assert_close(one, shared, atol=1e-4, rtol=0)


def test_skeleton_llm_qwen_positions_follow_mrope(tok):
    """The candidates continue from the M-RoPE positions, not from the token count: plain 1-D
    positions after the prompt would change the scores."""
    model, proc = skeleton_llm(tok)
    clips = kinect_v2_clips()[:1]
    enc = proc(skeletons=clips, text=[chat_prompt(proc, PROMPT)])
    _, deltas = model.model.rope_position_ids(enc["input_ids"], enc["attention_mask"])
    assert int(deltas[0, 0]) < 0  # the visual tokens take fewer positions than tokens
    shared, pairwise = both_paths(model, proc, clips)
    torch.testing.assert_close(shared, pairwise, atol=1e-4, rtol=0)


@pytest.mark.parametrize("video", [False, True])
def test_llamo_shared_prefix_equals_pairwise_with_prompts_of_different_lengths(tok, video):
    model, proc = llamo(tok, video)
    clips = kinect_v1_clips()
    enc = proc(skeletons=clips, text=[PROMPT] * 3)
    assert len(set(enc["attention_mask"].sum(-1).tolist())) == 3
    videos = ([np.random.default_rng(k).integers(0, 255, (4, 40, 50, 3), dtype=np.uint8) for k in range(3)]
              if video else None)
    for length_normalize in (False, True):
        shared, pairwise = both_paths(model, proc, clips, batch_size=10, length_normalize=length_normalize,
                                      videos=videos)
        torch.testing.assert_close(shared, pairwise, atol=1e-4, rtol=0)
    assert not torch.allclose(shared[0], shared[1])  # the clips reach the scores


def test_each_clip_is_encoded_once(tok):
    model, proc = llamo(tok)
    clips = kinect_v1_clips()
    seen = []
    handle = model.model.motion_encoder.register_forward_hook(lambda m, args, out: seen.append(args[0].shape[0]))
    try:
        score_candidate_labels(model, proc, clips, PROMPT, LABELS, batch_size=10)
        shared = sum(seen)
        seen.clear()
        score_candidate_labels(model, proc, clips, PROMPT, LABELS, batch_size=10, share_prefix=False)
        pairwise = sum(seen)
    finally:
        handle.remove()
    assert shared == len(clips) and pairwise == len(clips) * len(LABELS)


def _count_prepared(monkeypatch) -> list:
    """Every clip the SkeletonProcessor prepares (input -> normalised sequence) from now on."""
    from hf_skeleton.processing import SkeletonProcessor

    seen, prepare = [], SkeletonProcessor.prepare

    def counting(self, clip, *args, **kwargs):
        seen.append(clip)
        return prepare(self, clip, *args, **kwargs)

    monkeypatch.setattr(SkeletonProcessor, "prepare", counting)
    return seen


@pytest.mark.parametrize("make", ["skeleton_llm", "llamo"])
def test_each_clip_goes_through_the_skeleton_processor_once(tok, make, monkeypatch):
    """Candidate tokens and prompt lengths come from the text alone: the scorer prepares each clip once
    (it used to prepare the first clip C + 1 more times), the collator once per example (it used to
    encode every clip twice), with the same labels as the prompt-only encoding gives."""
    from hf_skeleton.training.collators import SkeletonSFTCollator, chat_prompt

    model, proc = skeleton_llm(tok) if make == "skeleton_llm" else llamo(tok)
    clips = kinect_v2_clips() if make == "skeleton_llm" else kinect_v1_clips()
    seen = _count_prepared(monkeypatch)
    score_candidate_labels(model, proc, clips, PROMPT, LABELS, batch_size=10)
    assert len(seen) == len(clips)
    seen.clear()
    examples = [{"skeleton": c, "prompt": PROMPT, "answer": label} for c, label in zip(clips, LABELS)]
    batch = SkeletonSFTCollator(proc)(examples)
    assert len(seen) == len(clips)
    prompt_only = proc(skeletons=clips, text=[chat_prompt(proc, PROMPT)] * len(clips))
    first_answer = batch["attention_mask"].long().cumsum(-1) > prompt_only["attention_mask"].sum(-1, keepdim=True)
    attended = batch["attention_mask"].bool()
    expected = batch["input_ids"].masked_fill(~(first_answer & attended), -100)
    expected[torch.isin(expected, torch.tensor(proc.placeholder_token_ids))] = -100
    assert torch.equal(batch["labels"], expected) and (batch["labels"] != -100).any()


class _NoGeneration(nn.Module):
    """A causal model without generation helpers: the scorer must fall back to the pairwise path."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self, **kwargs):
        return self.inner(**kwargs)


def test_models_without_cache_support_fall_back_to_pairwise(tok):
    model, proc = llamo(tok)
    clips = kinect_v1_clips()[:2]
    wrapped = _NoGeneration(model)
    fallback = score_candidate_labels(wrapped, proc, clips, PROMPT, LABELS)
    pairwise = score_candidate_labels(model, proc, clips, PROMPT, LABELS, share_prefix=False)
    torch.testing.assert_close(fallback, pairwise, atol=0, rtol=0)


def test_balanced_sample_draws_every_class_evenly_and_reproducibly():
    from types import SimpleNamespace

    from hf_skeleton.evaluation.protocols import balanced_sample

    clips = [SimpleNamespace(meta={"label_name": f"class {i // 30}", "i": i}) for i in range(300)]  # by class
    sample = balanced_sample(clips, 20, seed=0)
    counts = {}
    for clip in sample:
        counts[clip.meta["label_name"]] = counts.get(clip.meta["label_name"], 0) + 1
    assert counts == {f"class {k}": 2 for k in range(10)}
    drawn = [c.meta["i"] for c in sample]
    assert drawn == sorted(drawn)  # original order
    assert [c.meta["i"] for c in balanced_sample(clips, 20, seed=0)] == drawn
    assert [c.meta["i"] for c in balanced_sample(clips, 20, seed=1)] != drawn
    assert len(balanced_sample(clips, 1000, seed=0)) == 300
