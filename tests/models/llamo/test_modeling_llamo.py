"""LLaMo modeling: motion encoder, video fusion, backbone/head, save/load, Auto classes, generation."""

from __future__ import annotations

import pytest
import torch
from llamo_fixtures import clips, frames, make, make_config, tiny_vision
from transformers import AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor

import hf_skeleton as hs
from hf_skeleton.models.llamo import LlamoMotionEncoder
from hf_skeleton.testing import tiny_text_config
from llamo_fixtures import tok  # noqa: F401  (pytest fixtures)


# ---------------------------------------------------------------------- config
def test_config_validation_and_roundtrip(tok):
    with pytest.raises(hs.SkeletonInputError, match="motion_pooling"):
        make_config(tok, motion_pooling="bone")
    with pytest.raises(hs.SkeletonInputError, match="motion_num_heads"):
        make_config(tok, motion_num_heads=5)
    with pytest.raises(hs.SkeletonInputError, match="vision_config"):
        hs.LlamoConfig(vision_config={"hidden_size": 8}, text_config=tiny_text_config(tok))
    custom = hs.SkeletonFormat("stick5", ("root", "a", "b", "c", "d"), (-1, 0, 1, 0, 3))
    cfg = make_config(tok, fmt=custom)
    again = hs.LlamoConfig.from_dict(cfg.to_dict())
    assert again.skeleton_format == custom and again.num_joints == 5
    assert again.vision_config.hidden_size == 32 and again.text_config.model_type == "qwen2"
    assert AutoConfig.for_model("llamo").model_type == "llamo"


# ---------------------------------------------------------------------- motion encoder
@pytest.mark.parametrize("fmt,pooling", [("kinect_v1", "frame"), ("smpl22", "joint"), ("coco17", "frame")])
@pytest.mark.parametrize("lengths", [(1,), (9, 4, 1)])
def test_motion_encoder_shapes(tok, fmt, pooling, lengths):
    cfg = make_config(tok, fmt=fmt, video=False, motion_pooling=pooling)
    enc = LlamoMotionEncoder(cfg).eval()
    J, T = cfg.num_joints, max(lengths)
    motion = torch.randn(len(lengths), T, J, 3)
    mask = torch.zeros(len(lengths), T, J, dtype=torch.bool)
    for i, n in enumerate(lengths):
        mask[i, :n] = True
    out = enc(motion, mask)
    per_step = J if pooling == "joint" else 1
    steps = -(-T // cfg.motion_temporal_stride)
    assert out.features.shape == (len(lengths), steps * per_step, 32)
    assert out.frame_features.shape == (len(lengths), T, J, 32)
    counts = out.token_mask.sum(1).tolist()
    assert counts == [cfg.num_motion_tokens(n) for n in lengths]
    proc = hs.LlamoProcessor.from_config(cfg, tok)
    assert counts == [proc.num_motion_tokens(mask[i, :n].numpy()) for i, n in enumerate(lengths)]
    assert torch.isfinite(out.features).all()


def test_masked_joints_are_ignored_and_never_nan(tok):
    cfg = make_config(tok, video=False)
    enc = LlamoMotionEncoder(cfg).eval()
    motion = torch.randn(3, 6, 20, 3)
    mask = torch.rand(3, 6, 20) > 0.3
    mask[1, 2] = False                 # a real frame with every joint untracked
    mask[2] = False                    # a clip with nothing tracked at all
    mask[2, 0, 0] = True
    mask[0, :, 5] = False              # a joint never tracked
    out = enc(motion, mask)
    assert torch.isfinite(out.features).all() and torch.isfinite(out.frame_features).all()
    changed = motion.clone()
    changed[~mask] = torch.randn(int((~mask).sum()), 3) * 100  # values under the mask must not matter
    changed[1, 2] = float("nan")
    out2 = enc(changed, mask)
    torch.testing.assert_close(out.features, out2.features)
    all_masked = enc(motion[:1], torch.zeros(1, 6, 20, dtype=torch.bool))
    assert torch.isfinite(all_masked.features).all() and all_masked.token_mask.sum() == 0


def test_padding_does_not_change_features(tok):
    cfg = make_config(tok, video=False, motion_pooling="joint")
    enc = LlamoMotionEncoder(cfg).eval()
    short, long = torch.randn(1, 5, 20, 3), torch.randn(1, 11, 20, 3)
    alone = enc(short, torch.ones(1, 5, 20, dtype=torch.bool))
    batch = torch.zeros(2, 11, 20, 3)
    batch[0, :5], batch[1] = short[0], long[0]
    mask = torch.zeros(2, 11, 20, dtype=torch.bool)
    mask[0, :5], mask[1] = True, True
    both = enc(batch, mask)
    torch.testing.assert_close(both.features[0][both.token_mask[0]], alone.features[0][alone.token_mask[0]],
                               rtol=1e-5, atol=1e-5)


def test_motion_encoder_rejects_bad_input(tok):
    enc = LlamoMotionEncoder(make_config(tok, video=False))
    with pytest.raises(hs.SkeletonInputError, match="20 joints"):
        enc(torch.randn(1, 4, 25, 3))
    with pytest.raises(hs.SkeletonInputError, match=r"\(B, T, J, 3\)"):
        enc(torch.randn(4, 20, 3))
    with pytest.raises(hs.SkeletonInputError, match="max_motion_frames"):
        enc(torch.randn(1, 25, 20, 3))
    with pytest.raises(hs.SkeletonInputError, match="motion_mask"):
        enc(torch.randn(1, 4, 20, 3), torch.ones(1, 4, 19, dtype=torch.bool))


# ---------------------------------------------------------------------- full model
def test_forward_gradients_reach_encoders_projectors_and_fusion(tok):
    model, proc = make(tok)
    model.train()
    batch = proc(skeletons=clips(), text=["walk around", "sit down"], videos=[frames(), frames(3, 1)],
                 skeleton_format="kinect_v1")
    out = model(**batch, labels=batch["input_ids"])
    assert out.logits.shape[:2] == batch["input_ids"].shape and torch.isfinite(out.loss)
    out.loss.backward()
    m = model.model
    for name, module in [("motion encoder", m.motion_encoder), ("motion projector", m.motion_projector),
                         ("video projector", m.video_projector), ("fusion", m.fusion),
                         ("vision embeddings", m.vision_tower.embeddings)]:
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert grads and all(g is not None for g in grads), name
        assert sum(float(g.abs().sum()) for g in grads) > 0, name
    n_motion = int((batch["input_ids"] == proc.motion_token_id).sum())
    assert out.motion_hidden_states.shape == (n_motion, 32)


def test_motion_and_video_change_the_output(tok):
    model, proc = make(tok)
    sk, text = clips(lengths=(6,)), ["walk"]
    base = model(**proc(skeletons=sk, text=text, videos=[frames()])).logits
    other_video = model(**proc(skeletons=sk, text=text, videos=[frames(seed=5)])).logits
    other_motion = model(**proc(skeletons=clips(lengths=(6,), seed=3), text=text, videos=[frames()])).logits
    assert not torch.allclose(base, other_video) and not torch.allclose(base, other_motion)
    # the fusion is what carries video into the motion tokens
    batch = proc(skeletons=sk, text=text, videos=[frames()])
    assert not torch.allclose(model.model.get_motion_features(batch["motion"], batch["motion_mask"])[0],
                              model(**batch).motion_hidden_states[None])


def test_placeholder_mismatch_and_missing_ids_raise(tok):
    model, proc = make(tok)
    batch = proc(skeletons=clips(lengths=(6,)), text=["walk"])
    ids = batch["input_ids"].clone()
    ids[ids == proc.motion_token_id] = tok.pad_token_id
    with pytest.raises(hs.SkeletonInputError, match="placeholder"):
        model(input_ids=ids, motion=batch["motion"], motion_mask=batch["motion_mask"])
    with pytest.raises(hs.SkeletonInputError, match="frames per video"):
        model(**proc(skeletons=clips(lengths=(6,)), text=["walk"], videos=[frames()]).data
              | {"pixel_values_videos": torch.zeros(1, 3, 3, 56, 56)})
    motion_only, proc2 = make(tok, video=False)
    with pytest.raises(hs.SkeletonInputError, match="use_video=False"):
        motion_only(**proc2(skeletons=clips(lengths=(6,)), text=["walk"], videos=[frames()]))


@pytest.mark.parametrize("kind,pooling", [("clip", "patch"), ("siglip", "cls")])
def test_video_towers_and_poolings(tok, kind, pooling):
    torch.manual_seed(0)
    cfg = make_config(tok, vision_config=tiny_vision(kind), video_pooling=pooling)
    model = hs.LlamoForConditionalGeneration(cfg).eval()
    proc = hs.LlamoProcessor.from_config(cfg, tok)
    batch = proc(skeletons=clips(lengths=(4,)), text=["walk"], videos=[frames()])
    assert batch["pixel_values_videos"].shape == (1, 2, 3, 56, 56)
    assert int((batch["input_ids"] == proc.video_token_id).sum()) == 2 * cfg.num_video_tokens_per_frame
    assert cfg.num_video_tokens_per_frame == (16 if pooling == "patch" else 1)
    out = model(**batch)
    assert out.video_hidden_states.shape == (1, cfg.num_video_tokens, 32)


def test_efficientnet_token_tower_as_video_encoder(tok):
    """A CNN tower that pools its last map to g x g tokens (EfficientNet-Lite0, the offline pretrained
    backbone) serves as LLaMo's video tower: g*g tokens a frame, read at hidden_states[-1]."""
    from transformers import ViTImageProcessorPil

    from hf_skeleton.models.efficientnet_lite import EfficientNetLiteConfig

    vision = EfficientNetLiteConfig(token_grid=2, image_size=64, frozen_eval=True)
    with pytest.raises(hs.SkeletonInputError, match="vision_feature_layer"):
        make_config(tok, vision_config=vision, video_pooling="patch")  # -2 reads a map, not the tokens
    torch.manual_seed(0)
    cfg = make_config(tok, vision_config=vision, video_pooling="patch", vision_feature_layer=-1)
    assert cfg.num_video_tokens_per_frame == 4 and cfg.num_video_tokens == 8
    model = hs.LlamoForConditionalGeneration(cfg).eval()
    processor = ViTImageProcessorPil(size={"height": 64, "width": 64}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
    proc = hs.LlamoProcessor.from_config(cfg, tok, image_processor=processor)
    batch = proc(skeletons=clips(lengths=(4,)), text=["walk"], videos=[frames()])
    assert batch["pixel_values_videos"].shape == (1, 2, 3, 64, 64)
    assert int((batch["input_ids"] == proc.video_token_id).sum()) == 8
    out = model(**batch)
    assert out.video_hidden_states.shape == (1, 8, 32)
    with torch.no_grad():  # the tokens are the tower's pooled grid, projected
        tokens = model.model.vision_tower(batch["pixel_values_videos"][0], return_dict=True).hidden_states[-1]
        torch.testing.assert_close(out.video_hidden_states[0], model.model.video_projector(tokens.reshape(8, -1)))


def test_save_load_bit_exact_and_auto_classes(tok, tmp_path):
    model, proc = make(tok)
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").is_file()
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    proc2 = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is hs.LlamoForConditionalGeneration and type(proc2) is hs.LlamoProcessor
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    inputs = dict(skeletons=clips(), text=["walk around", "sit"], videos=[frames(), frames(4, 2)],
                  skeleton_format="kinect_v1")
    b1, b2 = proc(**inputs), proc2(**inputs)
    assert all(torch.equal(b1[k], b2[k]) for k in b1)
    assert torch.equal(model(**b1).logits, loaded(**b2).logits)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert type(backbone) is hs.LlamoModel
    hidden = backbone.eval()(**b1).last_hidden_state
    assert torch.equal(hidden, model.model(**b1).last_hidden_state)


def test_generate_merges_motion_on_prefill_only(tok):
    model, proc = make(tok, seed=3)
    batch = proc(skeletons=clips(lengths=(5,)), text=["describe the motion ."], videos=[frames()])
    out = model.generate(**batch, max_new_tokens=4, do_sample=False)
    ids = batch["input_ids"]
    for _ in range(4):  # reference: full recomputation without a cache
        logits = model(input_ids=ids, attention_mask=torch.ones_like(ids), motion=batch["motion"],
                       motion_mask=batch["motion_mask"], pixel_values_videos=batch["pixel_values_videos"],
                       use_cache=False).logits
        ids = torch.cat([ids, logits[:, -1].argmax(-1, keepdim=True)], dim=1)
    assert torch.equal(out[:, :ids.shape[1]], ids[:, :out.shape[1]])


def test_gradient_checkpointing_and_backbone_training_path(tok):
    grads = []
    for ckpt in (False, True):
        model, proc = make(tok)
        if ckpt:
            model.activation_checkpointing_enable()
            assert model.is_activation_checkpointing
        model.train()
        batch = proc(skeletons=clips(), text=["walk", "sit"], skeleton_format="kinect_v1")
        # TRL trains through model.base_model(...) + the output embeddings
        hidden = model.base_model(**batch, use_cache=False).last_hidden_state
        loss = model.get_output_embeddings()(hidden).logsumexp(-1).mean()
        loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.grad is not None})
    plain, checkpointed = grads
    assert plain.keys() == checkpointed.keys()
    assert checkpointed["model.motion_encoder.input_proj.weight"].abs().sum() > 0
    for name in plain:
        torch.testing.assert_close(checkpointed[name], plain[name], rtol=1e-5, atol=1e-6, msg=name)
