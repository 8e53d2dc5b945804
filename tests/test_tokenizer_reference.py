"""A folder's tokenizer by reference to its backbone's: rebuilt identical, refused when it would differ,
never written over a tokenizer it cannot rebuild."""

import json
from pathlib import Path

import pytest
from transformers import AutoProcessor, AutoTokenizer

import hf_skeleton as hs
from hf_skeleton.errors import CheckpointError
from hf_skeleton.tokenizer_reference import REFERENCE_NAME, referenced_tokenizer, write_tokenizer_reference

BACKBONE = "smollm2-135m-instruct"
TEXTS = ["<|im_start|>user\n<motion> What is the person doing?<|im_end|>\n", "héllo wörld 123\n\t <video> x",
         "<skel_7>Frame 1: torso"]


@pytest.fixture()
def saved_tokenizer(tmp_path):
    """SmolLM2's tokenizer with two tokens added and left padding, saved as a processor would save it."""
    tokenizer = AutoTokenizer.from_pretrained(hs.backbone_path(BACKBONE))
    tokenizer.add_special_tokens({"additional_special_tokens": ["<motion>", "<video>"]})
    tokenizer.padding_side = "left"
    tokenizer(["a", "a b c"], padding=True)  # padding state lands in tokenizer.json, as in a trained folder
    tokenizer.save_pretrained(tmp_path / "folder")
    return tokenizer, tmp_path / "folder"


def same_tokenizer(a, b):
    assert a.get_vocab() == b.get_vocab() and a.all_special_tokens == b.all_special_tokens
    assert (a.padding_side, a.pad_token, a.chat_template) == (b.padding_side, b.pad_token, b.chat_template)
    assert [a(t)["input_ids"] for t in TEXTS] == [b(t)["input_ids"] for t in TEXTS]
    assert a(TEXTS, padding=True)["input_ids"] == b(TEXTS, padding=True)["input_ids"]


def test_a_referenced_tokenizer_is_rebuilt_identical(saved_tokenizer):
    tokenizer, folder = saved_tokenizer
    saved = write_tokenizer_reference(folder, BACKBONE)
    assert saved > 3_000_000 and not (folder / "tokenizer.json").exists()
    reference = json.loads((folder / REFERENCE_NAME).read_text())
    assert [t["content"] for t in reference["added_tokens"]] == ["<motion>", "<video>"]
    same_tokenizer(tokenizer, referenced_tokenizer(folder))
    assert referenced_tokenizer(hs.backbone_path(BACKBONE)) is None  # a folder with its own tokenizer.json


@pytest.mark.parametrize("name", ["llamo-nucla", "skeleton-llm-nucla"])
def test_embedded_models_load_their_tokenizer_from_the_backbone(name):
    folder = Path(hs.embedded_model_path(name))
    assert (folder / REFERENCE_NAME).is_file() and not (folder / "tokenizer.json").exists()
    processor = AutoProcessor.from_pretrained(folder)
    added = json.loads((folder / REFERENCE_NAME).read_text())["added_tokens"]
    ids = processor.tokenizer.convert_tokens_to_ids([t["content"] for t in added])
    assert ids == [t["id"] for t in added] and set(processor.placeholder_token_ids) <= set(ids)
    base = AutoTokenizer.from_pretrained(hs.backbone_path(BACKBONE))
    assert processor.tokenizer("walk around")["input_ids"] == base("walk around")["input_ids"]
    assert len(processor.tokenizer) == len(base) + 2


def test_an_edited_reference_is_refused_naming_the_file(saved_tokenizer):
    _, folder = saved_tokenizer
    write_tokenizer_reference(folder, BACKBONE)
    reference = json.loads((folder / REFERENCE_NAME).read_text())
    reference["added_tokens"][0]["content"] = "<motoin>"
    (folder / REFERENCE_NAME).write_text(json.dumps(reference))
    with pytest.raises(CheckpointError, match="SHA-256 differs") as err:
        referenced_tokenizer(folder)
    assert REFERENCE_NAME in str(err.value)
    (folder / REFERENCE_NAME).write_text('{"backbone": 3}')
    with pytest.raises(CheckpointError, match="expected"):
        referenced_tokenizer(folder)
    (folder / REFERENCE_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match="JSON"):
        referenced_tokenizer(folder)


def test_a_tokenizer_of_another_vocabulary_is_kept_as_it_is(saved_tokenizer, tmp_path):
    _, folder = saved_tokenizer
    data = json.loads((folder / "tokenizer.json").read_text())
    data["model"]["vocab"]["zzz-not-in-smollm2"] = len(data["model"]["vocab"]) + 10
    (folder / "tokenizer.json").write_text(json.dumps(data))
    before = (folder / "tokenizer.json").read_bytes()
    with pytest.raises(CheckpointError, match="vocabulary"):
        write_tokenizer_reference(folder, BACKBONE)
    assert (folder / "tokenizer.json").read_bytes() == before and not (folder / REFERENCE_NAME).exists()
