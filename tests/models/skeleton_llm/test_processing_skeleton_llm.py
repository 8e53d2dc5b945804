"""SkeletonLLM processing: placeholder expansion, inputs of every kind, the SFT collator's labels."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skeleton_llm_fixtures import (
    clips,
    examples,
    make,
    tokenizer,  # noqa: F401  (pytest fixtures)
)

import hf_skeleton as hs
from hf_skeleton import SkeletonInputError
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.training.collators import SkeletonSFTCollator, build_labels


# ---------------------------------------------------------------------- processor
def test_processor_expands_placeholder_to_visual_tokens(tokenizer):
    model, proc = make(tokenizer)
    cfg = model.config
    batch = proc(skeletons=clips(), text=["<skeleton> what?", "describe the motion ."])
    ids = batch["input_ids"]
    per_row = (ids == cfg.image_token_id).sum(-1)
    assert per_row.tolist() == [cfg.num_visual_tokens()] * 2 == [2 * 4] * 2  # 2 frames x (56/14/2)^2
    start = tokenizer.convert_tokens_to_ids("<|vision_start|>")
    assert (ids == start).sum(-1).tolist() == [2, 2]  # one start marker per frame
    assert batch["skeletons"].shape == (2, 20, 1, 25, 3) and batch["skeleton_mask"].dtype == torch.bool
    assert not batch["skeleton_mask"][1, 9:].any()  # padding frames are unobserved
    # the first frame's root is the origin after normalisation (centre on the first frame)
    root = hs.get_format("kinect_v2").root
    assert torch.allclose(batch["skeletons"][0, 0, 0, root], torch.zeros(3), atol=1e-5)


def test_processor_arrays_paths_and_errors(tokenizer, nucla_dir):
    _, proc = make(tokenizer)
    arr = synthetic_clip("walk", 5).positions[:, 0]
    out = proc(skeletons=[arr], text=["what?"], skeleton_format="kinect_v2")
    assert out["skeletons"].shape == (1, 5, 1, 25, 3)
    # a bare array is read as the clip it holds
    as_clip = proc(skeletons=[synthetic_clip("walk", 5)], text=["what?"])
    assert torch.equal(out["skeletons"], as_clip["skeletons"])
    path = sorted(nucla_dir.glob("*.json"))[0]
    out = proc(skeletons=[path], text=["what?"])  # Kinect v1 file converted by joint name to Kinect v2
    assert out["skeletons"].shape[3] == 25
    assert 0 < out["skeleton_mask"][0, 0, 0].sum() < 25  # joints Kinect v1 lacks stay masked
    with pytest.raises(SkeletonInputError, match="skeleton_format"):
        proc(skeletons=[arr], text=["x"])
    with pytest.raises(SkeletonInputError, match="joints"):
        proc(skeletons=[np.zeros((4, 17, 3), np.float32)], text=["x"], skeleton_format="kinect_v2")
    with pytest.raises(SkeletonInputError, match="clips"):
        proc(skeletons=clips(), text=["<skeleton> <skeleton> two clips", "<skeleton> one"])
    with pytest.raises(SkeletonInputError, match="observed"):
        proc(skeletons=[np.full((3, 25, 3), np.nan, np.float32)], text=["x"], skeleton_format="kinect_v2")
    with pytest.raises(SkeletonInputError):
        proc(skeletons=[np.zeros((0, 25, 3), np.float32)], text=["x"], skeleton_format="kinect_v2")


# ---------------------------------------------------------------------- collator
def test_collator_label_masking_by_hand(tokenizer):
    _, proc = make(tokenizer)
    collator = SkeletonSFTCollator(proc)
    batch = collator(examples())
    prompt = tokenizer.apply_chat_template([{"role": "user", "content": "<skeleton>\nwhat action is the person doing ?"}],
                                           tokenize=False, add_generation_prompt=True)
    for row, answer in enumerate(["walk around", "hand waving"]):
        full = prompt.replace("<skeleton>", proc.expansion()) + answer + tokenizer.eos_token
        expected_ids = tokenizer(full)["input_ids"]
        answer_ids = tokenizer(answer + tokenizer.eos_token)["input_ids"]
        n = len(expected_ids)
        attended = batch["attention_mask"][row].bool()
        assert batch["input_ids"][row][attended].tolist() == expected_ids
        labels = batch["labels"][row][attended].tolist()
        assert labels == [-100] * (n - len(answer_ids)) + answer_ids
        assert (batch["labels"][row][~attended] == -100).all()


def test_build_labels_left_and_right_padding():
    ids = torch.tensor([[0, 0, 5, 6, 7, 8], [5, 6, 7, 8, 9, 0]])
    mask = (ids != 0).long()
    labels = build_labels(ids, mask, torch.tensor([2, 3]), ignore_token_ids=[7])
    assert labels.tolist() == [[-100, -100, -100, -100, -100, 8], [-100, -100, -100, 8, 9, -100]]
