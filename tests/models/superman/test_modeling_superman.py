"""Superman modeling: tokens and embeddings, generation, MAFT, save/load, Auto classes, the LoRA recipe."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from superman_fixtures import (  # noqa: F401  (fixtures and builders)
    _motion,
    tiny,
)

import hf_skeleton as hs
from hf_skeleton.models.superman import MAFT, MotionTextFormatter
from hf_skeleton.models.vgmt import VGMTConfig
from hf_skeleton.testing import tiny_superman
from hf_skeleton.training.superman_tasks import SupermanCollator, SupermanTaskBuilder, superman_lora_config
from superman_fixtures import tiny  # noqa: F401  (pytest fixtures)


# ---------------------------------------------------------------------- tokenizer + embeddings
def test_motion_tokens_survive_tokenizer_round_trip(tiny):
    model, proc = tiny
    codes = torch.randint(0, 32, (3, 17))
    text = proc.format_motion(codes)
    ids = proc.tokenizer(text, add_special_tokens=False)["input_ids"]
    code_ids = proc.motion_ids["codes"]
    assert [i for i in ids if i in set(code_ids)] == [
        code_ids[int(c)] for c in codes[:, _slot_order(proc)].flatten()
    ]
    decoded = proc.decode(ids, skip_special_tokens=True)
    assert torch.equal(proc.parse_motion(decoded, num_steps=3), codes)
    assert model.config.motion_token_ids == range(code_ids[0], code_ids[0] + 34)
    assert proc.motion_ids["start"] == code_ids[-1] + 1 and proc.motion_ids["end"] == code_ids[-1] + 2


def _slot_order(proc):
    return [i for _, slots in proc.motion_formatter.parts for i in slots]


def test_resize_embeddings_for_new_motion_tokens():
    from transformers import Qwen2_5_VLConfig  # noqa: F401  (family under test)

    from hf_skeleton.models.superman import SupermanConfig, SupermanForConditionalGeneration
    from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config

    tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS)
    vlm = tiny_qwen2_5_vl_config(tok)  # a "pretrained" VLM without motion tokens
    vg = VGMTConfig(
        format="h36m17", num_codes=8, code_dim=8, channels=[8], dilations=[1], norm_groups=2, use_vision=False
    )
    model = SupermanForConditionalGeneration(SupermanConfig(vlm_config=vlm, vgmt_config=vg))
    old = model.get_input_embeddings().weight.detach().clone()
    fmt = MotionTextFormatter.from_vgmt_config(vg)
    assert fmt.add_to_tokenizer(tok) == 10
    model.resize_token_embeddings(len(tok))
    assert model.get_input_embeddings().weight.shape[0] == len(tok) == model.lm_head.weight.shape[0]
    assert model.config.get_text_config().vocab_size == len(tok)
    assert torch.equal(model.get_input_embeddings().weight[: old.shape[0]], old)
    model.config.motion_token_offset = fmt.token_ids(tok)["codes"][0]
    assert list(model.config.motion_token_ids)[-1] == len(tok) - 1


def test_loss_backpropagates_to_motion_token_rows(tiny):
    model, proc = tiny
    builder = SupermanTaskBuilder(model, proc)
    m = _motion()
    batch = SupermanCollator(proc)([builder.predict(m[:8], m[8:]), builder.inbetween(m)])
    model.zero_grad()
    out = model(**batch)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    ids = torch.tensor(proc.motion_ids["codes"])
    used = torch.unique(batch["input_ids"][batch["labels"] != -100])
    used_codes = used[torch.isin(used, ids)]
    emb_grad = model.get_input_embeddings().weight.grad
    head_grad = model.lm_head.weight.grad
    assert emb_grad[used_codes].abs().sum(-1).gt(0).all()
    assert head_grad[ids].abs().sum(-1).gt(0).all()  # every motion row of lm_head gets a softmax gradient
    assert all(p.grad is None for p in model.vgmt.parameters())  # the tokenizer is frozen
    model.zero_grad()


def test_collator_labels_only_cover_the_answer(tiny):
    model, proc = tiny
    builder = SupermanTaskBuilder(model, proc)
    m = _motion()
    frames = np.random.default_rng(1).integers(0, 255, (8, 56, 56, 3), dtype=np.uint8)
    exs = [builder.predict(m[:8], m[8:]), builder.estimate(frames, m[:8])]
    batch = SupermanCollator(proc)(exs)
    eos = proc.tokenizer.eos_token
    for row, ex in enumerate(exs):
        target = proc.tokenizer(ex["answer"] + eos, add_special_tokens=False)["input_ids"]
        labels = batch["labels"][row]
        assert labels[labels != -100].tolist() == target
    assert not (batch["labels"] == proc.video_token_id).any()
    assert batch["pixel_values_videos"].shape[0] == 4 * 16  # 4 temporal patches x (56/14)^2


# ---------------------------------------------------------------------- generation
def test_generate_then_strict_parse(tiny):
    from hf_skeleton.models.superman import MotionTemplateConstraint

    model, proc = tiny
    ex = SupermanTaskBuilder(model, proc).predict(_motion(8), num_frames=4)
    enc = proc(text=[ex["prompt"]])
    plen = enc["input_ids"].shape[1]
    free = model.generate(**enc, max_new_tokens=12, do_sample=False)
    res = proc.try_parse_motion(proc.decode(free[0, plen:], skip_special_tokens=True), num_steps=2)
    assert not res.ok  # an untrained model's free text is a counted failure, not a skipped sample
    constraint = MotionTemplateConstraint(proc, 2, plen)
    out = model.generate(
        **enc, logits_processor=[constraint], max_new_tokens=len(constraint), do_sample=False
    )
    codes = proc.parse_motion(proc.decode(out[0, plen:], skip_special_tokens=True), num_steps=2)
    assert codes.shape == (2, 17)
    motion = model.codes_to_motion(codes[None], num_frames=4)
    assert motion.shape == (1, 4, 17, 3)


def test_cached_generation_matches_full_forward_with_video(tiny):
    """M-RoPE positions during cached decoding must equal those of a full forward on the same text."""
    model, proc = tiny
    frames = np.random.default_rng(2).integers(0, 255, (4, 56, 56, 3), dtype=np.uint8)
    kp = np.random.default_rng(3).random((1, 4, 17, 2)).astype(np.float32)
    prompt = proc.chat_prompt(proc.task_prompt("estimate", num_steps=2))
    enc = proc(text=[prompt], videos=[frames], keypoints_2d=kp)
    with torch.no_grad():
        model.model.maft.gate_attn.fill_(0.5)  # make MAFT active
        out = model.generate(
            **enc, max_new_tokens=4, do_sample=False, output_scores=True, return_dict_in_generate=True
        )
        full = proc(
            text=[prompt + proc.decode(out.sequences[0, enc["input_ids"].shape[1] : -1])],
            videos=[frames],
            keypoints_2d=kp,
        )
        assert torch.equal(full["input_ids"][0], out.sequences[0, :-1])
        logits = model(**full).logits[0, -4:]
        model.model.maft.gate_attn.zero_()
    torch.testing.assert_close(torch.stack(out.scores, 1)[0], logits, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------------- MAFT
def test_maft_shapes_identity_start_and_masking():
    torch.manual_seed(0)
    maft = MAFT(32, num_joints=5, num_heads=8, num_points=4)
    maft.reset_parameters()
    feats = torch.randn(3, 4, 6, 32)
    kp = torch.rand(3, 5, 2)
    assert torch.equal(maft(feats, kp), feats)  # gates start at 0: identity
    with torch.no_grad():
        maft.gate_attn.fill_(1.0)
    out = maft(feats, kp)
    assert out.shape == feats.shape and not torch.allclose(out, feats)
    mask = torch.ones(3, 5, dtype=torch.bool)
    mask[1] = False  # a frame with no detection is unchanged
    out = maft(feats, kp, mask)
    assert torch.equal(out[1], feats[1]) and not torch.allclose(out[0], feats[0])
    pose = maft.sampler(feats, kp)
    assert pose.shape == (3, 5, 32)


def test_maft_sampler_reads_features_at_the_joints():
    from hf_skeleton.models.superman.maft import DeformablePoseSampler

    s = DeformablePoseSampler(8, num_joints=1, num_heads=1, num_points=1, offset_scale=1e-6)
    s.reset_parameters()
    with torch.no_grad():
        s.value.weight.copy_(torch.eye(8))
        s.out.weight.copy_(torch.eye(8))
    feats = torch.randn(1, 4, 4, 8)
    kp = torch.tensor([[[(2 + 0.5) / 4, (1 + 0.5) / 4]]])  # centre of cell (y=1, x=2)
    torch.testing.assert_close(s(feats, kp)[0, 0], feats[0, 1, 2], atol=1e-4, rtol=1e-4)


def test_maft_parameter_overhead_is_small(tiny):
    model, _ = tiny
    maft = sum(p.numel() for p in model.model.maft.parameters())
    vlm = sum(p.numel() for p in model.model.vlm.parameters())
    assert 0 < maft < 0.1 * vlm
    # At the paper's scale (ViT width 1280, 8 heads x 4 points, 17 joints) MAFT is ~0.3% of a 7B VLM.
    big = sum(p.numel() for p in MAFT(1280, 17, 8, 4, mlp_ratio=4.0).parameters())
    assert big < 0.005 * 8.3e9


def test_maft_requires_a_qwen_style_vision_tower():
    from hf_skeleton.models.superman import SupermanConfig, SupermanForConditionalGeneration
    from hf_skeleton.testing import build_tiny_tokenizer

    tok = build_tiny_tokenizer(extra_special_tokens=["<image>"])
    from transformers import LlavaConfig

    llava = LlavaConfig(
        text_config={
            "model_type": "qwen2",
            "vocab_size": len(tok),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "num_key_value_heads": 1,
        },
        vision_config={
            "model_type": "clip_vision_model",
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 28,
            "patch_size": 14,
        },
        image_token_id=len(tok) - 1,
    )
    vg = VGMTConfig(
        format="h36m17", num_codes=8, code_dim=8, channels=[8], dilations=[1], norm_groups=2, use_vision=False
    )
    with pytest.raises(hs.SkeletonInputError, match="use_maft"):
        SupermanForConditionalGeneration(
            SupermanConfig(vlm_config=llava, vgmt_config=vg, use_maft=True, maft_num_heads=2)
        )
    plain = SupermanForConditionalGeneration(SupermanConfig(vlm_config=llava, vgmt_config=vg))
    out = plain(input_ids=torch.tensor([[1, 2, 3]]), labels=torch.tensor([[1, 2, 3]]))
    assert torch.isfinite(out.loss)


# ---------------------------------------------------------------------- save / load / Auto
def test_save_load_bit_exact_and_auto_classes(tiny, tmp_path):
    from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor

    model, proc = tiny
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    assert AutoConfig.from_pretrained(tmp_path).model_type == "superman"
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path)
    assert type(loaded) is hs.SupermanForConditionalGeneration
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    strip = lambda d: {k: v for k, v in d.items() if k != "dtype"}
    assert strip(loaded.config.vgmt_config.to_dict()) == strip(model.config.vgmt_config.to_dict())
    backbone = AutoModel.from_pretrained(tmp_path)
    assert type(backbone) is hs.SupermanModel
    p2 = AutoProcessor.from_pretrained(tmp_path)
    assert type(p2) is hs.SupermanProcessor and p2.motion_ids == proc.motion_ids
    m = _motion(8)
    ex = SupermanTaskBuilder(loaded, p2).predict(m, num_frames=8)
    assert ex["prompt"] == SupermanTaskBuilder(model, proc).predict(m, num_frames=8)["prompt"]
    enc = p2(text=[ex["prompt"]])
    with torch.no_grad():
        assert torch.equal(loaded(**enc).logits, model(**enc).logits)


def test_processor_holds_vgmt_skeleton_processor_and_old_folders_load(tiny, tmp_path):
    from transformers import AutoProcessor

    from hf_skeleton.models.superman.processing_superman import normalize_like
    from hf_skeleton.models.vgmt import normalize_motion

    model, proc = tiny
    sp = proc.skeleton_processor
    assert (sp.normalization, sp.skeleton_format) == ("box", model.config.vgmt_config.skeleton_format)
    # the tasks' normalisation by a reference box is the VGMT one, bit for bit
    h, f = torch.from_numpy(_motion(8)), torch.from_numpy(_motion(6, seed=1))
    (hn, fn), centre, scale = normalize_like(h, h, f)
    ref, c, s = normalize_motion(h[None])
    assert torch.equal(hn, ref[0]) and torch.equal(centre, c[0]) and torch.equal(scale, s[0])
    assert torch.equal(fn, (f - c[0]) / s[0])
    # a folder saved before the SkeletonProcessor (no preprocessor_config.json) takes it from config.json
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    (tmp_path / "preprocessor_config.json").unlink()
    old = AutoProcessor.from_pretrained(tmp_path)
    assert old.skeleton_processor.to_dict() == sp.to_dict()
    (tmp_path / "config.json").unlink()  # a processor folder alone: nothing to read the format from
    assert hs.SupermanProcessor.from_pretrained(tmp_path).skeleton_processor is None


def test_config_validation():
    from hf_skeleton.models.superman import SupermanConfig

    with pytest.raises(hs.SkeletonInputError, match="motion_token_offset"):
        m, _ = tiny_superman()
        SupermanConfig(
            vlm_config=m.config.vlm_config, vgmt_config=m.config.vgmt_config, motion_token_offset=10_000
        )
    with pytest.raises(hs.SkeletonInputError, match="maft_num_heads"):
        SupermanConfig(
            vlm_config=m.config.vlm_config, vgmt_config=m.config.vgmt_config, use_maft=True, maft_num_heads=3
        )


def test_lora_recipe_trains_motion_rows(tiny):
    from peft import get_peft_model

    _, proc = tiny
    fresh, _ = tiny_superman()
    peft_model = get_peft_model(fresh, superman_lora_config(fresh, r=8))
    trainable = [n for n, p in peft_model.named_parameters() if p.requires_grad]
    assert any("lora_A" in n and "q_proj" in n for n in trainable)
    assert any("lm_head" in n for n in trainable) and any("embed_tokens" in n for n in trainable)
    assert not any("vgmt" in n for n in trainable)
    ex = SupermanTaskBuilder(fresh, proc).predict(_motion(8), _motion(8, 1))
    loss = peft_model(**SupermanCollator(proc)([ex])).loss
    loss.backward()
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0
        for n, p in peft_model.named_parameters()
        if "lora_B" in n or "modules_to_save" in n
    )
