"""Trained-parts folders (``config.backbone_weights``) and unmerged LoRA (``config.lora``), on tiny models:
the folder holds exactly what differs from the backbone, reloads bit-exact, and refuses to load when the
backbone cannot supply what the folder lacks."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig

import hf_skeleton as hs
from hf_skeleton.backbone_weights import (
    BackboneSource,
    backbone_reference,
    extend_rows,
    language_model_entries,
)
from hf_skeleton.errors import CheckpointError, SkeletonInputError
from hf_skeleton.testing import build_tiny_tokenizer

LORA = {"r": 4, "lora_alpha": 8, "lora_dropout": 0.0, "target_modules": r".*language_model.*\.(q_proj|v_proj)",
        "bias": "none"}


@pytest.fixture(scope="module")
def tiny_backbone(tmp_path_factory):
    """A tiny pretrained-style causal LM folder (tied head) and a tokenizer with two more tokens."""
    tok = build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])
    folder = tmp_path_factory.mktemp("lm")
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tok) - 2, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=True)
    AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    return folder, tok


def _llamo(folder, tok, lora=LORA, backbone=None):
    text_config = AutoConfig.from_pretrained(folder)
    text_config.vocab_size = len(tok)
    entries = language_model_entries(backbone or str(folder), text_config, "model.language_model.")
    config = hs.LlamoConfig(format="kinect_v1", motion_hidden_size=32, motion_num_layers=1, motion_num_heads=2,
                            motion_intermediate_size=64, max_motion_frames=16, use_video=False, text_config=text_config,
                            motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                            video_token_id=tok.convert_tokens_to_ids("<video>"), tie_word_embeddings=True,
                            backbone_weights=entries, lora=lora)
    model = hs.LlamoForConditionalGeneration(config)
    left = BackboneSource(entries).fill(model, list(model.state_dict()))
    assert left and not any(k.startswith("model.language_model.") and "lora_" not in k for k in left)
    return model


def test_extend_rows_appends_the_mean():
    w = torch.arange(6.0).view(3, 2)
    out = extend_rows(w, 5)
    assert out.shape == (5, 2) and torch.equal(out[:3], w) and torch.equal(out[3], w.mean(0))
    assert torch.equal(extend_rows(w, 3), w)


def test_folder_ships_only_trained_tensors_and_reloads_exactly(tiny_backbone, tmp_path):
    folder, tok = tiny_backbone
    model = _llamo(folder, tok)
    base = AutoModelForCausalLM.from_pretrained(folder)
    # the language model is the backbone's; the two added token rows are the mean embedding
    emb = model.model.language_model.embed_tokens.weight
    vocab = base.config.vocab_size
    assert torch.equal(emb[:vocab], base.model.embed_tokens.weight)
    assert torch.equal(emb[vocab:], base.model.embed_tokens.weight.mean(0, keepdim=True).expand(2, -1))
    with torch.no_grad():  # "training": the adapters and one projector weight change
        for name, p in model.named_parameters():
            if "lora_B" in name:
                p.normal_()
        model.model.motion_projector.linear_1.weight.add_(1.0)
    model.save_pretrained(tmp_path)
    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        shipped = set(f.keys())
    assert any("lora_A" in k for k in shipped) and "model.motion_projector.linear_1.weight" in shipped
    assert not any(k.startswith("model.language_model.") and "lora_" not in k for k in shipped)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["lora"]["r"] == 4 and saved["backbone_weights"][0]["backbone"] == str(folder)

    loaded = hs.LlamoForConditionalGeneration.from_pretrained(tmp_path).eval()
    state, again = model.state_dict(), loaded.state_dict()
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)
    ids = torch.randint(0, vocab, (2, 7))
    with torch.no_grad():
        assert torch.equal(loaded(input_ids=ids).logits, model.eval()(input_ids=ids).logits)
    # the adapters act: without them the same model answers differently
    with torch.no_grad():
        for name, p in loaded.named_parameters():
            if "lora_B" in name:
                p.zero_()
        assert not torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_loading_draws_no_random_number_for_what_the_backbone_holds(tiny_backbone, tmp_path):
    """from_pretrained copies the backbone's tensors in before transformers' random initialisation of what the
    checkpoint lacks: a complete trained-parts folder loads without drawing one random number (drawing the
    backbone first was wasted work, a 135 M-parameter LLM at every load of an embedded model). A tensor that
    neither holds (strict=False) is still drawn, not left as uninitialised memory."""
    folder, tok = tiny_backbone
    model = _llamo(folder, tok)
    model.save_pretrained(tmp_path)
    torch.manual_seed(0)
    before = torch.random.get_rng_state()
    loaded = hs.LlamoForConditionalGeneration.from_pretrained(tmp_path)
    assert torch.equal(torch.random.get_rng_state(), before)
    state = model.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in loaded.state_dict().items())

    config = json.loads((tmp_path / "config.json").read_text())
    config["backbone_weights"][0]["source"] = "decoder."  # names no tensor of the backbone
    (tmp_path / "config.json").write_text(json.dumps(config))
    partial = hs.LlamoForConditionalGeneration.from_pretrained(tmp_path, strict=False)
    assert not torch.equal(torch.random.get_rng_state(), before)
    drawn = partial.model.language_model.layers[0].mlp.down_proj.weight
    assert abs(float(drawn.std()) - partial.config.text_config.initializer_range) < 0.005


def test_lora_layers_keep_trainability(tiny_backbone):
    folder, tok = tiny_backbone
    model = _llamo(folder, tok)
    params = dict(model.named_parameters())
    assert params["model.language_model.layers.0.self_attn.q_proj.lora_A.default.weight"].requires_grad
    assert params["model.language_model.layers.0.self_attn.q_proj.base_layer.weight"].requires_grad
    fresh = hs.LlamoForConditionalGeneration(model.config)  # a new model's adapters start as no change
    assert all(not p.any() for n, p in fresh.named_parameters() if "lora_B" in n)
    with pytest.raises(SkeletonInputError, match="lora"):
        hs.LlamoConfig(format="kinect_v1", lora={"r": 4})


def test_missing_backbone_is_a_checkpoint_error(tiny_backbone, tmp_path):
    folder, tok = tiny_backbone
    model = _llamo(folder, tok)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["backbone_weights"] = [dict(e, backbone=str(tmp_path / "nowhere")) for e in config["backbone_weights"]]
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="backbone weights not found"):
        hs.LlamoForConditionalGeneration.from_pretrained(tmp_path)


def test_backbone_lacking_a_tensor_leaves_it_missing(tiny_backbone, tmp_path):
    folder, tok = tiny_backbone
    model = _llamo(folder, tok)
    model.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["backbone_weights"][0]["source"] = "decoder."  # names no tensor of the backbone
    (tmp_path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="missing tensors"):
        hs.LlamoForConditionalGeneration.from_pretrained(tmp_path)


def test_entries_are_validated_and_folders_referenced_by_name(tiny_backbone):
    with pytest.raises(SkeletonInputError, match="backbone_weights"):
        hs.LlamoConfig(format="kinect_v1", backbone_weights=[{"backbone": "x"}])
    folder, _ = tiny_backbone
    assert backbone_reference(str(folder)) == (folder, str(folder.resolve()))


def test_card_names_the_backbones_and_the_trained_parts(tiny_backbone, tmp_path):
    from hf_skeleton.cards import base_models, render_model_card

    entry = {"source": "model.", "target": "model.language_model."}
    config = {"backbone_weights": [dict(entry, backbone="smollm2-135m-instruct"), dict(entry, backbone="org/lm"),
                                   dict(entry, backbone="efficientnet-lite0")]}
    assert base_models(config) == ["HuggingFaceTB/SmolLM2-135M-Instruct", "org/lm", "timm/tf_efficientnet_lite0.in1k"]
    folder, tok = tiny_backbone
    _llamo(folder, tok).save_pretrained(tmp_path)
    card = str(render_model_card(tmp_path))
    assert "## Base models" in card and "LoRA adapters (" in card and "motion_encoder (" in card
    assert "embed_tokens" not in card


def test_base_model_loads_from_a_trained_parts_folder(tiny_backbone, tmp_path):
    """AutoModel on a ...ForConditionalGeneration folder: the base model's keys lack the ``model.`` prefix the
    entries name; the backbone tensors are found all the same."""
    from transformers import AutoModel

    folder, tok = tiny_backbone
    model = _llamo(folder, tok)
    model.save_pretrained(tmp_path)
    base = AutoModel.from_pretrained(tmp_path)
    assert type(base).__name__ == "LlamoModel"
    full = model.model.state_dict()
    assert all(torch.equal(full[k], v) for k, v in base.state_dict().items())
