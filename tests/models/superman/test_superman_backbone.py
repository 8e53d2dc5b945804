"""Superman on a pretrained causal LM (issue 18): ``from_causal_lm_pretrained`` ties the head where the LLM ties
it, trains LoRA (q/v) and the motion-token rows of the embeddings and head, and saves a folder of the trained
parts only, which reloads bit-identically by reading the LLM back (``config.backbone_weights``).

Tiny Llama causal LMs saved to a temporary folder (tied and untied) stand in for the LLM, plus one run on the
real SmolLM2-135M-Instruct (``hs.backbone_path``). The task texts come from real CMU motion."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from superman_fixtures import save_tiny_llama
from torch import nn
from torch.nn import functional as F
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

import hf_skeleton as hs
from hf_skeleton.backbone_weights import extend_rows
from hf_skeleton.errors import CheckpointError
from hf_skeleton.models.superman.modeling_superman import SUPERMAN_LORA
from hf_skeleton.models.superman.motion_rows import MotionRowsEmbedding, MotionRowsHead
from hf_skeleton.testing import tiny_vgmt
from hf_skeleton.training.superman_tasks import (
    SupermanCollator,
    SupermanTaskBuilder,
    build_superman_trainer,
    cmu_to_h36m,
    superman_sft_config,
)


@pytest.fixture(scope="module")
def cmu_motion(cmu_dir) -> torch.Tensor:
    """(48, 17, 3) metres: a real CMU walk, every second frame."""
    seq = cmu_to_h36m(hs.load_skeleton(cmu_dir / "02_01.bvh"))
    return torch.from_numpy(seq.positions[:96:2, 0])


def task_examples(model, proc, motion: torch.Tensor, count: int) -> list[dict]:
    builder = SupermanTaskBuilder(model, proc)
    windows = [motion[i : i + 16] for i in range(0, 8 * count, 8)][:count]
    return [builder.predict(w[:8], w[8:]) if i % 2 == 0 else builder.inbetween(w) for i, w in enumerate(windows)]


def lora_parameters(text_config, lora=SUPERMAN_LORA) -> int:
    """r x (in + out) per adapted projection: q (D -> D) and v (D -> kv) in every layer."""
    d = text_config.hidden_size
    kv = text_config.num_key_value_heads * (getattr(text_config, "head_dim", None) or d // text_config.num_attention_heads)
    return text_config.num_hidden_layers * lora["r"] * ((d + d) + (d + kv))


def weight_keys(folder: Path) -> dict[str, list[int]]:
    with safe_open(str(folder / "model.safetensors"), "pt") as f:
        return {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 (a safetensors handle, not a dict)


def test_motion_rows_replace_only_their_rows_and_alone_train():
    torch.manual_seed(0)
    embedding, head = nn.Embedding(10, 4), nn.Linear(4, 10, bias=False)
    rows_in, rows_out = MotionRowsEmbedding(embedding, 6, 3), MotionRowsHead(head, 6, 3)
    merged_in, merged_out = embedding.weight.detach().clone(), head.weight.detach().clone()
    merged_in[6:9], merged_out[6:9] = rows_in.motion_rows.detach(), rows_out.motion_rows.detach()
    ids = torch.tensor([[0, 6, 8, 9, 8]])
    hidden = rows_in(ids)
    assert torch.equal(hidden, F.embedding(ids, merged_in))
    logits = rows_out(hidden)
    # two matmuls (the base rows, then the motion rows) against one: equal up to the kernel's summation order
    torch.testing.assert_close(logits, F.linear(hidden, merged_out), rtol=0, atol=1e-6)
    logits.logsumexp(-1).sum().backward()
    assert embedding.weight.grad is None and head.weight.grad is None  # the base rows are frozen
    grad_in = rows_in.motion_rows.grad
    assert grad_in[0].abs().sum() > 0 and grad_in[2].abs().sum() > 0 and not grad_in[1].any()  # id 7 never read
    assert rows_out.motion_rows.grad.abs().sum(-1).gt(0).all()
    with pytest.raises(hs.SkeletonInputError, match="motion rows"):
        MotionRowsEmbedding(nn.Embedding(10, 4), 8, 3)


@pytest.mark.parametrize("tied", [True, False], ids=["tied", "untied"])
def test_trains_lora_and_motion_rows_and_saves_only_them(cmu_motion, tmp_path, tied):
    folder = save_tiny_llama(tmp_path / "llama", tied)
    llm = AutoModelForCausalLM.from_pretrained(folder)
    torch.manual_seed(1)
    model, proc = hs.SupermanForConditionalGeneration.from_causal_lm_pretrained(str(folder), tiny_vgmt())
    config, text = model.config, model.config.vlm_config
    embeddings = model.get_input_embeddings()
    k = config.num_motion_codes + 2
    assert config.tie_word_embeddings is tied and (model.lm_head.weight is embeddings.weight) is tied
    assert (model.lm_head.motion_rows is embeddings.motion_rows) is tied
    assert embeddings.start == config.motion_token_offset == proc.tokenizer.convert_tokens_to_ids("<skel_0>")
    assert embeddings.num_embeddings == len(proc.tokenizer) and embeddings.start + k == len(proc.tokenizer)
    trainable = {n: p.numel() for n, p in model.named_parameters() if p.requires_grad}
    assert all("lora_" in n or n.endswith(".motion_rows") for n in trainable), sorted(trainable)
    assert sum(trainable.values()) == lora_parameters(text) + (1 if tied else 2) * k * text.hidden_size

    batch = SupermanCollator(proc)(task_examples(model, proc, cmu_motion, 2))
    before = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
    args = superman_sft_config(str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-2,
                               logging_steps=1)
    trainer = build_superman_trainer(model, proc, task_examples(model, proc, cmu_motion, 4), args)
    trainer.train()
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in trainer.state.log_history if "loss" in h)
    unchanged = [n for n, p in model.named_parameters() if n in before and "lora_A" not in n and torch.equal(p, before[n])]
    assert not unchanged, unchanged
    # the LLM's weights are untouched: its rows, its head, its layers (the added rows are its mean row)
    ours = model.model.vlm.state_dict()
    for key, value in llm.model.state_dict().items():
        mine = ours[key.replace("q_proj.", "q_proj.base_layer.").replace("v_proj.", "v_proj.base_layer.")]
        assert torch.equal(mine, extend_rows(value, mine.shape[0])), key
    assert torch.equal(model.lm_head.weight, extend_rows(llm.lm_head.weight, embeddings.num_embeddings))

    model.eval()
    with torch.no_grad():  # the trainer's fused LM head scores the motion tokens as the model's own head does
        own = model(**batch)
        fused = model(**batch, fused_lm_head=True)
    mask = fused.label_mask
    torch.testing.assert_close(-(fused.log_probs * mask).sum() / mask.sum(), own.loss, rtol=1e-4, atol=1e-5)
    with torch.no_grad():
        logits = model(**batch).logits
        tokens = model.generate(**proc(text=[batch_prompt(proc, cmu_motion, model)]), max_new_tokens=6, do_sample=False)
    model.save_pretrained(tmp_path / "superman")
    proc.save_pretrained(tmp_path / "superman")
    saved = weight_keys(tmp_path / "superman")
    assert all(k.startswith("vgmt.") or "lora_" in k or k.endswith(".motion_rows") for k in saved), sorted(saved)
    assert sorted(k for k in saved if k.endswith(".motion_rows")) == (
        ["model.vlm.embed_tokens.motion_rows"] if tied else ["lm_head.motion_rows", "model.vlm.embed_tokens.motion_rows"])
    vgmt_values = sum(p.numel() for p in model.vgmt.state_dict().values())
    shipped = (tmp_path / "superman" / "model.safetensors").stat().st_size
    assert shipped < 4 * (sum(trainable.values()) + vgmt_values) + 65536  # float32 values + the header
    on_disk = json.loads((tmp_path / "superman" / "config.json").read_text())
    assert on_disk["backbone_weights"][0]["backbone"] == str(folder.resolve()) and on_disk["lora"]["r"] == 8
    assert on_disk["trainable_motion_rows"] is True

    again = AutoModelForImageTextToText.from_pretrained(tmp_path / "superman").eval()
    assert {n for n, p in again.named_parameters() if p.requires_grad} == set(trainable)
    assert (again.lm_head.weight is again.get_input_embeddings().weight) is tied
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, logits)
        assert torch.equal(again.generate(**proc(text=[batch_prompt(proc, cmu_motion, again)]), max_new_tokens=6,
                                          do_sample=False), tokens)


def batch_prompt(proc, motion, model) -> str:
    return SupermanTaskBuilder(model, proc).predict(motion[:8], num_frames=8)["prompt"]


def test_a_missing_or_damaged_llm_is_a_checkpoint_error(tmp_path):
    folder = save_tiny_llama(tmp_path / "llama", tied=True)
    model, _ = hs.SupermanForConditionalGeneration.from_causal_lm_pretrained(str(folder), tiny_vgmt())
    model.save_pretrained(tmp_path / "superman")
    weights = folder / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="model.safetensors"):
        AutoModelForImageTextToText.from_pretrained(tmp_path / "superman")
    weights.write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointError, match="backbone weights unreadable"):
        AutoModelForImageTextToText.from_pretrained(tmp_path / "superman")
    weights.unlink()
    folder.rename(tmp_path / "moved")
    with pytest.raises(CheckpointError, match="backbone weights not found"):
        AutoModelForImageTextToText.from_pretrained(tmp_path / "superman")


def test_refuses_what_is_not_a_causal_lm_and_a_motion_row_resize(tmp_path):
    tiny_vgmt().save_pretrained(tmp_path / "vgmt")
    with pytest.raises(hs.SkeletonInputError, match="text-only causal LM"):
        hs.SupermanForConditionalGeneration.from_causal_lm_pretrained(str(tmp_path / "vgmt"), tiny_vgmt())
    model, proc = hs.SupermanForConditionalGeneration.from_causal_lm_pretrained(
        str(save_tiny_llama(tmp_path / "llama", tied=True)), tiny_vgmt())
    proc.tokenizer.add_tokens(["<one_more>"])
    with pytest.raises(hs.SkeletonInputError, match="motion rows are fixed"):
        model.resize_for_motion_tokens(proc.tokenizer)


@pytest.mark.slow
def test_smollm2_superman_trains_and_ships_a_few_megabytes(cmu_motion, tmp_path):
    """The real SmolLM2-135M-Instruct with a 512-code VGMT (the recipe's sizes): 2 training steps, then the
    saved folder holds LoRA, the 514 motion rows (tied head) and the VGMT, and reloads bit-identically."""
    from hf_skeleton.models.vgmt import VGMTConfig, VGMTModel

    torch.manual_seed(0)
    vgmt = VGMTModel(VGMTConfig(format="h36m17", num_codes=512, code_dim=128, channels=[32, 64], dilations=[1, 3],
                                norm_groups=8, use_vision=False))
    t0 = time.perf_counter()
    model, proc = hs.SupermanForConditionalGeneration.from_causal_lm_pretrained("smollm2-135m-instruct", vgmt)
    built = time.perf_counter() - t0
    text = model.config.vlm_config
    assert model.config.backbone_weights[0]["backbone"] == "smollm2-135m-instruct" and model.config.tie_word_embeddings
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == lora_parameters(text) + 514 * text.hidden_size

    args = superman_sft_config(str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2, logging_steps=1)
    trainer = build_superman_trainer(model, proc, task_examples(model, proc, cmu_motion, 4), args)
    t0 = time.perf_counter()
    trainer.train()
    per_step = (time.perf_counter() - t0) / 2
    assert all(torch.isfinite(torch.tensor(h["loss"])) for h in trainer.state.log_history if "loss" in h)

    model.eval()
    batch = SupermanCollator(proc)(task_examples(model, proc, cmu_motion, 2))
    with torch.no_grad():
        logits = model(**batch).logits
    model.save_pretrained(tmp_path / "superman")
    proc.save_pretrained(tmp_path / "superman")
    files = {p.name: p.stat().st_size for p in (tmp_path / "superman").iterdir() if p.is_file()}
    saved = weight_keys(tmp_path / "superman")
    vgmt_values = sum(v.numel() for v in model.vgmt.state_dict().values())
    code = sum(size for name, size in files.items() if name.endswith(".py"))
    print(f"\nSmolLM2 + 512 codes: built in {built:.1f} s, {per_step:.2f} s/step (batch 2); trainable "
          f"{trainable:,} (LoRA {lora_parameters(text):,}, motion rows {514 * text.hidden_size:,}), VGMT "
          f"{vgmt_values:,}; folder {sum(files.values()) / 1e6:.2f} MB: model.safetensors "
          f"{files['model.safetensors'] / 1e6:.2f} MB ({len(saved)} tensors), tokenizer.json "
          f"{files['tokenizer.json'] / 1e6:.2f} MB, code {code / 1e6:.2f} MB")
    assert all(k.startswith("vgmt.") or "lora_" in k or k.endswith(".motion_rows") for k in saved)
    assert files["model.safetensors"] < 4 * (trainable + vgmt_values) + 65536 < 5e6  # float32, nothing of the LLM

    again = AutoModelForImageTextToText.from_pretrained(tmp_path / "superman").eval()
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, logits)


def test_a_qwen_vl_superman_carries_motion_rows_and_lora_too(cmu_motion, tmp_path):
    """The same fields on the default VLM family (no backbone: the folder holds every tensor): the rows live in
    ``language_model.embed_tokens`` and the head, LoRA in the language model's q/v, and a reload is exact."""
    from hf_skeleton.testing import tiny_superman

    torch.manual_seed(0)
    model, proc = tiny_superman(hidden_size=32, layers=1, trainable_motion_rows=True, lora=SUPERMAN_LORA)
    embeddings = model.get_input_embeddings()
    assert isinstance(embeddings, MotionRowsEmbedding) and isinstance(model.lm_head, MotionRowsHead)
    trainable = sorted(n for n, p in model.named_parameters() if p.requires_grad)
    assert trainable and all(n.startswith("model.vlm.language_model.") or n == "lm_head.motion_rows"
                             for n in trainable), trainable
    assert "model.vlm.language_model.embed_tokens.motion_rows" in trainable
    assert sum("lora_" in n for n in trainable) == 4  # A and B of q_proj and v_proj in the one layer
    with torch.no_grad():
        embeddings.motion_rows.normal_()
        model.lm_head.motion_rows.normal_()
        for name, param in model.named_parameters():
            if "lora_B" in name:
                param.normal_()
    batch = SupermanCollator(proc)(task_examples(model, proc, cmu_motion, 2))
    model.eval()
    with torch.no_grad():
        logits = model(**batch).logits
    model.save_pretrained(tmp_path)
    again = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert sorted(n for n, p in again.named_parameters() if p.requires_grad) == trainable
    with torch.no_grad():
        assert torch.equal(again(**batch).logits, logits)
