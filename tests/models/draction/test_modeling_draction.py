"""DrActionModel: real clips of four formats render, determinism, gradients, save/load, errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from scipy.spatial.transform import Rotation
from transformers import AutoConfig, AutoModel

import hf_skeleton as hs
from hf_skeleton.errors import HFSkeletonError, SkeletonInputError

SIZE = 56
TINY = {"image_size": SIZE, "num_frames": 4, "nfm_hidden": 16, "color_mlp_hidden": 16}


def _inputs(seq: hs.SkeletonSequence):
    x = torch.from_numpy(seq.positions)[None]
    m = torch.from_numpy(seq.mask)[None]
    o = None if seq.orientations is None else torch.from_numpy(seq.orientations)[None]
    return x, m, o


def _model(fmt, **kw) -> hs.DrActionModel:
    torch.manual_seed(0)
    cfg = hs.DrActionConfig(format=fmt, **{**TINY, **kw})
    return hs.DrActionModel(cfg).eval()


def _real_clips(nucla_dir, humanml3d_dir, cmu_dir, pose2sim_dir):
    return {
        "nucla": hs.load_skeleton(nucla_dir / "a06_s01_e00_v02.json"),
        "humanml3d": hs.load_skeleton(humanml3d_dir / "new_joints" / "012314.npy"),
        "cmu_bvh": hs.load_skeleton(cmu_dir / "02_01.bvh"),
        "pose2sim_2d": hs.load_skeleton(pose2sim_dir / "keypoints_2d_3d" / "pose" / "cam01_json"),
    }


def _assert_body_inside(alpha: torch.Tensor, name: str) -> None:
    """Every frame has a visible body and nothing on the 1-px border."""
    for t, a in enumerate(alpha):
        assert a.amax() > 0.2, f"{name}: frame {t} is empty"
        border = torch.cat([a[0], a[-1], a[:, 0], a[:, -1]])
        assert border.amax() < 1e-3, f"{name}: frame {t} touches the border ({border.amax():.3g})"


# ---------------------------------------------------------------------- real data
def test_real_clips_of_four_formats_render_inside_the_image(nucla_dir, humanml3d_dir, cmu_dir, pose2sim_dir):
    clips = _real_clips(nucla_dir, humanml3d_dir, cmu_dir, pose2sim_dir)
    assert clips["cmu_bvh"].orientations is not None  # BVH skins with its joint rotations
    assert clips["pose2sim_2d"].format.name == "body25b" and clips["pose2sim_2d"].num_persons >= 2
    for name, seq in clips.items():
        fmt = seq.format if seq.format.name in hs.list_formats() else seq.format.to_dict()
        model = _model(fmt)
        x, m, o = _inputs(seq)
        with torch.no_grad():
            out = model(skeletons=x, skeleton_mask=m, orientations=o, return_alpha=True, return_depth=True)
        assert out.images.shape == (1, 4, 3, SIZE, SIZE), name
        assert out.alpha.shape == out.depth.shape == (1, 4, SIZE, SIZE)
        assert out.images.min() >= 0 and out.images.max() <= 1
        assert torch.isfinite(out.depth).all()
        _assert_body_inside(out.alpha[0], name)
        idx = out.frame_indices[0]
        assert (idx[1:] >= idx[:-1]).all() and idx[-1] < seq.num_frames


def test_multi_view_grid_renders_each_view_inside_its_tile(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a11_s02_e00_v01.json")
    model = _model("kinect_v1", views=["front", "side", "top"], image_size=64)
    x, m, _ = _inputs(seq)
    with torch.no_grad():
        out = model(x, m, return_alpha=True)
    tiles = out.alpha[0].unflatten(1, (2, 32)).unflatten(3, (2, 32)).permute(0, 1, 3, 2, 4)  # (T', r, c, 32, 32)
    for r, c in ((0, 0), (0, 1), (1, 0)):
        _assert_body_inside(tiles[:, r, c], f"tile {r},{c}")
    assert tiles[:, 1, 1].amax() == 0  # the fourth cell is background


# clips where a hip-line facing and the mirror-pair facing disagree by 20-50 degrees
AGREEMENT_CLIPS = ("a01_s01_e00_v01", "a02_s10_e02_v03", "a04_s04_e04_v03", "a06_s09_e02_v01", "a08_s04_e01_v02")


@pytest.mark.parametrize("name", AGREEMENT_CLIPS)
def test_align_view_and_the_front_view_agree_on_real_clips(nucla_dir, name):
    """The sensor's view of a clip aligned with align_view is DrAction's own front view of the raw clip:
    one definition of the body's facing (skeletons.geometry.body_facing) serves both."""
    from hf_skeleton.rendering import clip_cameras
    from hf_skeleton.skeletons import transforms as tf

    seq = hs.load_skeleton(nucla_dir / f"{name}.json")
    aligned = tf.normalize(seq, center="first_frame", scale=False, align_view=True)
    assert aligned.meta["transforms"][-1]["view_source"] == "mirror pairs"
    assert np.array_equal(tf.align_view(seq).positions, tf.normalize(seq, center="none", scale=False,
                                                                      align_view="facing").positions)

    def cameras(clip, view_frame):
        pos, mask = torch.from_numpy(clip.positions)[None].double(), torch.from_numpy(clip.mask)[None]
        view, _ = clip_cameras(pos, mask, clip.format, ("front", "left", "top"), width=SIZE, height=SIZE,
                               view_frame=view_frame)
        homo = torch.cat([pos[0][mask[0]], torch.ones(int(mask.sum()), 1, dtype=pos.dtype)], dim=-1)
        return view[0], homo

    raw_view, raw_pts = cameras(seq, "body")
    data_view, aligned_pts = cameras(aligned, "data")
    body_view, _ = cameras(aligned, "body")
    # every joint lands at the same camera coordinates in every view (the framing is the same)
    for v in range(3):
        torch.testing.assert_close(aligned_pts @ data_view[v].T, raw_pts @ raw_view[v].T, atol=2e-5, rtol=0)
    # the aligned body already faces the sensor: its body frame is the data frame
    torch.testing.assert_close(body_view, data_view, atol=2e-5, rtol=0)

    # the images agree too, once the NFM residuals (whose inputs are world coordinates) are off
    model = _model("kinect_v1")
    with torch.no_grad():
        model.nfm.output_layer.weight.zero_()
        model.nfm.output_layer.bias.zero_()
    x, m, _ = _inputs(seq)
    with torch.no_grad():
        front_of_raw = model(x, m).images
        model.config.view_frame = "data"
        x, m, _ = _inputs(aligned)
        sensor_of_aligned = model(x, m).images
    assert front_of_raw.amax() > 0.2
    diff = (front_of_raw - sensor_of_aligned).abs()
    assert diff.mean() < 1e-5 and (diff > 1 / 255).float().mean() < 1e-3, (diff.mean(), diff.amax())


def test_authors_camera_mode_renders_sensor_space_clips(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a11_s02_e00_v01.json")
    x, m, _ = _inputs(seq)
    with torch.no_grad():
        authors = _model("kinect_v1", camera="authors")(x, m, return_alpha=True).alpha[0]
        framed = _model("kinect_v1")(x, m, return_alpha=True).alpha[0]
    assert (authors.amax(dim=(1, 2)) > 0.2).all()
    # the sensor-origin camera sees the body smaller than the auto-framing does
    assert (authors > 0.05).sum() < (framed > 0.05).sum()
    # the released camera only flips y: a point at +x, +y lands right of and above the image centre
    view, K = hs.rendering.authors_camera(1, width=SIZE, height=SIZE)
    uv = K[0] @ (view[0, :3, :3] @ torch.tensor([0.5, 0.5, 3.0]))
    assert uv[0] / uv[2] > SIZE / 2 and uv[1] / uv[2] < SIZE / 2


def test_one_frame_clip_renders_all_frames(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a02_s09_e04_v02.json")
    assert seq.num_frames == 1
    model = _model("kinect_v1", num_frames=6)
    x, m, _ = _inputs(seq)
    with torch.no_grad():
        out = model(x, m, return_alpha=True)
    assert out.images.shape == (1, 6, 3, SIZE, SIZE)
    assert (out.frame_indices == 0).all()
    _assert_body_inside(out.alpha[0], "1-frame clip")
    # the per-frame MLP NFM draws the repeated frame identically (the GRU carries state over time)
    with torch.no_grad():
        still = _model("kinect_v1", num_frames=6, nfm_type="mlp")(x, m).images
    assert torch.equal(still[0, 0], still[0, 5])


def test_two_persons_share_one_image(nucla_dir):
    a = hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")
    x = torch.from_numpy(a.positions[:20])[None]  # (1, 20, 1, 20, 3)
    other = x + torch.tensor([1.5, 0.0, 0.0])  # a second person beside the first
    both = torch.cat([x, other], dim=2)
    model = _model("kinect_v1", view_frame="data")
    with torch.no_grad():
        alpha = model(both, return_alpha=True).alpha[0]
    half = SIZE // 2
    # the data-frame front view looks along +z with +x to the image left: each person fills one half
    assert (alpha[:, :, :half].amax(dim=(1, 2)) > 0.2).all() and (alpha[:, :, half:].amax(dim=(1, 2)) > 0.2).all()


def test_seeded_sampling_is_reproducible_and_eval_is_uniform(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    x, m, _ = _inputs(seq)
    model = _model("kinect_v1").train()
    with torch.no_grad():
        a = model(x, m, seed=3)
        b = model(x, m, seed=3)
        c = model(x, m, generator=torch.Generator().manual_seed(4))
    assert torch.equal(a.images, b.images) and torch.equal(a.frame_indices, b.frame_indices)
    assert not torch.equal(a.frame_indices, c.frame_indices)
    T = seq.num_frames
    seg = torch.arange(4)
    assert ((a.frame_indices[0] >= seg * T // 4) & (a.frame_indices[0] < (seg + 1) * T // 4 + 1)).all()
    model.eval()
    with torch.no_grad():
        e1, e2 = model(x, m, seed=1), model(x, m, seed=2)
    assert torch.equal(e1.images, e2.images)
    expected = torch.floor((torch.arange(4) + 0.5) * T / 4).long()
    assert torch.equal(e1.frame_indices[0], expected)


def test_padded_frames_are_never_sampled(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    x, m, _ = _inputs(seq)
    padded_x = torch.cat([x, torch.zeros(1, 30, 1, 20, 3)], dim=1)
    padded_m = torch.cat([m, torch.zeros(1, 30, 1, 20, dtype=torch.bool)], dim=1)
    model = _model("kinect_v1")
    with torch.no_grad():
        ref, out = model(x, m), model(padded_x, padded_m)
    assert torch.equal(ref.frame_indices, out.frame_indices)
    assert torch.allclose(ref.images, out.images, atol=1e-6)


def test_velocity_is_taken_on_the_original_frame_rate(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    x, m, _ = _inputs(seq)
    model = _model("kinect_v1", nfm_type="mlp")
    seen = {}
    model.nfm.register_forward_hook(lambda mod, args, out: seen.update(vel=args[1]))
    with torch.no_grad():
        out = model(x, m)
    T = seq.num_frames
    idx = out.frame_indices[0]
    nxt = torch.clamp(idx + 4, max=T - 1)
    joint_vel = x[0, nxt, 0] - x[0, idx, 0]  # (T', J, 3) metres: x(t + 4) - x(t) before sampling
    assert torch.allclose(seen["vel"][0, :, :20], joint_vel, atol=1e-6)
    assert torch.count_nonzero(seen["vel"][0, -1]) > 0 or idx[-1] == T - 1


# ---------------------------------------------------------------------- gradients
def _grad_setup():
    fmt = hs.SkeletonFormat(name="grad_chain", joints=("r", "a", "b", "c"), parents=(-1, 0, 1, 0), units="dm")
    g = torch.Generator().manual_seed(11)
    canon = torch.tensor([[0.0, 0.0, 30.0], [6.0, 5.0, 31.0], [10.0, -4.0, 32.0], [-7.0, -6.0, 30.0]],
                         dtype=torch.float64)
    x = (canon + torch.randn(1, 3, 1, 4, 3, generator=g, dtype=torch.float64)).requires_grad_()
    cfg = hs.DrActionConfig(format=fmt.to_dict(), image_size=8, num_frames=2, gaussians_per_bone=2, nfm_hidden=3,
                            color_mlp_hidden=3, learnable_skinning=True, camera="authors", backend="dense",
                            rest_pose=canon.tolist(), unit_scale=0.1, velocity_offset=1)
    torch.manual_seed(0)
    model = hs.DrActionModel(cfg).double().eval()
    ori = torch.from_numpy(Rotation.random(12, random_state=5).as_matrix()).view(1, 3, 1, 4, 3, 3)
    return model, x, ori


def test_gradcheck_through_the_whole_renderer():
    """float64 numeric vs analytic gradients w.r.t. joint positions and every parameter."""
    model, x, ori = _grad_setup()
    with torch.no_grad():  # move off the symmetric initial logits so that every path carries gradient
        model.skinning.skinning_logits.add_(0.2 * torch.randn_like(model.skinning.skinning_logits))
    names = [n for n, _ in model.named_parameters()]
    assert {"color.features", "color.depth_mix", "skinning.skinning_logits", "nfm.gru.weight_ih_l0",
            "nfm.head.bias"} <= set(names)
    params = [p.detach().clone().requires_grad_() for p in model.parameters()]

    def render(xx, *ps):
        out = torch.func.functional_call(model, dict(zip(names, ps)), (xx,), {"orientations": ori,
                                                                              "return_alpha": True})
        return out.images, out.alpha

    with torch.no_grad():
        _, alpha = render(x, *params)
    assert alpha.amax() > 0.3 and (alpha[0, :, 1:-1, 1:-1] > 0.01).float().mean() > 0.15
    assert torch.autograd.gradcheck(render, (x, *params), eps=1e-6, atol=1e-6, rtol=1e-4, fast_mode=True)


def test_gradients_reach_every_parameter_and_the_joints(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    x, m, _ = _inputs(seq)
    x.requires_grad_()
    model = _model("kinect_v1", learnable_skinning=True).train()
    out = model(x, m, seed=0)
    (out.images * torch.linspace(0, 1, SIZE)).sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad[0, out.frame_indices[0]].abs().sum() > 0


def test_gradient_checkpointing_gives_the_same_gradients(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    x, m, _ = _inputs(seq)
    grads = []
    for ckpt in (False, True):
        model = _model("kinect_v1").train()
        if ckpt:
            model.activation_checkpointing_enable()
            assert model.gradient_checkpointing
        model(x, m, seed=0).images.sum().backward()
        grads.append({n: p.grad.clone() for n, p in model.named_parameters()})
    for n in grads[0]:
        assert torch.allclose(grads[0][n], grads[1][n], atol=1e-6), n


# ---------------------------------------------------------------------- save / load / registration
def test_save_load_is_bit_exact_and_auto_classes_work(tmp_path, nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    x, m, _ = _inputs(seq)
    for kw in ({}, {"nfm_type": "mlp", "learnable_skinning": True, "views": ["front", "top"]}):
        model = _model("kinect_v1", **kw)
        folder = tmp_path / f"draction_{len(kw)}"
        model.save_pretrained(folder)
        assert (folder / "model.safetensors").is_file()
        loaded = AutoModel.from_pretrained(folder)
        assert type(loaded) is hs.DrActionModel
        assert type(AutoConfig.from_pretrained(folder)) is hs.DrActionConfig
        for (n1, p1), (n2, p2) in zip(model.state_dict().items(), loaded.state_dict().items()):
            assert n1 == n2 and torch.equal(p1, p2), n1
        with torch.no_grad():
            assert torch.equal(model(x, m).images, loaded.eval()(x, m).images)


def test_user_defined_format_round_trips(tmp_path):
    fmt = hs.SkeletonFormat(name="my_rig_not_registered", joints=("hips", "chest", "head", "l_hand", "r_hand"),
                            parents=(-1, 0, 1, 1, 1), up_axis="z", units="cm")
    cfg = hs.DrActionConfig(format=fmt, **TINY)
    assert cfg.format == fmt.to_dict() and cfg.num_gaussians == 5 + 10 * 4
    model = hs.DrActionModel(cfg).eval()
    model.save_pretrained(tmp_path)
    loaded = hs.DrActionModel.from_pretrained(tmp_path)
    assert loaded.config.skeleton_format == fmt
    assert json.loads((tmp_path / "config.json").read_text())["format"]["name"] == "my_rig_not_registered"
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, 5, 1, 5, 3, generator=g) * 30 + torch.tensor([0.0, 0.0, 100.0])
    with torch.no_grad():
        a = model(x, return_alpha=True)
        assert torch.equal(a.images, loaded.eval()(x).images)
    _assert_body_inside(a.alpha[0], "user format")


def test_parameter_count_matches_the_authors_at_their_setting():
    """Authors: about 2.3K trainable parameters (MLP NFM, Kinect v2)."""
    model = hs.DrActionModel(hs.DrActionConfig(format="kinect_v2", nfm_type="mlp"))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == 265 * 3 + (3 * 64 + 64 + 64 * 4 + 4) + 1 + (10 * 64 + 64 + 64 * 5 + 5) == 2341
    gru = hs.DrActionModel(hs.DrActionConfig(format="kinect_v2"))
    assert sum(p.numel() for p in gru.nfm.parameters()) == 3 * (10 * 64 + 64 * 64 + 2 * 64) + 64 * 5 + 5


def test_initial_gate_is_one_half_and_lambda_minus_half():
    model = _model("kinect_v2", nfm_type="mlp")
    assert model.nfm.output_layer.bias[4].item() == 0.0
    assert model.color.depth_mix.item() == -0.5


# ---------------------------------------------------------------------- errors
def test_wrong_joint_count_is_a_clear_error():
    model = _model("kinect_v2")
    with pytest.raises(SkeletonInputError, match=r"skeletons.*25.*found \(1, 4, 1, 20, 3\)"):
        model(torch.zeros(1, 4, 1, 20, 3))
    with pytest.raises(SkeletonInputError, match="skeleton_mask"):
        model(torch.zeros(1, 4, 1, 25, 3), torch.ones(1, 4, 25, dtype=torch.bool))
    with pytest.raises(SkeletonInputError, match="at least one observed joint"):
        model(torch.zeros(1, 4, 1, 25, 3), torch.zeros(1, 4, 1, 25, dtype=torch.bool))
    with pytest.raises(SkeletonInputError, match="orientations"):
        model(torch.zeros(1, 4, 1, 25, 3), orientations=torch.zeros(1, 4, 1, 25, 3))
    with pytest.raises(SkeletonInputError, match="torch.Tensor"):
        model(np.zeros((1, 4, 1, 25, 3)))


def test_gsplat_backend_on_cpu_raises_a_clear_error():
    model = _model("kinect_v1", backend="gsplat")
    with pytest.raises(HFSkeletonError, match="CUDA"):
        model(torch.rand(1, 3, 1, 20, 3) + torch.tensor([0.0, 0.0, 3.0]))


@pytest.mark.parametrize("bad", [
    {"nfm_type": "lstm"}, {"view": "below"}, {"views": []}, {"image_size": 4}, {"backend": "cuda"},
    {"format": "no_such_format"}, {"margin": 0.6}, {"background": [0, 0]}, {"camera": "orbit"},
    {"format": "openpose25", "view": "side"}, {"rest_pose": [[0, 0, 0]]}, {"gaussians_per_bone": -1},
])
def test_bad_config_values_are_rejected(bad):
    with pytest.raises(SkeletonInputError, match="DrActionConfig"):
        hs.DrActionConfig(**bad)


def test_render_clip_example_writes_a_frame_grid(tmp_path, nucla_dir):
    import importlib.util
    from pathlib import Path

    from PIL import Image

    script = Path(__file__).resolve().parents[3] / "examples" / "render_clip.py"
    spec = importlib.util.spec_from_file_location("render_clip_example", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main([str(nucla_dir / "a11_s02_e00_v01.json"), "-o", str(tmp_path / "grid.png"),
                       "--frames", "2", "--size", "56"])
    img = np.asarray(Image.open(out).convert("RGB"))
    assert img.shape[1] == 2 * 56
    frame = img[18:18 + 56, :56]  # first rendered frame under the title line
    assert (frame.max(-1) > 30).mean() > 0.01  # a body is drawn on the black background


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (gsplat's rasterizer is CUDA-only)")
def test_model_on_cuda_renders_the_same_with_gsplat_and_torch(nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a11_s02_e00_v01.json")
    x, m, _ = _inputs(seq)
    images = {}
    for backend in ("gsplat", "torch"):
        model = _model("kinect_v1", backend=backend, image_size=96).cuda()
        with torch.no_grad():
            images[backend] = model(x.cuda(), m.cuda()).images
    err = (images["gsplat"] - images["torch"]).abs()
    assert err.mean() < 1e-4 and err.max() < 5e-3
