"""The models on a forest format (#15): real N-UCLA clips cut to their 8 arm and hand joints (two chains from
the shoulders, no torso) render with DrAction, go through LLaMo's motion encoder and VGMT's part tokens, and
the configs carry the user-defined format through save/load."""

from __future__ import annotations

import numpy as np
import torch

import hf_skeleton as hs
from hf_skeleton.testing import nucla_arms_format_dict, tiny_draction, tiny_llamo, tiny_vgmt

CLIPS = ("a01_s01_e00_v01", "a06_s09_e02_v01", "a12_s01_e00_v02")


def arms_format() -> hs.SkeletonFormat:
    return hs.SkeletonFormat.from_dict(nucla_arms_format_dict("nucla_arms_forest"))


def _clips(nucla_dir):
    return [hs.load_skeleton(nucla_dir / f"{name}.json").to_format(arms_format()) for name in CLIPS]


def test_draction_renders_both_arms_and_reloads(nucla_dir, tmp_path):
    fmt = arms_format()
    model = tiny_draction(fmt, image_size=48, num_frames=4, nfm_hidden=16, color_mlp_hidden=16).eval()
    assert model.config.num_gaussians == 8 + 10 * 6  # J + n * (J - roots)
    seq = _clips(nucla_dir)[0]
    x, m = torch.from_numpy(seq.positions)[None], torch.from_numpy(seq.mask)[None]
    with torch.no_grad():
        out = model(x, m, return_alpha=True)
    alpha = out.alpha[0]
    assert torch.isfinite(out.images).all()
    for t, a in enumerate(alpha):  # every frame shows the arms, away from the border
        assert a.amax() > 0.2, t
        assert torch.cat([a[0], a[-1], a[:, 0], a[:, -1]]).amax() < 1e-2, t
    model.save_pretrained(tmp_path)
    loaded = hs.DrActionModel.from_pretrained(tmp_path).eval()
    assert loaded.config.skeleton_format == fmt and loaded.config.skeleton_format.roots == (0, 4)
    with torch.no_grad():
        assert torch.equal(loaded(x, m).images, out.images)


def test_llamo_motion_encoder_and_generation_on_arms(nucla_dir):
    fmt = arms_format()
    model, proc = tiny_llamo(format=fmt, use_video=False)
    proc = hs.LlamoProcessor.from_config(model.config, proc.tokenizer, align_view="facing")
    model.eval()
    clips = _clips(nucla_dir)
    batch = proc(skeletons=clips, text=["<motion>\nWhat is the person doing?"] * len(clips), padding=True)
    assert batch["motion"].shape[2] == 8
    with torch.no_grad():
        out = model(**batch)
        enc = model.model.motion_encoder(batch["motion"], batch["motion_mask"])
    assert torch.isfinite(out.logits).all() and torch.isfinite(enc.features).all()
    # the two part embeddings are the format's two parts
    assert model.model.motion_encoder.part_embedding.num_embeddings == 2
    assert model.model.motion_encoder._joint_part == [0, 0, 0, 0, 1, 1, 1, 1]


def test_vgmt_tokenises_arms_by_part(nucla_dir):
    fmt = arms_format()
    model = tiny_vgmt(format=fmt, token_grouping="part").eval()
    assert model.config.part_names == ["left_arm", "right_arm"] and model.config.num_tokens_per_step == 2
    clips = _clips(nucla_dir)
    T = 16
    motion = np.stack([c.resample(T).positions[:, 0] for c in clips]).astype(np.float32)
    motion = (motion - motion.mean(axis=(1, 2), keepdims=True)) / np.abs(motion).max()
    with torch.no_grad():
        out = model(torch.from_numpy(motion))
    assert out.codes.shape == (len(clips), T // model.config.temporal_downsample, 2)
    assert torch.isfinite(out.reconstruction).all() and out.reconstruction.shape == (len(clips), T, 8, 3)
