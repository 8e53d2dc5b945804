"""VGMT modeling: config, codebook, gradients, visual stream, shapes, persistence, sequences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from transformers import AutoConfig, AutoModel, ResNetConfig
from vgmt_fixtures import (  # noqa: F401  (fixtures and builders)
    brute_force,
    tiny_config,
    tiny_vision_kw,
)

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.models.vgmt import HybridCodebook, VisualSkeletonAttention, normalize_motion


# ---------------------------------------------------------------------- config
def test_config_defaults_and_validation():
    c = hs.VGMTConfig()
    assert (c.num_codes, c.code_dim, c.beta_s, c.beta_v, c.ema_decay, c.reset_every) == (8192, 2048, 0.5, 0.5, 0.99, 20)
    assert c.num_joints == 17 and c.temporal_downsample == 2 and c.vision_config.model_type == "vitpose_backbone"
    assert (c.skeletal_dim, c.visual_dim) == (1024, 1024)
    for bad, field in (({"code_dim": 33}, "code_dim"), ({"temporal_downsample": 3}, "temporal_downsample"),
                       ({"token_grouping": "limb"}, "token_grouping"), ({"ema_decay": 1.0}, "ema_decay"),
                       ({"temporal_downsample": 8}, "temporal_downsample")):
        with pytest.raises(SkeletonInputError) as err:
            tiny_config(**bad)
        assert field in err.value.name
    with pytest.raises(hs.SkeletonFormatError, match="no_such_format"):
        tiny_config(format="no_such_format")
    fmt = hs.SkeletonFormat("my3", ["a", "b", "c"], [-1, 0, 1])
    c2 = tiny_config(format=fmt)
    assert c2.num_joints == 3 and isinstance(c2.format, dict)
    again = hs.VGMTConfig.from_dict(c2.to_dict())
    assert again.skeleton_format == fmt


def test_config_round_trip_with_vision(tmp_path):
    c = tiny_config(**tiny_vision_kw())
    c.save_pretrained(tmp_path)
    loaded = AutoConfig.from_pretrained(tmp_path)
    assert isinstance(loaded, hs.VGMTConfig)
    assert loaded.vision_config.model_type == "resnet" and loaded.vision_config.hidden_sizes == [8, 16, 16, 32]


# ---------------------------------------------------------------------- codebook
def test_codebook_argmin_hybrid_and_skeleton_only():
    torch.manual_seed(0)
    cb = HybridCodebook(50, skeletal_dim=6, visual_dim=5).eval()
    z_s, z_v = torch.randn(200, 6), torch.randn(200, 5)
    out = cb(z_s, z_v)
    expected = brute_force(z_s, cb.embed_s, z_v, cb.embed_v)
    assert torch.equal(out.codes, expected)
    torch.testing.assert_close(out.quantized, torch.cat([cb.embed_v[expected], cb.embed_s[expected]], 1))
    skel = cb(z_s)
    assert torch.equal(skel.codes, brute_force(z_s, cb.embed_s))
    assert (skel.codes != out.codes).any()  # the visual term matters
    # skeleton-only: the paired visual half of the chosen code fills the decoder input
    torch.testing.assert_close(skel.quantized[:, :5], cb.embed_v[skel.codes])
    torch.testing.assert_close(cb.lookup(skel.codes), skel.quantized)
    with pytest.raises(SkeletonInputError):
        cb.lookup(torch.tensor([50]))


def test_ema_update_matches_hand_computation():
    torch.manual_seed(1)
    K, decay = 6, 0.9
    cb = HybridCodebook(K, skeletal_dim=3, visual_dim=2, decay=decay, reset_every=0).train()
    cb.initialized.fill_(True)
    count0_s, sum0_s = torch.rand(K) + 0.5, torch.randn(K, 3)
    cb.ema_count_s.copy_(count0_s)
    cb.ema_sum_s.copy_(sum0_s)
    cb.embed_s.copy_(sum0_s / count0_s[:, None])
    v_before = (cb.embed_v.clone(), cb.ema_count_v.clone(), cb.ema_sum_v.clone())
    z = torch.randn(40, 3)
    valid = torch.rand(40) > 0.3
    out = cb(z, valid=valid)  # skeleton-only batch
    codes = brute_force(z, sum0_s / count0_s[:, None])
    assert torch.equal(out.codes, codes)
    exp_count, exp_sum = count0_s * decay, sum0_s * decay
    for i in range(40):
        if valid[i]:
            exp_count[codes[i]] += 1 - decay
            exp_sum[codes[i]] += (1 - decay) * z[i]
    torch.testing.assert_close(cb.ema_count_s, exp_count)
    torch.testing.assert_close(cb.ema_sum_s, exp_sum)
    torch.testing.assert_close(cb.embed_s, exp_sum / exp_count[:, None])
    # no visual input: the visual half's statistics are untouched
    for a, b in zip(v_before, (cb.embed_v, cb.ema_count_v, cb.ema_sum_v)):
        assert torch.equal(a, b)
    assert int(cb.num_updates) == 1 and cb.window_usage.sum() == valid.sum()


def test_dead_code_reset_replaces_exactly_the_unused_codes():
    torch.manual_seed(2)
    K = 8
    cb = HybridCodebook(K, skeletal_dim=2, visual_dim=2, decay=0.99, reset_every=2).train()
    cb.initialized.fill_(True)
    centres = torch.tensor([[10.0, 0.0], [0.0, 10.0], [-10.0, 0.0]])
    far = torch.full((K - 3, 2), 1000.0)
    for name in ("s", "v"):
        getattr(cb, f"embed_{name}").copy_(torch.cat([centres, far]))
        getattr(cb, f"ema_sum_{name}").copy_(torch.cat([centres, far]))
    z = centres.repeat(5, 1) + 0.1 * torch.randn(15, 2)
    zv = z.clone() + 0.01
    cb(z, zv)
    assert torch.equal(cb.embed_s[3:], far)  # step 1 of 2: nothing reset yet
    cb(z, zv)
    dead = cb.embed_s[3:]
    assert not torch.isclose(dead, far).any()
    for k in range(3, K):  # each reset code is an encoder output of the batch, both halves from one token
        row = torch.nonzero((z == cb.embed_s[k]).all(1)).flatten()
        assert row.numel() == 1
        assert torch.equal(cb.embed_v[k], zv[row[0]])
    assert (cb.embed_s[:3] - centres).abs().max() < 1.0  # used codes keep their EMA values
    assert cb.window_usage.sum() == 0 and torch.equal(cb.ema_count_s[3:], torch.ones(K - 3))


def test_codebook_initialises_from_data():
    torch.manual_seed(3)
    cb = HybridCodebook(4, skeletal_dim=3).train()
    z = torch.randn(10, 3) + 100.0
    cb(z)
    assert bool(cb.initialized)
    assert (cb.embed_s > 90).all()  # codes moved onto the data (random rows, then one EMA step)


# ---------------------------------------------------------------------- gradients
def test_straight_through_and_commitment_gradients():
    torch.manual_seed(4)
    model = hs.VGMTModel(tiny_config()).train()
    x = torch.rand(2, 8, 17, 3) * 2 - 1
    out = model(x)
    assert list(model.codebook.parameters()) == []  # codes move by EMA only
    out.recon_loss.backward(retain_graph=True)
    enc_grad = sum(p.grad.abs().sum() for p in model.skeleton_encoder.parameters())
    assert enc_grad > 0  # the reconstruction gradient crosses the quantiser
    model.zero_grad(set_to_none=True)
    out.commit_loss_s.backward()
    assert sum(p.grad.abs().sum() for p in model.skeleton_encoder.parameters()) > 0
    assert all(p.grad is None for p in model.decoder.parameters())


# ---------------------------------------------------------------------- visual stream
def test_visual_sampling_starts_on_the_joints():
    torch.manual_seed(5)
    att = VisualSkeletonAttention([8, 16], num_joints=3, num_heads=4, num_points=3)
    hs.VGMTModel._init_weights(type("M", (), {"config": tiny_config()})(), att)
    assert att.sampling_offsets.weight.abs().sum() == 0
    maps = [torch.randn(2, 8, 6, 10), torch.randn(2, 16, 3, 5)]
    # points at pixel centres of the coarse level: (col, row) -> ((2 col + 1) / W - 1, (2 row + 1) / H - 1)
    cells = [(0, 0), (4, 2), (2, 1)]
    pts = torch.tensor([[(2 * c + 1) / 5 - 1, (2 * r + 1) / 3 - 1] for c, r in cells]).expand(2, 3, 2)
    out = att(maps, pts)
    assert out.shape == (2, 3, 24)
    value = att.value_proj[1](maps[1])
    for j, (c, r) in enumerate(cells):
        torch.testing.assert_close(out[:, j, 8:], value[:, :, r, c])
    # fine level: the same point, read by bilinear interpolation as grid_sample does
    ref = F.grid_sample(att.value_proj[0](maps[0]), pts[:, :, None], align_corners=False)[..., 0]
    torch.testing.assert_close(out[:, :, :8], ref.transpose(1, 2))


def test_fused_model_gradients_and_frozen_backbone():
    torch.manual_seed(6)
    model = hs.VGMTModel(tiny_config(**tiny_vision_kw())).train()
    assert not model.vision_backbone.training
    x = torch.rand(2, 6, 17, 3) * 2 - 1
    out = model(x, pixel_values=torch.randn(2, 6, 3, 48, 48))
    assert out.commit_loss_v > 0
    out.loss.backward()
    assert all(p.grad is None for p in model.vision_backbone.parameters())
    assert model.visual_sampler.sampling_offsets.weight.grad.abs().sum() > 0
    assert sum(p.grad.abs().sum() for p in model.visual_encoder.parameters()) > 0
    model.eval()
    # RGB-free tokenisation of the fused model: the skeletal distance alone picks the codes
    codes = model.encode(x)
    z_s = model.skeleton_encoder(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1).reshape(-1, 16)
    assert torch.equal(codes.flatten(), brute_force(z_s, model.codebook.embed_s))
    assert model.decode(codes).shape == (2, 6, 17, 3)
    with pytest.raises(SkeletonInputError, match="pixel_values"):
        model(x, pixel_values=torch.randn(2, 5, 3, 48, 48))


def test_vitpose_backbone_works():
    vc = AutoConfig.for_model("vitpose_backbone", hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                              image_size=[32, 24], patch_size=[8, 8], out_indices=[1, 2])
    model = hs.VGMTModel(tiny_config(use_vision=True, vision_config=vc, num_heads=4, num_points=2, num_levels=2))
    out = model(torch.rand(1, 4, 17, 3) * 2 - 1, pixel_values=torch.randn(1, 4, 3, 32, 24))
    assert torch.isfinite(out.loss) and out.codes.shape == (1, 2, 17)


# ---------------------------------------------------------------------- shapes and inputs
@pytest.mark.parametrize("fmt,T,td,grouping", [("h36m17", 16, 2, "joint"), ("kinect_v2", 9, 2, "joint"),
                                               ("smpl22", 7, 4, "joint"), ("kinect_v2", 11, 2, "part"),
                                               ("smpl22", 1, 2, "joint")])
def test_encode_decode_shapes(fmt, T, td, grouping):
    torch.manual_seed(7)
    model = hs.VGMTModel(tiny_config(format=fmt, temporal_downsample=td, token_grouping=grouping)).eval()
    J = hs.get_format(fmt).num_joints
    x = torch.rand(2, T, J, 3) * 2 - 1
    codes = model.encode(x)
    G = J if grouping == "joint" else len(hs.get_format(fmt).parts)
    Tq = -(-T // td)
    assert codes.shape == (2, Tq, G) and codes.dtype == torch.long
    assert model.decode(codes).shape == (2, Tq * td, J, 3)
    assert model.decode(codes, num_frames=T).shape == (2, T, J, 3)
    out = model(x)
    assert out.reconstruction.shape == (2, T, J, 3) and torch.equal(out.codes, codes)
    torch.testing.assert_close(out.reconstruction, model.decode(codes, num_frames=T))


def test_bad_inputs_raise_typed_errors():
    model = hs.VGMTModel(tiny_config())
    with pytest.raises(SkeletonInputError, match="skeletons"):
        model.encode(torch.zeros(1, 4, 25, 3))
    with pytest.raises(SkeletonInputError, match="use_vision"):
        model.encode(torch.zeros(1, 4, 17, 3), pixel_values=torch.zeros(1, 4, 3, 32, 32))
    with pytest.raises(SkeletonInputError, match="skeleton_mask"):
        model(torch.zeros(1, 4, 17, 3), skeleton_mask=torch.ones(1, 4, 16, dtype=torch.bool))
    with pytest.raises(SkeletonInputError, match="codes"):
        model.decode(torch.full((1, 2, 17), 99))
    with pytest.raises(SkeletonInputError, match="format"):
        model.reconstruct(hs.SkeletonSequence(np.zeros((4, 25, 3)), format="kinect_v2"))


def test_mask_limits_loss_and_statistics():
    torch.manual_seed(8)
    model = hs.VGMTModel(tiny_config()).train()
    x = torch.rand(1, 4, 17, 3) * 2 - 1
    mask = torch.ones(1, 4, 17, dtype=torch.bool)
    mask[..., 5] = False
    out = model(x, skeleton_mask=mask)
    err = (out.reconstruction - x).norm(dim=-1)
    torch.testing.assert_close(out.recon_loss, err[mask].mean())
    assert model.codebook.window_usage.sum() == 2 * 16  # 2 steps x 16 observed joints


# ---------------------------------------------------------------------- persistence and sequences
def test_save_load_bit_exact(tmp_path):
    torch.manual_seed(9)
    model = hs.VGMTModel(tiny_config(**tiny_vision_kw())).train()
    x, pv = torch.rand(2, 4, 17, 3) * 2 - 1, torch.randn(2, 4, 3, 32, 32)
    model(x, pixel_values=pv)  # data init + one EMA step: non-trivial buffers
    model.eval()
    model.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists()
    loaded = AutoModel.from_pretrained(tmp_path)
    assert isinstance(loaded, hs.VGMTModel) and not loaded.training
    a, b = model.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert bool(loaded.codebook.initialized) and int(loaded.codebook.num_updates) == 1
    assert not any(p.requires_grad for p in loaded.vision_backbone.parameters())
    assert torch.equal(model.encode(x, pv), loaded.encode(x, pv))
    # weights are bit-exact; outputs may differ in the last ulp because oneDNN picks kernels by the
    # memory alignment of the (memory-mapped) loaded tensors
    torch.testing.assert_close(model(x, pixel_values=pv).reconstruction, loaded(x, pixel_values=pv).reconstruction,
                               rtol=0, atol=1e-5)


def test_normalize_motion_inverts():
    x = torch.randn(3, 5, 17, 3) * 4 + 7
    normed, centre, scale = normalize_motion(x)
    assert normed.abs().max() <= 1 + 1e-6 and torch.isclose(normed.abs().amax(dim=(1, 2, 3)), torch.ones(3)).all()
    torch.testing.assert_close(normed * scale + centre, x)


def test_reconstruct_sequence_keeps_format_units_and_frames():
    torch.manual_seed(10)
    model = hs.VGMTModel(tiny_config()).eval()
    rng = np.random.default_rng(0)
    pos = rng.normal(size=(7, 2, 17, 3)).astype(np.float32) * 0.3 + [0.0, 1.0, 3.0]
    seq = hs.SkeletonSequence(pos, fps=50, format="h36m17", meta={"label": "x"})
    out = model.reconstruct(seq)
    assert out.positions.shape == pos.shape and out.format == seq.format and out.fps == 50
    assert out.meta["vgmt_codes"].shape == (2, 4, 17)
    # reconstruct = decode(encode(normalised)) mapped back into the input's coordinates
    x = torch.from_numpy(pos).permute(1, 0, 2, 3)
    normed, centre, scale = normalize_motion(x)
    expected = model.decode(model.encode(normed), num_frames=7) * scale + centre
    np.testing.assert_allclose(out.positions, expected.permute(1, 0, 2, 3).detach().numpy(), atol=1e-5)
    # translation of the input translates the output (normalisation is undone exactly)
    shifted = model.reconstruct(seq.copy(positions=pos + np.float32(5.0)))
    np.testing.assert_allclose(shifted.positions, out.positions + 5.0, atol=1e-4)


def test_skeleton_only_dropout_and_pretrained_backbone(tmp_path):
    from transformers import AutoBackbone

    from hf_skeleton.errors import CheckpointError

    torch.manual_seed(11)
    kw = tiny_vision_kw()
    model = hs.VGMTModel(tiny_config(skeleton_only_prob=1.0, **kw)).train()
    x, pv = torch.rand(1, 4, 17, 3) * 2 - 1, torch.randn(1, 4, 3, 32, 32)
    assert model(x, pixel_values=pv).commit_loss_v == 0  # the visual term was dropped for this batch
    # pretrained backbone weights replace the random ones and stay frozen
    backbone = AutoBackbone.from_config(kw["vision_config"])
    backbone.save_pretrained(tmp_path / "bb")
    model.load_vision_backbone(str(tmp_path / "bb"))
    ref = backbone.state_dict()
    assert all(torch.equal(v, ref[k]) for k, v in model.vision_backbone.state_dict().items())
    assert not any(p.requires_grad for p in model.vision_backbone.parameters())
    other = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 48], depths=[1, 1, 1, 1],
                         out_features=["stage1", "stage2", "stage3", "stage4"])
    AutoBackbone.from_config(other).save_pretrained(tmp_path / "other")
    with pytest.raises(CheckpointError, match="channels"):
        model.load_vision_backbone(str(tmp_path / "other"))


def test_reconstruct_long_clip_in_windows():
    torch.manual_seed(12)
    model = hs.VGMTModel(tiny_config()).eval()
    rng = np.random.default_rng(1)
    # a walk: the clip's box grows with time, each window keeps its own box
    pos = rng.normal(size=(20, 1, 17, 3)).astype(np.float32) * 0.2 + np.linspace(0, 6, 20)[:, None, None, None]
    seq = hs.SkeletonSequence(pos.astype(np.float32), fps=50, format="h36m17")
    out = model.reconstruct(seq, window=8)
    assert out.positions.shape == pos.shape and len(out.meta["vgmt_codes"]) == 3
    for i, start in enumerate((0, 8, 16)):
        part = model.reconstruct(seq.copy(positions=pos[start:start + 8], mask=seq.mask[start:start + 8]))
        np.testing.assert_array_equal(out.positions[start:start + 8], part.positions)
        np.testing.assert_array_equal(out.meta["vgmt_codes"][i], part.meta["vgmt_codes"])
    assert np.array_equal(model.reconstruct(seq, window=40).positions, model.reconstruct(seq).positions)
    with pytest.raises(hs.SkeletonInputError, match="window"):
        model.reconstruct(seq, window=0)
