"""Every model loads and runs with ``from_pretrained(..., dtype=torch.bfloat16)`` (issue 20), on real clips.

VGMT's codebook keeps its EMA state in float32 whatever the model's dtype (bfloat16 sums of many
assignments would drop the updates); it used to fail with a dtype mismatch."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoModelForImageTextToText

import hf_skeleton as hs
from hf_skeleton.testing import tiny_draction, tiny_llamo, tiny_skeleton_llm, tiny_superman, tiny_vgmt
from hf_skeleton.training.superman_tasks import cmu_to_h36m


@pytest.fixture(scope="module")
def nucla_clip(nucla_dir):
    return hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")


@pytest.fixture(scope="module")
def cmu_motion(cmu_dir):
    seq = cmu_to_h36m(hs.load_skeleton(cmu_dir / "02_01.bvh"))
    return torch.from_numpy(seq.positions[:64:4, 0]).float()[None]  # (1, 16, 17, 3) metres


def _reload(model, tmp_path, auto=AutoModel):
    model.save_pretrained(tmp_path / "m")
    return auto.from_pretrained(tmp_path / "m", dtype=torch.bfloat16).eval()


def test_vgmt_in_bfloat16_keeps_a_float32_codebook(cmu_motion, tmp_path):
    torch.manual_seed(0)
    model = tiny_vgmt().train()
    for _ in range(3):  # initialise the codebook from data and run a few EMA updates
        model(cmu_motion)
    model.eval()
    with torch.no_grad():
        ref = model(cmu_motion)
    bf16 = _reload(model, tmp_path)
    book = bf16.codebook if hasattr(bf16, "codebook") else next(m for m in bf16.modules()
                                                                 if type(m).__name__ == "HybridCodebook")
    assert next(bf16.parameters()).dtype == torch.bfloat16
    assert all(b.dtype == torch.float32 for b in book.buffers() if b.is_floating_point())
    with torch.no_grad():
        out = bf16(cmu_motion.to(torch.bfloat16))
    assert out.reconstruction.dtype == torch.bfloat16 and torch.isfinite(out.reconstruction.float()).all()
    agree = (out.codes == ref.codes).float().mean()
    assert agree >= 0.8, agree  # bf16 encoder outputs move a few tokens across code boundaries
    before = book.ema_sum_s.clone()
    bf16.train()(cmu_motion.to(torch.bfloat16))  # a training step's EMA update in a bfloat16 model
    assert book.ema_sum_s.dtype == torch.float32 and not torch.equal(book.ema_sum_s, before)
    model.to(torch.bfloat16)  # .to() moves the layers, not the codebook state
    assert all(b.dtype == torch.float32 for n, b in model.named_buffers() if "codebook" in n and b.is_floating_point())


@pytest.mark.parametrize("name", ["skeleton_llm", "llamo", "superman"])
def test_language_models_in_bfloat16(name, nucla_clip, cmu_motion, tmp_path):
    torch.manual_seed(0)
    if name == "skeleton_llm":
        model, proc = tiny_skeleton_llm("qwen2_5_vl", format="kinect_v1", num_frames=2, image_size=56)
        inputs = proc(skeletons=[nucla_clip], text=["What is the person doing?"])
    elif name == "llamo":
        model, proc = tiny_llamo(use_video=False)
        inputs = proc(skeletons=[nucla_clip], text=["What is the person doing?"])
    else:
        model, proc = tiny_superman()
        inputs = proc(text=["Predict the motion."], return_tensors="pt")
    bf16 = _reload(model, tmp_path, AutoModelForImageTextToText)
    assert bf16.get_input_embeddings().weight.dtype == torch.bfloat16
    with torch.no_grad():
        out = bf16(**inputs)
        generated = bf16.generate(**inputs, max_new_tokens=2, do_sample=False)
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.logits.float()).all()
    assert generated.shape[1] == inputs["input_ids"].shape[1] + 2


def test_draction_in_bfloat16_renders(nucla_clip, tmp_path):
    torch.manual_seed(0)
    model = tiny_draction(format="kinect_v1")
    bf16 = _reload(model, tmp_path)
    skeletons = torch.from_numpy(nucla_clip.positions[None, :8]).float()
    with torch.no_grad():
        frames = bf16(skeletons=skeletons).images
    assert frames.shape[:2] == (1, 2) and torch.isfinite(frames.float()).all()
