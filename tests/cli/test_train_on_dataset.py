"""Fine-tune on your own data (#15), end to end through the CLI on real clips: a user-defined forest format
(`arms.json`: the 8 arm and hand joints of N-UCLA's kinect_v1, two chains without a torso), 40 N-UCLA clips of
4 actions converted with `--format arms.json` (views 1-2 train, view 3 test through labels.csv), `hf-skeleton
train llamo --dataset` with a tiny budget, `hf-skeleton evaluate --json`, the folder through the pipeline."""

from __future__ import annotations

import json

import pytest

import hf_skeleton as hs
from conftest import ARMS_ACTIONS as ACTIONS  # the shared arms dataset's actions (tests/conftest.py)
from hf_skeleton.cli import main

PER_VIEW = {1: 4, 2: 3, 3: 3}  # 7 training clips and 3 test clips per action


@pytest.fixture(scope="module")
def arms_dataset(make_arms_dataset):
    """40 real clips (4 actions x (4 + 3 + 3) views 1/2/3) converted into the arms format; view 3 = test."""
    return make_arms_dataset(PER_VIEW, "dataset")


def test_dataset_options_reach_both_recipes(capsys):
    for model in ("llamo", "skeleton-llm"):
        with pytest.raises(SystemExit):
            main(["train", model, "--help"])
        text = capsys.readouterr().out
        for option in ("--dataset", "--train-split", "--eval-split", "--label-column", "--text-column", "--base",
                       "--resume", "--save-steps"):
            assert option in text, (model, option)


def test_dataset_errors_name_the_dataset_and_column(arms_dataset, tmp_path, capsys):
    _, data = arms_dataset
    assert main(["train", "llamo", "--dataset", str(data), "--label-column", "action", "--text-model", "none",
                 "--output-dir", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "action" in err and str(data) in err and "label" in err
    assert main(["train", "llamo", "--dataset", str(data), "--train-split", "validation", "--text-model", "none",
                 "--output-dir", str(tmp_path / "m")]) == 2
    assert "validation" in capsys.readouterr().err
    assert main(["train", "llamo", "--dataset", str(data), "--unseen-split", "8/2-seed0", "--text-model", "none",
                 "--output-dir", str(tmp_path / "m")]) == 2
    assert "unseen" in capsys.readouterr().err


def test_python_function_takes_the_recipe_options(arms_dataset, tmp_path):
    _, data = arms_dataset
    with pytest.raises(hs.SkeletonInputError, match="colour"):
        hs.training.train_llamo(dataset=str(data), output_dir=str(tmp_path / "m"), colour="red")
    logs: list[str] = []
    result = hs.training.train_llamo(dataset=str(data), output_dir=str(tmp_path / "m"), eval_split=None,
                                     text_model="none", hidden=32, layers=1, frames=8, encoder_warmup_epochs=0,
                                     stage1_steps=1, stage2_steps=0, caption_steps=0, log=logs.append)
    assert result["top1"] is None and result["clips"] == 0 and "evaluation" not in result
    assert any("no evaluation split" in line for line in logs)
    assert json.loads((tmp_path / "m" / "eval_results.json").read_text()) == {}
    command = (tmp_path / "m" / "training_command.txt").read_text()
    assert command.startswith("hf_skeleton.training.train_llamo(dataset=") and "eval_split='none'" in command


@pytest.mark.slow
def test_train_llamo_on_arms_evaluate_and_load(arms_dataset, tmp_path, capsys):
    from transformers import AutoModelForImageTextToText, AutoProcessor, pipeline

    raw, data = arms_dataset
    out = tmp_path / "llamo-arms"
    assert main(["train", "llamo", "--dataset", str(data), "--output-dir", str(out), "--text-model", "none",
                 "--hidden", "32", "--layers", "1", "--frames", "16", "--batch-size", "8",
                 "--encoder-warmup-epochs", "2", "--stage1-steps", "2", "--stage2-steps", "3",
                 "--caption-steps", "0", "--recognition-repeats", "1"]) == 0
    log = capsys.readouterr().out
    assert "28 train clips of 4 labels in format 'nucla_arms' (8 joints, 2 parts)" in log
    assert "align_view='facing' (asked 'upright'; format 'nucla_arms' cannot be aligned 'upright'" in log
    assert "it has no left_hip, right_hip" in log

    # the folder: the user's forest format inside config.json, the facing alignment it allows
    config = json.loads((out / "config.json").read_text())
    assert config["format"]["name"] == "nucla_arms" and config["format"]["parents"] == [-1, 0, 1, 2, -1, 4, 5, 6]
    processor = AutoProcessor.from_pretrained(out)
    assert processor.skeleton_processor.align_view == "facing"
    stored = json.loads((out / "eval_results.json").read_text())
    (key, entry), = stored.items()
    assert key == "dataset (test)" and entry["num_clips"] == 12 and entry["_index"]["dataset_split"] == "test"
    assert (out / entry["_index"]["confusion_matrix"]).is_file()
    card = (out / "README.md").read_text()
    assert "train llamo --dataset" in card and "nucla_arms" in card

    # hf-skeleton evaluate --json: one object, the same top-1 as the recipe's own evaluation
    assert main(["evaluate", str(out), "--dataset", str(data), "--split", "test", "--json", "--no-generate"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_clips"] == 12 and sorted(result["labels"]) == sorted(ACTIONS.values())
    assert 0.0 <= result["top1"] <= 1.0 and result["top1"] == pytest.approx(entry["top1"])
    assert result["chance"] == pytest.approx(0.25) and set(result["support"].values()) == {3}
    assert sum(map(sum, result["confusion_matrix"])) == 12 and set(result["per_class"]) <= set(ACTIONS.values())

    # the Auto classes and the pipeline: a kinect_v1 file is read in the model's arms format
    model = AutoModelForImageTextToText.from_pretrained(out)
    assert model.config.skeleton_format.roots == (0, 4)
    pipe = pipeline("skeleton-understanding", model=str(out))
    clip = next(raw.glob("a11_*_v03.json"))
    ranked = pipe(str(clip), candidate_labels=list(ACTIONS.values()))
    assert [r["label"] for r in ranked] and {r["label"] for r in ranked} == set(ACTIONS.values())
    assert sum(r["score"] for r in ranked) == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_train_skeleton_llm_on_arms_from_python(arms_dataset, tmp_path):
    """The Python form, hs.training.train_skeleton_llm, with the same arguments: DrAction renders the forest."""
    from transformers import pipeline

    _, data = arms_dataset
    out = tmp_path / "skllm-arms"
    logs: list[str] = []
    result = hs.training.train_skeleton_llm(
        dataset=str(data), output_dir=str(out), vision_model="none", text_model="none", frames=2, size=56,
        loss_probe=8, epochs=[0.3, 0.3, 0.3, 0.3, 0.3], batch_size=8, log=logs.append)
    # the tiny VLM's processor aligns nothing (as on N-UCLA), and says why the format could not be upright
    assert any(line.startswith("align_view='none' (asked 'upright'; format 'nucla_arms'") for line in logs)
    stored = json.loads((out / "eval_results.json").read_text())
    assert stored["dataset (test)"]["num_clips"] == 12 and result["dataset (test)"]["num_clips"] == 12
    assert set(result["dataset (test)"]["labels"]) == set(ACTIONS.values())
    assert "hf_skeleton.training.train_skeleton_llm(dataset=" in (out / "training_command.txt").read_text()
    assert len(result["stages"]) == 5 and result["sample"]["top3"]
    config = json.loads((out / "config.json").read_text())
    assert config["draction_config"]["format"]["parents"] == [-1, 0, 1, 2, -1, 4, 5, 6]
    row = hs.dataset_tools.load_converted(data)["test"].with_format("numpy")[0]  # a dataset row: an arms clip
    ranked = pipeline("skeleton-understanding", model=str(out))(hs.dataset_tools.example_to_sequence(row),
                                                                candidate_labels=list(ACTIONS.values()))
    assert {r["label"] for r in ranked} == set(ACTIONS.values())
