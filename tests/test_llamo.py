"""LLaMo: motion encoder, video fusion, backbone/head, processor, save/load, Auto classes, generation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import (AutoConfig, AutoModel, AutoModelForImageTextToText, AutoProcessor, CLIPImageProcessorPil,
                          CLIPVisionConfig, SiglipVisionConfig)

import hf_skeleton as hs
from hf_skeleton.models.llamo import LlamoMotionEncoder
from hf_skeleton.skeletons.transforms import normalize
from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config

torch.set_num_threads(1)

TINY_MOTION = dict(motion_hidden_size=32, motion_num_layers=1, motion_num_heads=4, motion_intermediate_size=64,
                   max_motion_frames=24, motion_temporal_stride=2, motion_dropout=0.0, fusion_num_heads=4)


@pytest.fixture(scope="module")
def tok():
    return build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])


def tiny_vision(kind: str = "clip"):
    cls = CLIPVisionConfig if kind == "clip" else SiglipVisionConfig
    return cls(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2, image_size=56,
               patch_size=14)


def make_config(tok, fmt="kinect_v1", video=True, **kw):
    args = dict(TINY_MOTION, format=fmt, use_video=video, vision_config=tiny_vision() if video else None,
                num_video_frames=2, video_pooling="mean", text_config=tiny_text_config(tok, hidden_size=32, heads=4),
                motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                video_token_id=tok.convert_tokens_to_ids("<video>"))
    args.update(kw)
    return hs.LlamoConfig(**args)


def make(tok, seed=0, **kw):
    torch.manual_seed(seed)
    cfg = make_config(tok, **kw)
    return hs.LlamoForConditionalGeneration(cfg).eval(), hs.LlamoProcessor.from_config(cfg, tok)


def clips(J=20, lengths=(7, 1), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(T, J, 3)).astype(np.float32) for T in lengths]


def frames(n=6, seed=0):
    return np.random.default_rng(seed).integers(0, 255, (n, 70, 90, 3), dtype=np.uint8)


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


# ---------------------------------------------------------------------- processor
def test_processor_placeholders(tok):
    _, proc = make(tok)
    sk = clips(lengths=(7, 1))
    b = proc(skeletons=sk, text=["<motion> what is the person doing ?", "no placeholder"], skeleton_format="kinect_v1")
    counts = (b["input_ids"] == proc.motion_token_id).sum(1).tolist()
    assert counts == [4, 1]  # ceil(7 / 2), ceil(1 / 2)
    assert b["motion"].shape == (2, 7, 20, 3) and b["motion_mask"].shape == (2, 7, 20)
    assert not b["motion_mask"][1, 1:].any()
    text = tok.decode(b["input_ids"][1][b["attention_mask"][1].bool()])
    assert text.startswith("<motion>\nno placeholder")
    with pytest.raises(hs.SkeletonInputError, match="at most one"):
        proc(skeletons=sk[:1], text=["<motion><motion>"])
    with pytest.raises(hs.SkeletonInputError, match="without its input"):
        proc(text=["<motion> hi"])
    with pytest.raises(hs.SkeletonInputError, match="one clip per text"):
        proc(skeletons=sk, text=["a"])
    with pytest.raises(hs.SkeletonInputError, match="20, 3"):
        proc(skeletons=[np.zeros((4, 25, 3))], text=["a"])
    with pytest.raises(hs.SkeletonInputError, match="tokenizer"):
        hs.LlamoProcessor(build_tiny_tokenizer(), CLIPImageProcessorPil())


def test_processor_motion_normalisation_and_format_conversion(tok, nucla_dir):
    _, proc = make(tok)
    seq = hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")
    pos, mask = proc.prepare_motion(seq)
    ref = normalize(seq.resample(24) if seq.num_frames > 24 else seq, center="first_frame", scale=True)
    np.testing.assert_allclose(pos, ref.positions[:, 0], rtol=1e-6, atol=1e-6)
    assert pos.shape == (min(seq.num_frames, 24), 20, 3) and mask.all()
    # a Kinect v2 clip into a Kinect v1 model: the 20 shared joints matched by name, hand tips dropped
    v2 = seq.to_format("kinect_v2")
    pos2, mask2 = proc.prepare_motion(v2)
    assert pos2.shape == pos.shape and mask2.all()
    np.testing.assert_allclose(pos2, pos, atol=1e-5)
    # an SMPL-22 model reading the same clip: joints without an SMPL name are masked, not invented
    _, smpl_proc = make(tok, fmt="smpl22", video=False)
    pos3, mask3 = smpl_proc.prepare_motion(seq)
    assert pos3.shape == (pos.shape[0], 22, 3)
    assert not mask3[:, hs.get_format("smpl22").index("spine3")].any() and mask3[:, 0].all()


def test_processor_video_matches_clip_image_processor(tok):
    _, proc = make(tok)
    video = frames(10)
    got = proc.prepare_video(video)
    idx = hs.sample_frame_indices(10, 2)
    ref = CLIPImageProcessorPil(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56})(
        images=list(video[idx]), return_tensors="pt")["pixel_values"]
    assert torch.equal(got, ref)


def test_real_nucla_clips_including_one_frame(tok, nucla_dir):
    model, proc = make(tok, video=False)
    seqs = [hs.load_skeleton(nucla_dir / n) for n in ("a02_s09_e04_v02.json", "a11_s03_e01_v03.json")]
    assert seqs[0].num_frames == 1
    batch = proc(skeletons=seqs, text=["what action is the person doing ?"] * 2)
    out = model(**batch)
    assert torch.isfinite(out.logits).all()
    assert int((batch["input_ids"][0] == proc.motion_token_id).sum()) == 1


def test_skeleton_understanding_pipeline_with_a_llamo_folder(tok, tmp_path, nucla_dir):
    from transformers import pipeline

    model, proc = make(tok)
    with torch.no_grad():  # a wide spread, so that greedy tokens depend on the prompt, clip and video
        for p in model.model.language_model.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    pipe = pipeline("skeleton-understanding", model=str(tmp_path))
    clip = nucla_dir / "a04_s01_e00_v01.json"
    ranked = pipe(clip, candidate_labels=["walk around", "sit down", "throw"])
    assert sorted(r["label"] for r in ranked) == ["sit down", "throw", "walk around"]
    assert abs(sum(r["score"] for r in ranked) - 1) < 1e-5
    video = frames()
    with_video = pipe(clip, candidate_labels=["walk around", "sit down", "throw"], videos=video)
    assert [r["score"] for r in with_video] != [r["score"] for r in ranked]  # the video reaches the model
    # the pipeline's scores are the model's own likelihoods on the processor's batch
    seq = hs.load_skeleton(clip)
    from hf_skeleton.evaluation.recognition import score_candidate_labels
    direct = score_candidate_labels(model, proc, [seq], "What action is the person doing? Answer with the action name.",
                                    ["walk around", "sit down", "throw"], videos=[video]).softmax(-1)[0]
    got = {r["label"]: r["score"] for r in with_video}
    assert got["throw"] == pytest.approx(float(direct[2]), abs=1e-5)
    text = pipe(clip, prompt="Describe the motion.", max_new_tokens=3, videos=video)
    # the model's own greedy continuation of the chat prompt, with the clip and the video
    from hf_skeleton.training.collators import chat_prompt
    enc = proc(skeletons=[seq], text=[chat_prompt(proc, "Describe the motion.")], videos=[video])
    new = model.generate(**enc, max_new_tokens=3, do_sample=False)[0, enc["input_ids"].shape[1]:]
    assert len(new) == 3
    assert text == {"generated_text": tok.decode(new, skip_special_tokens=True).strip()}


def test_real_pose2sim_motion_with_its_video(tok, pose2sim_dir):
    """3D markers (TRC) and the synchronised camera video of the same trial, end to end."""
    seq = hs.load_skeleton(pose2sim_dir / "keypoints_2d_3d" / "pose-3d"
                           / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc")
    video = pose2sim_dir / "videos" / "cam01.mp4"
    assert seq.num_frames == hs.video_info(video)["num_frames"] == 100
    model, proc = make(tok, fmt=seq.format)
    batch = proc(skeletons=[seq], text=["describe the motion ."], videos=[video])
    assert batch["motion"].shape == (1, 24, seq.format.num_joints, 3)  # resampled to max_motion_frames
    pos, mask = proc.prepare_motion(seq)
    np.testing.assert_array_equal(batch["motion"][0].numpy(), pos)
    assert batch["motion_mask"][0].numpy().all() and mask.all()
    assert batch["pixel_values_videos"].shape == (1, 2, 3, 56, 56)
    frames = hs.load_video(video, num_frames=2)  # the two uniformly sampled frames of the mp4
    assert torch.equal(batch["pixel_values_videos"][0], proc.prepare_video(frames))
    out = model(**batch)
    assert torch.isfinite(out.logits).all() and out.video_hidden_states.shape == (1, 2, 32)
