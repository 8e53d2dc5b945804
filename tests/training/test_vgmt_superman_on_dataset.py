"""The pieces behind `train vgmt/superman --dataset` (#15) on real clips: the fully observed runs the windows are
cut from, a dataset's units turned into metres for Superman's mm scores, what `--base` accepts, and
`train_vgmt` from Python without an evaluation split."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.skeletons.formats import SkeletonFormat
from hf_skeleton.training.motion_data import MotionData, observed_runs, person_tracks
from hf_skeleton.training.superman_base import SupermanBase
from hf_skeleton.training.superman_recipe import dataset_trials


@pytest.fixture(scope="module")
def clip(nucla_dir):
    return hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")  # 44 frames at 30 fps, one person


def test_windows_come_from_fully_observed_runs(clip):
    mask = clip.mask.copy()
    mask[10:13, 0, 7] = False  # a hand lost for three frames
    seq = clip.copy(mask=mask)
    (pos, m), = list(person_tracks(seq))
    runs = observed_runs(pos, m)
    assert [len(r) for r in runs] == [10, clip.num_frames - 13]
    assert np.array_equal(runs[1], clip.positions[13:, 0])
    assert [len(r) for r in observed_runs(pos, m, min_frames=11)] == [clip.num_frames - 13]
    seq.mask[:, 0] = False  # a person never observed is no track
    assert list(person_tracks(seq)) == []


def test_superman_trials_are_metres_at_the_recipe_fps(clip):
    fmt = clip.format.to_dict()
    in_mm = SkeletonFormat.from_dict({**fmt, "name": "kinect_v1_mm", "units": "mm"})
    seq = hs.SkeletonSequence(clip.positions * 1000, fps=clip.fps, format=in_mm)
    data = MotionData(train=[seq], test=[seq], format=in_mm, source="mm-data")
    train, test = dataset_trials(data, fps=20.0, min_frames=8)
    (trial,) = train.values()
    assert trial.shape == (round(44 * 20 / 30), 20, 3)  # resampled as the CMU trials are
    expected = clip.resample(trial.shape[0]).positions[:, 0]
    assert np.allclose(trial, expected, atol=1e-5) and list(test) == list(train)
    in_px = SkeletonFormat.from_dict({**fmt, "name": "kinect_v1_px", "units": "px"})
    px = MotionData(train=[hs.SkeletonSequence(clip.positions, fps=30, format=in_px)], test=[], format=in_px,
                    source="px-data")
    with pytest.raises(hs.SkeletonInputError, match="length unit.*px-data"):
        dataset_trials(px, fps=20.0, min_frames=8)


def test_base_accepts_a_qwen_vl_and_builds_superman_on_it(tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    from hf_skeleton.testing import (
        QWEN_VISION_TOKENS,
        build_tiny_tokenizer,
        tiny_qwen2_5_vl_config,
        tiny_vgmt,
    )

    assert SupermanBase.resolve(None).kind == SupermanBase.resolve("none").kind == "tiny"
    tokenizer = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS)
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(tiny_qwen2_5_vl_config(tokenizer, hidden_size=32, layers=1)).save_pretrained(
        tmp_path / "vl")
    tokenizer.save_pretrained(tmp_path / "vl")
    base = SupermanBase.resolve(str(tmp_path / "vl"))
    assert base.kind == "vlm" and base.hub_id is None  # a local folder names no Hub model
    vgmt = tiny_vgmt(format="kinect_v1")
    model, processor = base.build(vgmt)
    assert model.config.vlm_config.model_type == "qwen2_5_vl"
    assert torch.equal(model.vgmt.codebook.lookup(torch.arange(4)), vgmt.codebook.lookup(torch.arange(4)))
    # the task texts are built with the processor alone, the same tokens as the built model's
    alone = base.processor(vgmt.config)
    assert alone.motion_ids == processor.motion_ids
    assert model.config.motion_token_offset == processor.motion_ids["codes"][0]


def test_train_vgmt_from_python_without_an_eval_split(nucla_dir, tmp_path):
    from hf_skeleton.training.api import train_vgmt

    rows = [["file", "label"]] + [[f.name, f.name[:3]] for f in sorted(nucla_dir.glob("a0[16]_s01_e0[0-2]_v01.json"))]
    (tmp_path / "raw").mkdir()
    for name, _ in rows[1:]:
        (tmp_path / "raw" / name).write_bytes((nucla_dir / name).read_bytes())
    (tmp_path / "raw" / "labels.csv").write_text("\n".join(",".join(r) for r in rows))
    hs.dataset_tools.from_folder(tmp_path / "raw", tmp_path / "ds", labels=tmp_path / "raw" / "labels.csv")
    logs: list[str] = []
    result = train_vgmt(dataset=str(tmp_path / "ds"), output_dir=str(tmp_path / "v"), eval_split=None,
                        train_split="train", max_steps=3, num_codes=16, code_dim=16, channels=[16, 16], log=logs.append)
    assert "held_out" not in result and result["windows"]["test"] == 0 and result["split"]["test"] is None
    assert result["format"] == "kinect_v1" and np.isfinite(result["train_subset"]["mpjpe"])
    assert any("not evaluated (--eval-split none)" in line for line in logs)
    folder = tmp_path / "v" / "model"
    assert result["folder"] == str(folder) and json.loads((folder / "eval_results.json").read_text()) == {}
    command = (folder / "training_command.txt").read_text()
    assert command.startswith("hf_skeleton.training.train_vgmt(dataset=") and "eval_split='none'" in command
