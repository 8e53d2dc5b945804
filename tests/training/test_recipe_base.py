"""``--base`` (#15): one name for the model a recipe fine-tunes. The model type in its config.json decides
what it fills: a causal LM -> ``text_model`` (LLaMo, SkeletonLLM composed), a VLM -> SkeletonLLM's ``vlm``, a
saved LLaMo -> LLaMo's ``init_from``; a different value given beside it, or a base the recipe cannot build
on, is a typed error. The old flags keep working."""

from __future__ import annotations

import json

import pytest
import torch
from transformers import Qwen2ForCausalLM

import hf_skeleton as hs
from hf_skeleton.cli import main
from hf_skeleton.testing import (
    QWEN_VISION_TOKENS,
    build_tiny_tokenizer,
    tiny_llamo,
    tiny_qwen2_5_vl_config,
    tiny_text_config,
)
from hf_skeleton.training import llamo_recipe, skeleton_llm_recipe
from hf_skeleton.training.base_model import base_kind

LLAMO = llamo_recipe.LlamoRecipeConfig
SKLLM = skeleton_llm_recipe.SkeletonLLMRecipeConfig


@pytest.fixture(scope="module")
def bases(tmp_path_factory):
    """A tiny causal LM (weights + tokenizer), a tiny Qwen2.5-VL config and a saved tiny LLaMo."""
    root = tmp_path_factory.mktemp("bases")
    tok = build_tiny_tokenizer(extra_texts=["walk around", "sit down", "pick up with one hand"])
    torch.manual_seed(0)
    lm = Qwen2ForCausalLM(tiny_text_config(tok, hidden_size=32, layers=1))
    lm.save_pretrained(root / "lm")
    tok.save_pretrained(root / "lm")
    (root / "vlm").mkdir()
    vlm_tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS)
    (root / "vlm" / "config.json").write_text(json.dumps(tiny_qwen2_5_vl_config(vlm_tok).to_dict()))
    model, processor = tiny_llamo(use_video=False)
    model.save_pretrained(root / "llamo")
    processor.save_pretrained(root / "llamo")
    return root


def test_the_model_type_decides_what_base_fills(bases):
    assert base_kind(str(bases / "lm")) == ("causal-lm", "qwen2")
    assert base_kind(str(bases / "vlm")) == ("vlm", "qwen2_5_vl")
    assert base_kind(str(bases / "llamo")) == ("llamo", "llamo")
    assert base_kind("none") == ("none", "")

    assert LLAMO(base=str(bases / "lm")).text_model == str(bases / "lm")
    assert LLAMO(base="none").text_model is None
    assert LLAMO(base=str(bases / "llamo")).init_from == str(bases / "llamo")
    composed = SKLLM(base=str(bases / "lm"))
    assert (composed.text_model, composed.vision_model, composed.vlm) == (str(bases / "lm"), "efficientnet-lite0", None)
    vlm = SKLLM(base=str(bases / "vlm"))
    assert (vlm.vlm, vlm.text_model, vlm.vision_model) == (str(bases / "vlm"), None, None)
    tiny = SKLLM(base="none")
    assert (tiny.vlm, tiny.text_model, tiny.vision_model, tiny.pretrained) == (None, None, None, False)
    # the old flags, and --base beside the same value
    assert LLAMO(text_model=str(bases / "lm"), base=str(bases / "lm")).text_model == str(bases / "lm")
    assert SKLLM(vlm=str(bases / "vlm")).vlm == str(bases / "vlm")


def test_conflicts_and_unusable_bases_are_typed_errors(bases):
    with pytest.raises(hs.SkeletonInputError, match=r"LlamoRecipeConfig\.base/text_model") as err:
        LLAMO(base=str(bases / "lm"), text_model="none")
    assert err.value.found == {"base": str(bases / "lm"), "text_model": None}
    with pytest.raises(hs.SkeletonInputError, match=r"SkeletonLLMRecipeConfig\.base/vlm"):
        SKLLM(base=str(bases / "lm"), vlm=str(bases / "vlm"))
    with pytest.raises(hs.SkeletonInputError, match=r"LlamoRecipeConfig\.base.*a VLM is SkeletonLLM's base"):
        LLAMO(base=str(bases / "vlm"))
    with pytest.raises(hs.SkeletonInputError, match=r"SkeletonLLMRecipeConfig\.base.*model type 'llamo'"):
        SKLLM(base=str(bases / "llamo"))
    with pytest.raises(hs.CheckpointError, match="no config.json"):
        LLAMO(base=str(bases / "missing"))


def test_cli_base_trains_llamo_on_the_given_llm(bases, nucla_dir, tmp_path, capsys):
    """``hf-skeleton train llamo --base FOLDER``: the saved LLaMo reads its LLM from that folder."""
    data = tmp_path / "data" / "nw_ucla" / "all_sqe"
    data.mkdir(parents=True)
    for f in sorted(nucla_dir.glob("a0[45]_s01_e0[01]_v0[13].json")):
        (data / f.name).symlink_to(f)
    assert main(["train", "llamo", "--base", str(bases / "lm"), "--text-model", "none", "--data",
                 str(tmp_path / "data"), "--output-dir", str(tmp_path / "m")]) == 2
    assert "base/text_model" in capsys.readouterr().err
    out = tmp_path / "m"
    assert main(["train", "llamo", "--base", str(bases / "lm"), "--data", str(tmp_path / "data"), "--output-dir",
                 str(out), "--hidden", "32", "--layers", "1", "--frames", "8", "--batch-size", "4",
                 "--encoder-warmup-epochs", "0", "--stage1-steps", "1", "--stage2-steps", "0", "--caption-steps",
                 "0", "--save-steps", "0"]) == 0
    config = json.loads((out / "config.json").read_text())
    assert {e["backbone"] for e in config["backbone_weights"]} == {str((bases / "lm").resolve())}
    assert hs.LlamoForConditionalGeneration.from_pretrained(out).config.text_config.hidden_size == 32
