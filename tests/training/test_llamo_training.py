"""LLaMo training: instruction data, the video-aware collator, stage freezing, and a real-data smoke run."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import CLIPVisionConfig

import hf_skeleton as hs
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config
from hf_skeleton.training.collators import IGNORE_INDEX
from hf_skeleton.training.llamo_stages import (
    INSTRUCTION_TEMPLATES,
    LlamoSFTCollator,
    build_examples,
    configure_stage,
    most_active_part,
    to_sft_dataset,
    train_stage,
)

NUCLA = ["pick up with one hand", "pick up with two hands", "drop trash", "walk around", "sit down", "stand up",
         "donning", "doffing", "throw", "carry"]


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer(extra_texts=NUCLA, extra_special_tokens=["<motion>", "<video>"])


def build(tok, video=False, seed=0, **kw):
    torch.manual_seed(seed)
    args = dict(format="kinect_v1", motion_hidden_size=32, motion_num_layers=1, motion_num_heads=4,
                motion_intermediate_size=64, max_motion_frames=16, motion_temporal_stride=4, motion_dropout=0.0,
                use_video=video, num_video_frames=2, video_pooling="mean", fusion_num_heads=4,
                vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                               num_attention_heads=2, image_size=56, patch_size=14) if video else None,
                text_config=tiny_text_config(tok, hidden_size=32, heads=4),
                motion_token_id=tok.convert_tokens_to_ids("<motion>"), video_token_id=tok.convert_tokens_to_ids("<video>"))
    args.update(kw)
    cfg = hs.LlamoConfig(**args)
    return hs.LlamoForConditionalGeneration(cfg), hs.LlamoProcessor.from_config(cfg, tok)


@pytest.fixture(scope="module")
def nucla(nucla_dir):
    files = sorted(nucla_dir.glob("a0[45]_s0[1-4]_e0[01]_v01.json"))
    seqs = [hs.load_skeleton(f) for f in files]
    assert len(seqs) >= 12
    return seqs


def test_build_examples_per_task(nucla):
    labels = [s.meta["label_name"] for s in nucla]
    rec = build_examples(nucla, "recognition", labels=labels, seed=1)
    assert [e["answer"] for e in rec] == labels and all(e["prompt"] in INSTRUCTION_TEMPLATES["recognition"] for e in rec)
    qa = build_examples(nucla, "qa_verify", labels=labels, candidate_labels=NUCLA, seed=0)
    assert len(qa) == len(nucla) and {e["answer"] for e in qa} == {"yes", "no"}
    for e, lab in zip(qa, labels):
        assert (lab in e["prompt"]) == (e["answer"] == "yes")
    parts = build_examples(nucla, "qa_body_part")
    assert [e["answer"] for e in parts] == ["the " + most_active_part(s).replace("_", " ") for s in nucla]
    assert {e["answer"] for e in parts} <= {"the torso", "the left arm", "the right arm", "the left leg", "the right leg"}
    with pytest.raises(hs.SkeletonInputError, match="captions"):
        build_examples(nucla, "captioning")
    with pytest.raises(hs.SkeletonInputError, match="task"):
        build_examples(nucla, "dance")


def test_most_active_part_on_a_moving_limb():
    fmt = hs.get_format("kinect_v1")
    pos = np.zeros((10, 20, 3), np.float32)
    pos[:, fmt.index("left_ankle"), 0] = np.linspace(0, 1, 10)  # only the left ankle moves
    assert most_active_part(hs.SkeletonSequence(pos, format=fmt)) == "left_leg"


def test_sft_dataset_keeps_masks_and_collator_masks_prompt_and_placeholders(tok, nucla):
    model, proc = build(tok, video=True)
    seq = nucla[0].copy()
    seq.mask[:, :, 3] = False  # head never tracked
    frames = np.random.default_rng(0).integers(0, 255, (5, 40, 30, 3), dtype=np.uint8)
    examples = build_examples([seq, nucla[1]], "recognition", labels=["walk around", "sit down"],
                              videos=[frames, frames])
    ds, fmt = to_sft_dataset(examples)
    assert fmt.name == "kinect_v1" and np.isnan(ds[0]["skeleton"][:, 3]).all()
    collator = LlamoSFTCollator(proc, skeleton_format="kinect_v1")
    batch = collator([ds[0], ds[1]])
    assert not batch["motion_mask"][0, :, 3].any() and batch["pixel_values_videos"].shape == (2, 2, 3, 56, 56)
    labels = batch["labels"]
    for i, answer in enumerate(["walk around", "sit down"]):
        kept = labels[i][labels[i] != IGNORE_INDEX]
        assert tok.decode(kept) == answer + tok.eos_token
    placeholder = (batch["input_ids"] == proc.motion_token_id) | (batch["input_ids"] == proc.video_token_id)
    assert (labels[placeholder] == IGNORE_INDEX).all()
    # the video placeholder sits inside the user turn, right before the motion tokens
    text = tok.decode(batch["input_ids"][0])
    assert text.index("<|im_start|>user") < text.index("<video>") < text.index("<motion>")
    out = model(**batch)
    assert torch.isfinite(out.loss)


def test_stage_freezing(tok):
    model, _ = build(tok, video=True)
    configure_stage(model, 1)
    trainable = {n.split(".")[1] for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == {"motion_encoder", "motion_projector", "video_projector", "fusion"}
    configure_stage(model, 1, train_motion_encoder=False)
    assert not any(p.requires_grad for p in model.model.motion_encoder.parameters())
    peft_model = configure_stage(model, 2, lora=True, lora_r=4)
    names = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    lora = [n for n in names if "lora_" in n]
    assert lora and all(("q_proj" in n or "v_proj" in n) and "language_model" in n for n in lora)
    assert not any("vision_tower" in n for n in names)
    assert any("motion_encoder" in n for n in names) and not any("embed_tokens" in n for n in names)
    full, _ = build(tok, video=False)
    configure_stage(full, 2, lora=False)
    assert all(p.requires_grad for p in full.model.language_model.parameters())
    with pytest.raises(hs.SkeletonInputError, match="stage"):
        configure_stage(full, 3)


@pytest.mark.slow
def test_two_stage_training_on_real_nucla_clips_lowers_the_loss(tok, nucla, tmp_path):
    model, proc = build(tok, video=False)
    labels = [s.meta["label_name"] for s in nucla]
    data = to_sft_dataset(build_examples(nucla, "recognition", labels=labels))
    llm_before = {k: v.clone() for k, v in model.model.language_model.state_dict().items()}
    model, _ = train_stage(model, proc, data, 1, str(tmp_path), max_steps=6, per_device_train_batch_size=8,
                           logging_steps=1)
    assert all(torch.equal(llm_before[k], v) for k, v in model.model.language_model.state_dict().items())
    model, trainer = train_stage(model, proc, data, 2, str(tmp_path), lora=False, max_steps=30,
                                 per_device_train_batch_size=8, logging_steps=1, learning_rate=3e-3)
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    assert np.mean(losses[-5:]) < np.mean(losses[:3]) - 1.0, losses
    model.save_pretrained(tmp_path / "llamo")
    proc.save_pretrained(tmp_path / "llamo")
    assert (tmp_path / "llamo" / "model.safetensors").is_file()
