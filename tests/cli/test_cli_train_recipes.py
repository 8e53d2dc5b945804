"""`hf-skeleton train skeleton-llm` and `hf-skeleton train superman` on real data: tiny runs whose folders load back."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.cli import build_parser, main
from hf_skeleton.data import action_labels

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_train_lists_the_four_recipes_and_their_options(capsys):
    choices = build_parser()._subparsers._group_actions[0].choices["train"]._actions[1].choices
    assert list(choices) == ["llamo", "skeleton-llm", "superman", "vgmt"]
    with pytest.raises(SystemExit) as e:
        main(["train", "superman", "--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "--vgmt-steps" in out and "--unified-only" in out and "--output-dir" in out


@pytest.mark.parametrize("script, option", [("train_skeleton_llm.py", "--per-class"),
                                            ("train_superman.py", "--vgmt-steps")])
def test_examples_parse_the_recipe_options(script, option):
    done = subprocess.run([sys.executable, str(EXAMPLES / script), "--help"], check=False, capture_output=True,
                          text=True, timeout=600)  # a fresh venv under load compiles every import (2 min seen)
    assert done.returncode == 0, done.stderr
    assert option in done.stdout


def test_skeleton_llm_recipe_reports_a_folder_without_nucla(tmp_path, capsys):
    assert main(["train", "skeleton-llm", "--data", str(tmp_path), "--output-dir", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "N-UCLA" in err and str(tmp_path) in err


def test_superman_recipe_reports_a_folder_without_bvh(tmp_path, capsys):
    assert main(["train", "superman", "--data", str(tmp_path), "--out", str(tmp_path / "out")]) == 2
    assert ".bvh" in capsys.readouterr().err


def test_train_skeleton_llm_writes_a_folder_that_loads(tmp_path, data_dir, capsys):
    from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

    out = tmp_path / "skllm"
    assert main(["train", "skeleton-llm", "--data", str(data_dir), "--output-dir", str(out),
                 "--vision-model", "none", "--text-model", "none", "--frames", "2", "--size", "56",
                 "--per-class", "1", "--align-view", "none", "--loss-probe", "0", "--lora-r", "32",
                 "--lr", "3e-3", "1e-2", "1e-2", "3e-3", "3e-3",
                 "--epochs", "1", "1", "1", "1", "1", "--eval-clips", "3"]) == 0
    log = capsys.readouterr().out
    for stage in range(5):
        assert f"stage {stage} (" in log
    results = json.loads((out / "results.json").read_text())
    assert results["train_clips"] == 10 and sorted(results["stages"]) == ["0", "1", "2", "3", "4"]
    stages = [results["stages"][k] for k in "01234"]
    assert all(0 < s["loss_after"] < 20 for s in stages)
    assert stages[-1]["loss_after"] < stages[0]["loss_before"] - 0.2  # the stages together learn (6.3 -> 5.8 here)
    stored = json.loads((out / "eval_results.json").read_text())["nucla-view3"]
    assert stored["clips"] == 3 and stored == results["nucla-view3"]
    assert (out / "training_command.txt").read_text().startswith("hf-skeleton train skeleton-llm --data")
    card = (out / "README.md").read_text()
    assert "| nucla-view3 | top1_likelihood |" in card and "pipeline_tag: video-text-to-text" in card
    # what `hf-skeleton evaluate` and the pipeline load
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert model.config.model_type == "skeleton_llm" and model.config.lora["r"] == 32  # adapters kept unmerged
    assert any("lora_A" in n for n, _ in model.named_parameters())
    assert type(AutoProcessor.from_pretrained(out)).__name__ == "SkeletonLLMProcessor"
    clip = hs.load_skeleton(data_dir / "nw_ucla" / "all_sqe" / "a04_s01_e00_v03.json")
    ranked = pipeline("skeleton-understanding", model=str(out))(clip, candidate_labels=["walk around", "carry"])
    assert {r["label"] for r in ranked} == {"walk around", "carry"}
    assert results["sample"]["top3"][0]["label"] in action_labels("nucla").values()
    capsys.readouterr()
    assert main(["evaluate", str(out), "--data", str(data_dir), "--limit", "3", "--no-generate"]) == 0
    assert f"top1_likelihood: {stored['top1_likelihood']:.4f}" in capsys.readouterr().out  # same after reload


def test_train_superman_writes_a_folder_that_loads(tmp_path, data_dir, cmu_dir):
    from transformers import AutoModelForImageTextToText, pipeline

    out = tmp_path / "superman"
    assert main(["train", "superman", "--data", str(data_dir), "--out", str(out), "--max-trials", "6",
                 "--vgmt-steps", "3", "--steps", "3", "--batch", "2", "--hidden", "32", "--eval", "2",
                 "--max-train", "8", "--unified-only"]) == 0
    results = json.loads((out / "results.json").read_text())
    assert results["setup"]["max_trials"] == 6 and results["vgmt"]["heldout_recon_mm"] > 0
    floors = results["vgmt"]["heldout_tokeniser_floor"]  # the token-space zero velocity beside the floor
    assert floors["predict_copy_mm"].keys() == floors["predict_mm"].keys() != set()
    unified = results["predict+inbetween"]
    assert set(unified) == {"loss_first", "loss_last", "free", "constrained"} and "predict" not in results
    assert unified["constrained"]["predict"]["parse_failure_rate"] == 0.0  # the template always parses
    folder = out / "unified"
    stored = json.loads((folder / "eval_results.json").read_text())
    row = stored["CMU held-out prediction (20 fps, free decoding)"]
    assert row["zero_velocity_mm@080ms"] == unified["free"]["predict"]["zero_velocity_mm"]["80"]
    assert "pipeline_tag: any-to-any" in (folder / "README.md").read_text()
    assert AutoModelForImageTextToText.from_pretrained(folder).config.model_type == "superman"
    # a raw CMU BVH clip goes in (converted to H36M-17 by joint name) and comes back in its own format
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")
    seq = seq.resample(round(seq.num_frames * 20 / seq.fps))
    history = seq.frame_range(0, 8)
    future = pipeline("skeleton-generation", model=str(folder))(history, task="predict", num_frames=8)
    assert future.format == seq.format and future.positions.shape == (8, 1, seq.num_joints, 3)
    assert future.mask[:, 0].any(0).sum() == 17 and future.meta["units"] == "cm"
    hip = seq.format.index("hip")
    assert np.isfinite(future.positions).all() and np.abs(future.positions[:, 0, hip]).max() < 1e4


def test_a_unified_only_superman_run_moved_and_resumed_adds_the_single_task_runs(tmp_path, data_dir):
    args = ["train", "superman", "--data", str(data_dir), "--max-trials", "6", "--vgmt-steps", "3", "--steps", "3",
            "--batch", "2", "--hidden", "32", "--eval", "2", "--max-train", "8"]
    assert main([*args, "--out", str(tmp_path / "run"), "--unified-only"]) == 0
    unified = json.loads((tmp_path / "run" / "results.json").read_text())["predict+inbetween"]
    (tmp_path / "run").rename(tmp_path / "moved")
    assert main([*args, "--out", str(tmp_path / "moved"), "--resume"]) == 0
    results = json.loads((tmp_path / "moved" / "results.json").read_text())
    assert results["predict+inbetween"] == unified  # kept, not trained again
    assert set(results["predict"]["free"]) == {"predict"} and set(results["inbetween"]["free"]) == {"inbetween"}
    state = json.loads((tmp_path / "moved" / "recipe_state.json").read_text())
    assert [p["name"] for p in state["phases"]] == ["vgmt", "predict+inbetween", "predict", "inbetween"]


def test_superman_runs_option_trains_only_the_named_runs(tmp_path, data_dir, capsys):
    args = ["train", "superman", "--data", str(data_dir), "--max-trials", "6", "--vgmt-steps", "3", "--steps", "3",
            "--batch", "2", "--hidden", "32", "--eval", "2", "--max-train", "8", "--out", str(tmp_path / "run")]
    assert main([*args, "--runs", "inbetween"]) == 0
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert "inbetween" in results and "predict" not in results and "predict+inbetween" not in results
    assert set(results["inbetween"]["constrained"]) == {"inbetween"}
    assert not (tmp_path / "run" / "unified").exists()  # only the unified run is saved as a model
    state = json.loads((tmp_path / "run" / "recipe_state.json").read_text())
    assert [p["name"] for p in state["phases"]] == ["vgmt", "inbetween"]
    capsys.readouterr()
    assert main([*args, "--runs", "inbetween,walk"]) == 2
    err = capsys.readouterr().err
    assert "SupermanRecipeConfig.runs" in err and "'all' or a comma list of ['unified', 'predict', 'inbetween']" in err


def test_llamo_open_vocabulary_run_holds_out_the_unseen_classes(tmp_path, data_dir):
    out = tmp_path / "llamo"
    assert main(["train", "llamo", "--data", str(data_dir), "--output-dir", str(out), "--text-model", "none",
                 "--unseen-split", "8/2-seed0", "--stage1-steps", "1", "--stage2-steps", "1", "--batch-size", "4",
                 "--hidden", "32", "--layers", "1", "--frames", "8", "--max-clips", "24",
                 "--encoder-warmup-epochs", "1", "--caption-steps", "1"]) == 0
    split = json.loads((out / "eval_results.json").read_text())["N-UCLA view 3 open-vocabulary 8/2-seed0"]
    assert split["unseen_names"] == ["donning", "doffing"] and len(split["seen_names"]) == 8
    assert split["unseen"]["chance"] == 0.5 and split["seen"]["chance"] == 0.125
    # all 464 view-3 clips: 86 of the two unseen classes
    assert (split["seen"]["clips"], split["unseen"]["clips"], split["all_names"]["clips"]) == (378, 86, 464)
    described = (out / "descriptions.jsonl").read_text()  # the training texts name no unseen class
    assert described.count("\n") == 24 and "donning" not in described and "doffing" not in described
