"""Model cards are rendered from stored results; pushing checks the folder and fails clearly offline."""

import json

import pytest
from transformers import Qwen2ForCausalLM

from hf_skeleton.cards import write_model_card, write_results
from hf_skeleton.errors import CheckpointError
from hf_skeleton.hub import HubUnavailableError, files_to_push, push_folder
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config


@pytest.fixture()
def saved(tmp_path):
    tok = build_tiny_tokenizer()
    Qwen2ForCausalLM(tiny_text_config(tok, hidden_size=32, layers=1)).save_pretrained(tmp_path / "m")
    tok.save_pretrained(tmp_path / "m")
    return tmp_path / "m"


def test_card_carries_metadata_command_and_results(saved):
    write_results(saved, {"nucla/view3": {"top1": 0.8731, "clips": 464}},
                  training_command="python examples/train.py --seed 0")
    card = write_model_card(saved, repo_id="org/tiny", datasets=["nucla"]).read_text()
    head = card.split("---")[1]
    assert "library_name: transformers" in head and "skeleton" in head and "license: apache-2.0" in head
    assert "| nucla/view3 | top1 | 0.8731 |" in card and "| nucla/view3 | clips | 464 |" in card
    assert "python examples/train.py --seed 0" in card and "org/tiny" in card


def test_files_to_push_checks_the_folder(saved, tmp_path):
    files = files_to_push(saved)
    assert "config.json" in files and "model.safetensors" in files and "tokenizer.json" in files
    (saved / "pytorch_model.bin").write_bytes(b"x")
    with pytest.raises(CheckpointError, match="pickle"):
        files_to_push(saved)
    (saved / "pytorch_model.bin").unlink()
    config = json.loads((saved / "config.json").read_text())
    config["auto_map"] = {"AutoModel": "modeling_missing.Model"}
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="modeling_missing.py"):
        files_to_push(saved)
    with pytest.raises(CheckpointError, match="config.json"):
        files_to_push(tmp_path)


def test_a_recipe_output_folder_pushes_the_model_not_the_run_state(saved, monkeypatch):
    """A recipe's output folder also holds its --resume state and text caches: none of it is published."""
    import huggingface_hub

    from hf_skeleton import hub
    from hf_skeleton.training import recipe_progress

    # hub.py (a lower layer) names the recipe's state itself: the two must not drift apart
    assert {recipe_progress.PHASES_DIR, recipe_progress.RUNS_DIR} <= set(hub.TRAINING_STATE_DIRS)
    assert recipe_progress.STATE_NAME in hub.TRAINING_STATE_FILES

    (saved / "phases" / "02-stage-2").mkdir(parents=True)
    (saved / "phases" / "02-stage-2" / "model.safetensors").write_bytes(b"x")
    (saved / "runs" / "02-stage-2" / "checkpoint-50").mkdir(parents=True)
    (saved / "runs" / "02-stage-2" / "checkpoint-50" / "optimizer.pt").write_bytes(b"x")
    for name in ("recipe_state.json", "rationales.jsonl", "descriptions.jsonl"):
        (saved / name).write_text("{}")
    files = files_to_push(saved)
    assert "model.safetensors" in files and not any(f.startswith(("phases", "runs", "recipe_state", "rationales",
                                                                  "descriptions")) for f in files)
    uploads = []

    class FakeApi:
        def __init__(self, token=None):
            pass

        def create_repo(self, repo_id, private=False, exist_ok=False):
            pass

        def upload_folder(self, **kwargs):
            uploads.append(kwargs)
            return "https://hub/commit"

    monkeypatch.setattr(huggingface_hub, "HfApi", FakeApi)
    assert push_folder(saved, "org/tiny") == "https://hub/commit"
    assert uploads[0]["allow_patterns"] == sorted(set(files) | {"README.md"})  # what --dry-run lists, plus the card


def test_push_offline_fails_with_a_clear_error(saved, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as c

    monkeypatch.setattr(c, "HF_HUB_OFFLINE", True)
    with pytest.raises(HubUnavailableError, match="org/tiny"):
        push_folder(saved, "org/tiny")
    assert (saved / "README.md").is_file()  # the card was rendered before the upload was tried
