"""VGMT processing: the VGMTProcessor is the box normalisation reconstruct uses."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from vgmt_fixtures import tiny_config

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.models.vgmt import normalize_motion


# ---------------------------------------------------------------------- processor
def test_vgmt_processor_is_the_box_normalisation_of_reconstruct(tmp_path):
    from transformers import AutoProcessor

    torch.manual_seed(13)
    model = hs.VGMTModel(tiny_config()).eval()
    proc = hs.models.vgmt.VGMTProcessor.from_config(model.config)
    rng = np.random.default_rng(2)
    pos = (rng.normal(size=(7, 1, 17, 3)) * 0.3 + [0.0, 1.0, 3.0]).astype(np.float32)
    seq = hs.SkeletonSequence(pos, fps=50, format="h36m17")
    batch = proc(skeletons=[seq])
    normed, _, _ = normalize_motion(torch.from_numpy(pos).permute(1, 0, 2, 3))
    assert torch.equal(batch["skeletons"], normed) and batch["skeleton_mask"].all()
    # reconstruct = the processor's normalisation, encode/decode, the processor's denormalisation
    out = model.reconstruct(seq)
    decoded = model.decode(model.encode(batch["skeletons"]), num_frames=7).detach()
    back = proc.denormalize(proc.normalize(seq).copy(positions=decoded.permute(1, 0, 2, 3).numpy()))
    np.testing.assert_array_equal(back.positions, out.positions)
    np.testing.assert_allclose(proc.denormalize(proc.normalize(seq)).positions, pos, atol=1e-5)
    # saved beside the model: processor_config.json + preprocessor_config.json; a model folder alone
    # (no processor files, like the embedded vgmt-cmu) takes the format from config.json
    model.save_pretrained(tmp_path / "model")
    alone = AutoProcessor.from_pretrained(tmp_path / "model")
    assert type(alone) is type(proc) and alone.skeleton_processor.to_dict() == proc.skeleton_processor.to_dict()
    proc.save_pretrained(tmp_path / "model")
    assert {"processor_config.json", "preprocessor_config.json"} <= {p.name for p in (tmp_path / "model").iterdir()}
    again = AutoProcessor.from_pretrained(tmp_path / "model")
    assert again.skeleton_processor.to_dict() == proc.skeleton_processor.to_dict()
    assert torch.equal(again(skeletons=seq)["skeletons"], batch["skeletons"])
    with pytest.raises(SkeletonInputError, match="format"):
        hs.models.vgmt.VGMTProcessor()
