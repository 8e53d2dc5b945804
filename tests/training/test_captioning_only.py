"""Captioning-only datasets (#15): real CMU BVH clips with their CMU index descriptions and no label column,
converted with `hf-skeleton convert --dataset folder`, train LLaMo on captioning examples (automatically, or
with `--label-column none`) and are scored with BLEU-4 / ROUGE-L; SkeletonLLM refuses them (it needs labels)."""

from __future__ import annotations

import csv
import json

import pytest

import hf_skeleton as hs
from hf_skeleton.cli import main
from hf_skeleton.training import llamo_recipe
from hf_skeleton.training.recipe_data import dataset_recipe_data

# 43-joint CMU trials, the shortest of their kind (129-352 frames at 120 fps)
SPLITS = {"09_03": "train", "09_08": "train", "07_12": "train", "08_10": "train", "13_40": "train",
          "13_32": "train", "09_02": "test", "08_01": "test", "13_39": "test"}


@pytest.fixture(scope="module")
def captions_dataset(cmu_dir, tmp_path_factory):
    """9 real CMU BVH trials (links) with labels.csv `file,text,split` (text: the CMU index's long label)."""
    raw = tmp_path_factory.mktemp("cmu_raw")
    with open(cmu_dir / "cmu_motion_labels.csv", newline="") as fh:
        texts = {r["motion_id"]: r["long_label"] for r in csv.DictReader(fh) if r["motion_id"]}
    rows = [["file", "text", "split"]]
    for stem, split in SPLITS.items():
        (raw / f"{stem}.bvh").symlink_to(cmu_dir / f"{stem}.bvh")
        rows.append([f"{stem}.bvh", texts[stem], split])
    with open(raw / "labels.csv", "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    out = tmp_path_factory.mktemp("cmu_captions") / "cmu-captions"
    assert main(["convert", str(raw), str(out), "--dataset", "folder", "--labels", str(raw / "labels.csv")]) == 0
    return out, {stem: texts[stem] for stem in SPLITS}


def test_a_dataset_without_labels_is_captioning_only(captions_dataset):
    data, texts = captions_dataset
    lines: list[str] = []
    auto = dataset_recipe_data(data, log=lines.append)  # no `label` column beside a text column
    assert auto.captioning_only and auto.labels is None and auto.names == []
    assert auto.texts == [texts[k.removesuffix(".bvh")] for k in auto.keys] and len(auto.train) == 6
    assert any("no 'label' column: captioning only" in line for line in lines)
    assert dataset_recipe_data(data, label_column="none", log=lines.append).captioning_only
    with pytest.raises(hs.SkeletonFileError, match="a text column"):
        dataset_recipe_data(data, label_column="none", text_column="none", log=lines.append)
    with pytest.raises(hs.SkeletonFileError, match="column action"):  # a named label column must exist
        dataset_recipe_data(data, label_column="action", log=lines.append)


def test_llamo_trains_and_scores_captions_skeleton_llm_refuses(captions_dataset, tmp_path, capsys, monkeypatch):
    from transformers import pipeline

    data, texts = captions_dataset
    tasks: list[str] = []
    real = llamo_recipe.build_examples
    monkeypatch.setattr(llamo_recipe, "build_examples", lambda clips, task, **kw: tasks.append(task) or
                        real(clips, task, **kw))
    out = tmp_path / "llamo-captions"
    assert main(["train", "llamo", "--dataset", str(data), "--output-dir", str(out), "--base", "none",
                 "--hidden", "32", "--layers", "1", "--frames", "8", "--batch-size", "6", "--stage1-steps", "2",
                 "--stage2-steps", "3", "--caption-steps", "2"]) == 0
    log = capsys.readouterr().out
    assert "6 train clips with captions, no labels in format 'bvh43_" in log
    assert "no encoder warm-up" in log and "phase 1/3 stage 1 (2 steps)" in log
    assert set(tasks) == {"captioning", "qa_body_part"}  # captions answer where label names would

    # evaluation: BLEU-4 / ROUGE-L of generated descriptions against the test texts, no top-1
    stored = json.loads((out / "eval_results.json").read_text())
    (key, entry), = stored.items()
    assert key == "cmu-captions (test)" and entry["num_clips"] == 3 and "top1" not in entry
    assert 0.0 <= entry["bleu4"] <= 100.0 and 0.0 <= entry["rougeL_f1"] <= 100.0
    assert f"BLEU-4 {entry['bleu4']:.1f}, ROUGE-L {entry['rougeL_f1']:.1f} on 3 captioned clips" in log
    card = (out / "README.md").read_text()
    assert "Motion captioning" in card and "ROUGE-L F1" in card and "for motion captioning on cmu-captions" in card
    assert not list(out.glob("confusion_matrix_*.png"))

    # `hf-skeleton evaluate --dataset` sees no label column either: the same captioning scores, no top-1 or PNG
    assert main(["evaluate", str(out), "--dataset", str(data), "--json"]) == 0
    evaluated = json.loads(capsys.readouterr().out)
    assert evaluated["top1"] is None and evaluated["confusion_matrix_png"] is None
    assert evaluated["captioning"]["bleu4"] == entry["bleu4"] and evaluated["num_clips"] == 3
    assert main(["evaluate", str(out), "--dataset", str(data), "--label-column", "none", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["captioning"] == evaluated["captioning"]
    assert not list(out.glob("confusion_matrix_*.png"))

    # --resume after a finished run: every phase is reloaded, nothing retrained, the same scores
    args = ["train", "llamo", "--dataset", str(data), "--output-dir", str(out), "--base", "none", "--hidden", "32",
            "--layers", "1", "--frames", "8", "--batch-size", "6", "--stage1-steps", "2", "--stage2-steps", "3",
            "--caption-steps", "2"]
    assert main(args + ["--resume"]) == 0
    log = capsys.readouterr().out
    assert f"resuming {out}: 3/3 phases done (stage 1, stage 2, describing)" in log and "phase 1/3" not in log
    assert json.loads((out / "eval_results.json").read_text()) == stored

    # the same through Python, labels off explicitly: the evaluation's references are the test texts
    result = hs.training.train_llamo(dataset=str(data), output_dir=str(tmp_path / "py"), label_column=None,
                                     base="none", hidden=32, layers=1, frames=8, stage1_steps=1, stage2_steps=0,
                                     caption_steps=0, save_steps=0, log=lambda line: None)
    assert result["top1"] is None and result["clips"] == 3
    assert [(p["id"], p["reference"]) for p in result["evaluation"]["predictions"]] == [
        (f"{k}.bvh", texts[k]) for k, split in SPLITS.items() if split == "test"]

    # the folder describes a clip through the pipeline
    row = hs.dataset_tools.load_converted(data)["test"].with_format("numpy")[0]
    clip = hs.dataset_tools.example_to_sequence(row)
    text = pipeline("skeleton-understanding", model=str(out))(clip, prompt="Describe the motion.",
                                                             max_new_tokens=8)["generated_text"]
    assert isinstance(text, str)

    # SkeletonLLM's stages need labels: a typed error in one line
    assert main(["train", "skeleton-llm", "--dataset", str(data), "--output-dir", str(tmp_path / "sk"),
                 "--base", "none"]) == 2
    assert "label_column" in capsys.readouterr().err
    assert main(["train", "skeleton-llm", "--dataset", str(data), "--label-column", "none",
                 "--output-dir", str(tmp_path / "sk")]) == 2
    assert "class labels" in capsys.readouterr().err
