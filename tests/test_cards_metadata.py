"""Cards and Hub metadata (#20): model cards whose YAML passes the Hub checks that need no network (pipeline tags
the Hub knows, Hub ids, a model-index huggingface_hub parses, built from the stored results), usage snippets
that run, and dataset cards with license_name / license_link beside `license: other`."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import datasets
import pytest
import torch
import yaml
from huggingface_hub import ModelCard
from huggingface_hub.repocard_data import eval_results_to_model_index

import hf_skeleton as hs
from hf_skeleton.cards import (
    HUB_PIPELINE_TAGS,
    CardMetadataError,
    check_card_metadata,
    refresh_model_card,
    render_model_card,
    update_results,
    validate_card_metadata,
    write_model_card,
)
from hf_skeleton.dataset_tools import convert_dataset

datasets.disable_progress_bars()
REPO = Path(__file__).resolve().parents[1]


def _meta(text: str) -> dict:
    return yaml.safe_load(text.split("---")[1])


@pytest.mark.parametrize("name", hs.list_embedded_models())
def test_embedded_cards_pass_the_offline_hub_checks(name):
    folder = Path(hs.embedded_model_path(name))
    text = (folder / "README.md").read_text()
    assert check_card_metadata(text) == []
    meta = _meta(text)
    assert meta.get("pipeline_tag") in HUB_PIPELINE_TAGS and not meta["pipeline_tag"].startswith("skeleton-")
    assert meta["library_name"] == "transformers" and {"skeleton", "motion"} <= set(meta["tags"])
    if meta["hf_skeleton"]["model_type"] in ("llamo", "skeleton_llm"):
        assert meta["pipeline_tag"] == "video-text-to-text" and "action-recognition" in meta["tags"]
    assert all(re.fullmatch(r"[\w.-]+/[\w.-]+", d) for d in meta.get("datasets", []))  # Hub ids or none
    # every model-index value is a stored number, under the evaluation it came from
    stored = json.loads((folder / "eval_results.json").read_text())
    values = {v for entry in stored.values() for k, v in entry.items() if not isinstance(v, dict)}
    indexed = ModelCard(text).data.eval_results
    assert indexed and all(r.metric_value in values for r in indexed)
    assert meta["model-index"] == eval_results_to_model_index(f"hf-skeleton/{name}", indexed)


def test_embedded_cards_are_what_the_code_renders_now(tmp_path):
    """Re-rendering a copy of each embedded folder gives its card back: the shipped cards are current and keep
    their descriptions; the weights are not touched."""
    for name in hs.list_embedded_models():
        copy = tmp_path / name
        shutil.copytree(hs.embedded_model_path(name), copy)
        assert refresh_model_card(copy).read_text() == (Path(hs.embedded_model_path(name)) / "README.md").read_text()


def test_vgmt_card_promises_trust_remote_code_only_where_the_code_ships(tmp_path):
    folder = Path(hs.embedded_model_path("vgmt-cmu"))
    assert not json.loads((folder / "config.json").read_text()).get("auto_map")
    assert "trust_remote_code" not in (folder / "README.md").read_text()
    saved = tmp_path / "vgmt"
    hs.VGMTModel(hs.VGMTConfig(format="h36m17", num_codes=16, code_dim=16, channels=[16, 16], norm_groups=4,
                               use_vision=False)).save_pretrained(saved)
    assert "trust_remote_code=True" in str(render_model_card(saved))  # save_pretrained wrote modeling_vgmt.py


def test_draction_card_does_not_claim_image_to_image(tmp_path):
    hs.DrActionModel(hs.DrActionConfig(format="kinect_v1", image_size=32, num_frames=2)).save_pretrained(tmp_path)
    text = str(render_model_card(tmp_path))
    meta = _meta(text)
    assert "pipeline_tag" not in meta and "image-to-image" not in text and check_card_metadata(text) == []


def _python_block(text: str) -> str:
    return text.split("## Usage")[1].split("```python\n")[1].split("```")[0]


def test_the_usage_snippets_run(tmp_path, nucla_dir, monkeypatch, capsys):
    """The card's snippet, with the repository id replaced by the saved folder, in a folder holding clip.json."""
    from hf_skeleton.testing import tiny_llamo

    torch.manual_seed(0)  # the tiny model's text depends on its random weights (a newline in it is one more line)
    model, processor = tiny_llamo("kinect_v1", use_video=False)
    folder = tmp_path / "llamo"
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    card = write_model_card(folder, repo_id="me/tiny-llamo", datasets=["N-UCLA"]).read_text()
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(nucla_dir / "a05_s01_e00_v03.json", work / "clip.json")
    monkeypatch.chdir(work)
    exec(compile(_python_block(card).replace("me/tiny-llamo", str(folder)), "card", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("{'label': ") and len(printed) >= 2  # the ranking, then the description
    snippet = _python_block((Path(hs.embedded_model_path("vgmt-cmu")) / "README.md").read_text())
    scope: dict = {}
    exec(snippet.replace("hf-skeleton/vgmt-cmu", hs.embedded_model_path("vgmt-cmu")), scope)
    assert scope["model"].config.model_type == "vgmt"


def test_stored_results_become_the_model_index(tmp_path):
    from transformers import Qwen2ForCausalLM

    from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config

    tok = build_tiny_tokenizer()
    Qwen2ForCausalLM(tiny_text_config(tok, hidden_size=32, layers=1)).save_pretrained(tmp_path)
    update_results(tmp_path, {"N-UCLA view 3": {"top1": 0.75, "clips": 464}})
    update_results(tmp_path, {"mine (test)": {"top1": 0.5, "bleu4": 12.5, "rougeL_f1": 40.0, "num_clips": 20,
                                              "_index": {"dataset_type": "me/clips", "dataset_name": "clips",
                                                         "dataset_split": "test"}}})
    stored = json.loads((tmp_path / "eval_results.json").read_text())
    assert set(stored) == {"N-UCLA view 3", "mine (test)"}  # added to, not replaced
    card = write_model_card(tmp_path, repo_id="me/m", datasets=["me/clips", "N-UCLA"]).read_text()
    assert check_card_metadata(card) == []
    meta = _meta(card)
    assert meta["datasets"] == ["me/clips"] and meta["hf_skeleton"]["training_data"] == ["N-UCLA"]
    rows = {(r.task_type, r.dataset_type, r.dataset_split, r.metric_type, r.metric_value)
            for r in ModelCard(card).data.eval_results}
    assert rows == {("video-classification", "me/clips", "test", "accuracy", 0.5),
                    ("video-text-to-text", "me/clips", "test", "bleu", 12.5),
                    ("video-text-to-text", "me/clips", "test", "rouge", 40.0),
                    ("video-classification", "n-ucla", "N-UCLA view 3", "accuracy", 0.75)}
    assert "_index" not in card.split("## Results")[1]  # metadata for the index, not a table row


@pytest.mark.parametrize("field, yaml_text", [
    ("pipeline_tag", "pipeline_tag: skeleton-understanding"),
    ("license_name", "license: other"),
    ("datasets", "datasets:\n- N-UCLA"),
    ("base_model", "base_model: SmolLM2"),
    ("model-index", "model-index:\n- name: x\n  results:\n  - task: {}\n    metrics: []"),
])
def test_what_the_hub_would_reject_is_reported(field, yaml_text):
    card = f"---\nlibrary_name: transformers\n{yaml_text}\n---\n# x\n"
    assert field in [p[0] for p in check_card_metadata(card)]
    with pytest.raises(CardMetadataError, match=field) as raised:
        validate_card_metadata(card)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("source", ["nucla", "cmu"])
def test_dataset_cards_with_license_other_name_their_terms(source, data_dir, tmp_path):
    raw = data_dir / ("nw_ucla/all_sqe" if source == "nucla" else "cmu_mocap_bvh")
    result = convert_dataset(raw, tmp_path / "out", source, limit=3, progress=False)
    text = (result.out_dir / "README.md").read_text()
    meta = _meta(text)
    assert meta["license"] == "other" and meta["license_name"] and meta["license_link"].startswith("http")
    assert check_card_metadata(text, "dataset") == []
    assert meta["license_link"] in text.split("## Source")[1]
