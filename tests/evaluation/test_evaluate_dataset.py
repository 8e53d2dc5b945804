"""`hf-skeleton evaluate MODEL --dataset DIR --split test` and `hs.evaluation.evaluate_dataset` (#15) on a folder
dataset of 18 real N-UCLA clips (3 classes) converted by `from_folder`, scored by a tiny LLaMo."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import datasets
import pytest
import torch
from PIL import Image

import hf_skeleton as hs
from hf_skeleton.cli import main
from hf_skeleton.dataset_tools import from_folder, load_converted
from hf_skeleton.errors import SkeletonFileError
from hf_skeleton.evaluation import captioning_metrics, evaluate_dataset
from hf_skeleton.testing import tiny_llamo

datasets.disable_progress_bars()
# file prefix -> (label, description); 4 view-3 clips per class in test, 2 view-1 clips in train
CLASSES = {"a04": ("walk around", "a person walks around the room"),
           "a05": ("sit down", "a person sits down on a chair"),
           "a06": ("stand up", "a person stands up from a chair")}


@pytest.fixture(scope="module")
def raw(nucla_dir, tmp_path_factory):
    """RAW_DIR with 18 real clips and two lists: labels.csv (file, label, split, text), no_text.csv (no text)."""
    folder = tmp_path_factory.mktemp("nucla_eval_raw")
    rows = []
    for prefix, (label, text) in CLASSES.items():
        for view, split, n in (("v03", "test", 4), ("v01", "train", 2)):
            for f in sorted(nucla_dir.glob(f"{prefix}_s*_{view}.json"))[:n]:
                shutil.copy(f, folder / f.name)
                rows.append([f.name, label, split, text])
    for name, header, cut in (("labels.csv", ["file", "label", "split", "text"], 4),
                              ("no_text.csv", ["file", "label", "split"], 3)):
        with open(folder / name, "w", newline="", encoding="utf-8") as fh:
            csv.writer(fh).writerows([header] + [r[:cut] for r in rows])
    return folder


@pytest.fixture(scope="module")
def with_text(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "nucla3"
    from_folder(raw, out, labels="labels.csv", progress=False)
    return out


@pytest.fixture(scope="module")
def without_text(raw, tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "nucla3_plain"
    from_folder(raw, out, labels="no_text.csv", progress=False)
    return out


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny LLaMo for kinect_v1, its language model re-drawn with a wide spread so that its predictions
    differ between clips (at the usual init a random tiny model scores every clip alike)."""
    torch.manual_seed(0)
    model, processor = tiny_llamo("kinect_v1", use_video=False)
    with torch.no_grad():
        for module in (model.model.language_model, model.lm_head):
            for p in module.parameters():
                if p.ndim == 2:
                    p.normal_(0.0, 0.6)
    folder = tmp_path_factory.mktemp("models") / "tiny-llamo"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def loaded(model_dir):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    return AutoModelForImageTextToText.from_pretrained(model_dir).eval(), AutoProcessor.from_pretrained(model_dir)


@pytest.fixture(scope="module")
def cli_result(model_dir, with_text, tmp_path_factory):
    """What `evaluate --json` prints, the stdout it printed, and where its PNG went (the model folder)."""
    import contextlib
    import io

    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["evaluate", str(model_dir), "--dataset", str(with_text), "--split", "test", "--json",
                     "--batch-size", "16"])
    assert code == 0
    return json.loads(stdout.getvalue()), stdout.getvalue()


def test_json_is_the_only_thing_on_stdout_and_has_the_schema(cli_result, model_dir, with_text):
    result, stdout = cli_result
    assert stdout.count("\n") == 1 and stdout.strip().startswith("{")  # exactly one JSON object, one line
    assert {"model", "dataset", "split", "top1", "chance", "num_clips", "labels", "per_class", "support",
            "confusion_matrix", "predictions", "captioning", "confusion_matrix_png"} <= set(result)
    assert result["split"] == "test" and result["num_clips"] == 12 and result["dataset"] == str(with_text)
    assert result["labels"] == sorted(label for label, _ in CLASSES.values())  # the ClassLabel's names
    assert result["support"] == {label: 4 for label, _ in CLASSES.values()} and result["chance"] == 1 / 3
    assert all(0.0 <= v <= 1.0 for v in result["per_class"].values())
    assert {p["id"] for p in result["predictions"]} == set(load_converted(with_text, split="test")["id"])


def test_per_class_recall_and_confusion_match_a_hand_count(cli_result):
    result = cli_result[0]
    predictions = result["predictions"]
    assert len({p["predicted"] for p in predictions}) > 1  # the counts below are not all in one column
    for k, label in enumerate(result["labels"]):
        mine = [p for p in predictions if p["label"] == label]
        hits = sum(p["predicted"] == label for p in mine)
        assert result["per_class"][label] == pytest.approx(hits / len(mine))
        assert result["confusion_matrix"][k][k] == hits
        assert [sum(p["predicted"] == other for p in mine) for other in result["labels"]] == result["confusion_matrix"][k]
    assert result["top1"] == pytest.approx(sum(p["label"] == p["predicted"] for p in predictions) / len(predictions))


def test_predictions_agree_with_the_pipeline_on_the_raw_files(cli_result, model_dir, raw):
    """The peer: the skeleton-understanding pipeline on the original files ranks the same label first."""
    from transformers import pipeline

    result = cli_result[0]
    pipe = pipeline("skeleton-understanding", model=str(model_dir))
    clips = [hs.load_skeleton(raw / p["id"]) for p in result["predictions"]]
    ranked = pipe(clips, candidate_labels=result["labels"])
    assert [r[0]["label"] for r in ranked] == [p["predicted"] for p in result["predictions"]]


def test_confusion_matrix_png_is_a_valid_image_in_the_model_folder(cli_result, model_dir):
    path = Path(cli_result[0]["confusion_matrix_png"])
    assert path.parent == model_dir and path.name == "confusion_matrix_nucla3_test.png"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        assert image.format == "PNG" and min(image.size) >= 200
        pixels = image.convert("L").getextrema()
        assert pixels[0] < 100 < pixels[1]  # drawn: dark text and cells on a light background


def test_captioning_metrics_only_with_a_text_column(cli_result, loaded, without_text, with_text):
    captions = cli_result[0]["captioning"]
    assert captions["num_texts"] == 12 and captions["text_column"] == "text"
    assert 0.0 <= captions["bleu4"] <= 100.0 and 0.0 <= captions["rougeL_f1"] <= 100.0
    refs = {text for _, text in CLASSES.values()}
    assert all(e["reference"] in refs for e in captions["examples"])
    # the scores are those of the generated texts against the references
    again = captioning_metrics([e["generated"] for e in captions["examples"]], [e["reference"] for e in captions["examples"]])
    assert set(again) == {"bleu4", "rougeL_f1"}
    model, processor = loaded
    plain = evaluate_dataset(model, processor, load_converted(without_text, split="test"), source=str(without_text))
    assert "captioning" not in plain and plain["num_clips"] == 12
    assert [p["predicted"] for p in plain["predictions"]] == [p["predicted"] for p in cli_result[0]["predictions"]]
    off = evaluate_dataset(model, processor, load_converted(with_text, split="test"), captioning=False, limit=6)
    assert "captioning" not in off and off["num_clips"] == 6 and set(off["support"].values()) == {2}


def test_captioning_metrics_are_sacrebleu_and_rouge_score():
    same = captioning_metrics(["a person sits down on a chair"], ["a person sits down on a chair"])
    assert same["bleu4"] == pytest.approx(100.0) and same["rougeL_f1"] == pytest.approx(100.0)
    none = captioning_metrics(["jumping jacks quickly"], ["a person sits down on a chair"])
    assert none["bleu4"] == pytest.approx(0.0) and none["rougeL_f1"] == pytest.approx(0.0)


def test_a_missing_split_or_column_is_a_typed_one_line_error(model_dir, with_text, loaded, capsys):
    assert main(["evaluate", str(model_dir), "--dataset", str(with_text), "--split", "validation"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "README.md" in err[0] and "split named 'validation'" in err[0] and "test" in err[0]
    for option in ("--label-column", "--text-column"):
        assert main(["evaluate", str(model_dir), "--dataset", str(with_text), option, "nope"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "column nope" in err[0] and "label_name" in err[0], err
    model, processor = loaded
    with pytest.raises(SkeletonFileError, match="column nope"):
        evaluate_dataset(model, processor, load_converted(with_text, split="test"), label_column="nope")
    with pytest.raises(SkeletonFileError, match="labels among the candidates"):
        evaluate_dataset(model, processor, load_converted(with_text, split="test"), candidate_labels=["sit down"])


def test_embedded_models_need_an_output_dir_and_hub_ids_fail_offline(model_dir, with_text, tmp_path, capsys,
                                                                     monkeypatch):
    assert main(["evaluate", "llamo-nucla", "--dataset", str(with_text)]) == 2
    err = capsys.readouterr().err
    assert "read-only" in err and "--output-dir" in err
    assert main(["evaluate", hs.embedded_model_path("llamo-nucla"), "--dataset", str(with_text),
                 "--write-card", "--output-dir", str(tmp_path)]) == 2
    assert "read-only" in capsys.readouterr().err
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    assert main(["evaluate", str(model_dir), "--dataset", "someone/no-such-skeletons", "--output-dir",
                 str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "someone/no-such-skeletons" in err[0] and "Hub" in err[0]


def test_write_card_stores_the_result_in_the_model_index(model_dir, with_text, tmp_path, capsys):
    from huggingface_hub import ModelCard

    from hf_skeleton.cards import check_card_metadata

    folder = tmp_path / "copy"
    shutil.copytree(model_dir, folder)
    assert main(["evaluate", str(folder), "--dataset", str(with_text), "--no-generate", "--write-card"]) == 0
    out = capsys.readouterr().out
    top1 = float(out.split("  top1:")[1].split()[0])
    stored = json.loads((folder / "eval_results.json").read_text())["nucla3 (test)"]
    assert stored["num_clips"] == 12 and round(stored["top1"], 4) == top1 and "bleu4" not in stored
    assert stored["_index"]["dataset_split"] == "test" and stored["_index"]["confusion_matrix"].endswith(".png")
    card = (folder / "README.md").read_text()
    assert check_card_metadata(card) == []
    results = ModelCard(card).data.eval_results
    assert [(r.task_type, r.dataset_name, r.dataset_split, r.metric_type, r.metric_value) for r in results] == [
        ("video-classification", "nucla3", "test", "accuracy", stored["top1"])]
    assert f"]({stored['_index']['confusion_matrix']})" in card  # the PNG beside the card, shown in it
