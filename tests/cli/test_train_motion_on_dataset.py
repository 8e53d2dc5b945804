"""Fine-tune the motion models on your own data (#15), end to end through the CLI and the Python functions on
real clips: 28 N-UCLA clips of 4 actions converted with a user-defined forest format (`arms.json`: the 8 arm and
hand joints of kinect_v1, two chains without a torso; views 1-2 train, view 3 test through labels.csv), then
`hf-skeleton train vgmt --dataset` and `hf-skeleton train superman --dataset [--base]` with tiny budgets."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.cli import main

PER_VIEW = {1: 3, 2: 2, 3: 2}  # 5 training clips and 2 test clips per action
TINY_VGMT = ["--num-codes", "32", "--code-dim", "32", "--channels", "16", "32", "--batch-size", "16"]
TINY_SUPERMAN = ["--vgmt-steps", "40", "--steps", "12", "--batch", "4", "--hidden", "32", "--eval", "3",
                 "--unified-only"]


@pytest.fixture(scope="module")
def arms_dataset(make_arms_dataset):
    """28 real clips converted into the arms format; view 3 = test. Returns (raw folder, dataset folder)."""
    return make_arms_dataset(PER_VIEW, "arms_dataset")


def test_motion_recipes_take_the_dataset_options(capsys):
    for model, extra in (("vgmt", ()), ("superman", ("--base",))):
        with pytest.raises(SystemExit):
            main(["train", model, "--help"])
        text = capsys.readouterr().out
        for option in ("--dataset", "--train-split", "--eval-split", *extra):
            assert option in text, (model, option)


def test_dataset_errors_name_the_option_split_and_dataset(arms_dataset, tmp_path, capsys):
    _, data = arms_dataset
    out = str(tmp_path / "m")
    assert main(["train", "vgmt", "--dataset", str(data), "--data", str(data), "--output-dir", out]) == 2
    assert "--data with --dataset" in capsys.readouterr().err
    assert main(["train", "vgmt", "--dataset", str(data), "--train-split", "validation", "--output-dir", out]) == 2
    assert "validation" in capsys.readouterr().err
    # windows longer than every clip: the split, the dataset and what would be needed
    assert main(["train", "vgmt", "--dataset", str(data), "--clip-len", "400", "--output-dir", out]) == 2
    err = capsys.readouterr().err
    assert str(data) in err and "split train" in err and "400 fully observed frames" in err
    assert main(["train", "superman", "--dataset", str(data), "--max-trials", "3", "--out", out]) == 2
    assert "--max-trials with --dataset" in capsys.readouterr().err
    assert main(["train", "superman", "--dataset", str(data), "--clip", "40", "--out", out]) == 2
    assert "80 fully observed frames" in capsys.readouterr().err
    assert not (tmp_path / "m" / "model").exists() and not (tmp_path / "m" / "unified").exists()


@pytest.mark.slow
def test_train_vgmt_on_arms_scores_reloads_and_beats_an_untrained_one(arms_dataset, tmp_path, capsys):
    from transformers import AutoModel, AutoProcessor

    from hf_skeleton.training.motion_data import load_motion_dataset
    from hf_skeleton.training.vgmt_cmu import ClipDataset, dataset_windows, evaluate_vgmt

    _, data = arms_dataset
    out = tmp_path / "vgmt-arms"
    assert main(["train", "vgmt", "--dataset", str(data), "--output-dir", str(out), "--max-steps", "150",
                 *TINY_VGMT]) == 0
    log = capsys.readouterr().out
    assert "20 train clips in format 'nucla_arms' (8 joints, 2 parts, m); evaluation on test (8 clips)" in log
    results = json.loads((out / "results.json").read_text())
    held = results["held_out"]
    assert results["format"] == "nucla_arms" and held["units"] == "m" and held["num_clips"] == results["windows"]["test"]
    assert math.isfinite(held["mpjpe"]) and 0 < held["mpjpe"] < 1.0  # metres, arms of a person
    assert held["mpjpe_mm"] == pytest.approx(1000 * held["mpjpe"], rel=1e-3)
    assert 0 < held["codebook"]["active"] <= 1

    # the folder: the user's forest format, a processor, the card with the dataset and its model-index
    folder = out / "model"
    model, processor = AutoModel.from_pretrained(folder), AutoProcessor.from_pretrained(folder)
    assert type(model).__name__ == "VGMTModel" and type(processor).__name__ == "VGMTProcessor"
    assert model.config.skeleton_format.roots == (0, 4) and model.config.skeleton_format.name == "nucla_arms"
    stored = json.loads((folder / "eval_results.json").read_text())
    assert stored["arms_dataset (test)"]["mpjpe_mm"] == held["mpjpe_mm"]
    assert stored["arms_dataset (test)"]["_index"]["dataset_split"] == "test"
    card = (folder / "README.md").read_text()
    assert "train vgmt --dataset" in card and "nucla_arms" in card and "MPJPE (mm)" in card

    # strict: the reloaded model scores the same; an untrained one of the same config scores far worse
    test = load_motion_dataset(data, log=lambda _: None).test
    windows = ClipDataset(dataset_windows(test, 30.0, 16, 8, 8))
    assert len(windows) == held["num_clips"]
    again = evaluate_vgmt(model, windows, "m", 16, visual=False, data_units=True)
    assert again["mpjpe"] == pytest.approx(held["mpjpe"], rel=1e-3)
    torch.manual_seed(0)
    untrained = evaluate_vgmt(hs.VGMTModel(model.config), windows, "m", 16, visual=False, data_units=True)
    assert held["mpjpe"] < 0.8 * untrained["mpjpe"], (held["mpjpe"], untrained["mpjpe"])


@pytest.mark.slow
def test_train_vgmt_killed_mid_run_resumes_to_the_uninterrupted_weights(arms_dataset, tmp_path, capsys,
                                                                         monkeypatch):
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from hf_skeleton.training import vgmt_cmu

    class Killed(Exception):
        pass

    class KillAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 5:
                raise Killed("killed at step 5")

    _, data = arms_dataset
    run = ["train", "vgmt", "--dataset", str(data), "--max-steps", "8", "--save-steps", "2", *TINY_VGMT]
    assert main([*run, "--output-dir", str(tmp_path / "whole")]) == 0
    real = vgmt_cmu.vgmt_trainer
    monkeypatch.setattr(vgmt_cmu, "vgmt_trainer", lambda *a, **kw: real(*a, callbacks=[KillAt()], **kw))
    with pytest.raises(Killed):
        main([*run, "--output-dir", str(tmp_path / "killed")])
    monkeypatch.setattr(vgmt_cmu, "vgmt_trainer", real)
    assert (tmp_path / "killed" / "runs" / "01-vgmt" / "checkpoint-4").is_dir()
    capsys.readouterr()
    assert main([*run, "--output-dir", str(tmp_path / "killed"), "--resume"]) == 0
    log = capsys.readouterr().out
    assert "resuming" in log and "phase 1/1 vgmt (8 steps)" in log
    whole = load_file(tmp_path / "whole" / "model" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "model" / "model.safetensors")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
    # finished: a resume reloads the weights instead of training, and a changed option is refused
    assert main([*run, "--output-dir", str(tmp_path / "killed"), "--resume"]) == 0
    assert "1/1 phases done (vgmt)" in capsys.readouterr().out
    assert main([*run[:-len(TINY_VGMT)], *TINY_VGMT[:-2], "--batch-size", "8", "--output-dir",
                 str(tmp_path / "killed"), "--resume"]) == 2
    assert "batch_size" in capsys.readouterr().err


def test_train_superman_on_arms_scores_every_horizon_against_the_baselines(arms_dataset, tmp_path, capsys):
    from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

    raw, data = arms_dataset
    out = tmp_path / "superman-arms"
    assert main(["train", "superman", "--dataset", str(data), "--out", str(out), *TINY_SUPERMAN]) == 0
    log = capsys.readouterr().out
    assert "(3 prediction and 3 in-betweening test windows)" in log
    results = json.loads((out / "results.json").read_text())
    unified = results["predict+inbetween"]
    assert unified["loss_last"] < unified["loss_first"]
    assert math.isfinite(results["vgmt"]["heldout_recon_mm"])
    for decoding in ("free", "constrained"):
        pred, mib = unified[decoding]["predict"], unified[decoding]["inbetween"]
        assert pred["horizons_ms"] == [80, 160, 320, 400]  # 8 future frames at 20 fps reach 400 ms
        for key in ("strict_vs_raw_mm", "zero_velocity_mm", "tokeniser_floor_mm"):
            assert sorted(map(int, pred[key])) == [80, 160, 320, 400]
            assert all(math.isfinite(v) and v > 0 for v in pred[key].values()), (decoding, key, pred[key])
        for task in (pred, mib):
            assert 0.0 <= task["parse_failure_rate"] <= 1.0
            if task["parse_failure_rate"] == 1.0:  # strict: a failure is scored with the baseline's output
                assert task["strict_vs_raw_mm"] == (task.get("zero_velocity_mm") or task["linear_interpolation_mm"])
        assert math.isfinite(mib["strict_vs_raw_mm"]) and mib["linear_interpolation_mm"] > 0
    # template-constrained decoding always parses, so its scores are the model's own
    assert unified["constrained"]["predict"]["parse_failure_rate"] == 0.0
    assert unified["constrained"]["inbetween"]["parse_failure_rate"] == 0.0
    assert "parsed_vs_raw_mm" in unified["constrained"]["predict"]

    folder = out / "unified"
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert type(AutoProcessor.from_pretrained(folder)).__name__ == "SupermanProcessor"
    assert model.config.vgmt_config.skeleton_format.name == "nucla_arms"
    stored = json.loads((folder / "eval_results.json").read_text())
    rows = {k: v for k, v in stored.items() if k.startswith("arms_dataset (test) prediction (20 fps")}
    assert set(rows) == {f"arms_dataset (test) prediction (20 fps, {d} decoding)" for d in ("free", "constrained")}
    row = rows["arms_dataset (test) prediction (20 fps, free decoding)"]
    assert row["parse_failure_rate"] == unified["free"]["predict"]["parse_failure_rate"]
    assert rows["arms_dataset (test) prediction (20 fps, constrained decoding)"]["parse_failure_rate"] == 0.0
    assert row["zero_velocity_mm@400ms"] == unified["free"]["predict"]["zero_velocity_mm"]["400"]
    assert row["_index"]["dataset_name"] == "arms_dataset"
    assert "nucla_arms" in (folder / "README.md").read_text()
    # the pipeline predicts from a kinect_v1 file read in the model's arms format
    clip = hs.load_skeleton(next(raw.glob("a11_*_v03.json")))
    future = pipeline("skeleton-generation", model=str(folder))(clip, task="predict", num_frames=8)
    assert future.num_frames == 8 and np.isfinite(future.positions).all()


@pytest.mark.slow
def test_train_superman_killed_mid_run_resumes_to_the_uninterrupted_model(arms_dataset, tmp_path, capsys,
                                                                           monkeypatch):
    from safetensors.torch import load_file
    from transformers import TrainerCallback

    from hf_skeleton.training import superman_recipe

    class Killed(Exception):
        pass

    class KillAt(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 7:
                raise Killed("killed at step 7")

    _, data = arms_dataset
    run = ["train", "superman", "--dataset", str(data), *TINY_SUPERMAN, "--save-steps", "3"]
    assert main([*run, "--out", str(tmp_path / "whole")]) == 0
    real = superman_recipe.build_superman_trainer

    def killing(*args, **kwargs):
        trainer = real(*args, **kwargs)
        trainer.add_callback(KillAt())
        return trainer

    monkeypatch.setattr(superman_recipe, "build_superman_trainer", killing)
    with pytest.raises(Killed):
        main([*run, "--out", str(tmp_path / "killed")])
    monkeypatch.setattr(superman_recipe, "build_superman_trainer", real)
    capsys.readouterr()
    assert main([*run, "--out", str(tmp_path / "killed"), "--resume"]) == 0
    log = capsys.readouterr().out
    assert "resuming" in log and "1/2 phases done (vgmt)" in log and "resuming from" in log
    whole = load_file(tmp_path / "whole" / "unified" / "model.safetensors")
    resumed = load_file(tmp_path / "killed" / "unified" / "model.safetensors")
    assert whole.keys() == resumed.keys() and all(torch.equal(whole[k], resumed[k]) for k in whole)
    scores = [json.loads((tmp_path / d / "results.json").read_text())["predict+inbetween"] for d in ("whole", "killed")]
    assert scores[0] == scores[1]
    # all done: nothing is trained again, the recorded scores come back
    assert main([*run, "--out", str(tmp_path / "killed"), "--resume"]) == 0
    assert "2/2 phases done" in capsys.readouterr().out
    assert json.loads((tmp_path / "killed" / "results.json").read_text())["predict+inbetween"] == scores[0]


def test_train_superman_from_python_on_a_causal_lm_base(arms_dataset, tmp_path):
    """``base``: a pretrained causal LM (a tiny Llama with tied embeddings stands in for SmolLM2) becomes
    Superman's language model; anything else is refused before any training."""
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config, tiny_vgmt
    from hf_skeleton.training.api import train_superman

    _, data = arms_dataset
    tokenizer = build_tiny_tokenizer(extra_texts=["Predict the next frames of this motion"])
    config = tiny_text_config(tokenizer, hidden_size=32, layers=1, model_type="llama")
    config.tie_word_embeddings = True
    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_config(config)
    lm.save_pretrained(tmp_path / "llama")
    tokenizer.save_pretrained(tmp_path / "llama")

    tiny_vgmt().save_pretrained(tmp_path / "not-an-llm")
    with pytest.raises(hs.SkeletonInputError, match="causal language model.*Qwen2.5-VL.*'vgmt'"):
        train_superman(dataset=str(data), output_dir=str(tmp_path / "refused"), base=str(tmp_path / "not-an-llm"))
    assert not (tmp_path / "refused" / "unified").exists()
    with pytest.raises(hs.SkeletonInputError, match="train_superman"):
        train_superman(dataset=str(data), output_dir=str(tmp_path / "refused"), colour="red")

    logs: list[str] = []
    result = train_superman(dataset=str(data), output_dir=str(tmp_path / "sm"), base=str(tmp_path / "llama"),
                            vgmt_steps=20, steps=8, batch=4, eval=2, unified_only=True, lr=3e-3, log=logs.append)
    assert any("(causal_lm; --hidden is not used)" in line for line in logs)
    run = result["predict+inbetween"]
    assert run["loss_last"] < run["loss_first"] and run["constrained"]["predict"]["parse_failure_rate"] == 0.0
    model = AutoModelForImageTextToText.from_pretrained(result["folder"])
    assert model.config.vlm_config.model_type == "llama" and model.config.tie_word_embeddings  # tied as the base
    assert model.lm_head.weight is model.get_input_embeddings().weight
    assert model.config.backbone_weights and model.config.lora and model.config.trainable_motion_rows
    assert model.get_input_embeddings().weight.shape[0] > len(tokenizer)  # the base's vocabulary + motion tokens
    command = (tmp_path / "sm" / "unified" / "training_command.txt").read_text()
    assert command.startswith("hf_skeleton.training.train_superman(dataset=") and "base=" in command
