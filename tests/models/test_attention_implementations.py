"""``attn_implementation="sdpa"`` loads every model and gives the eager logits (issue 20).

SkeletonLLM used to refuse it: its DrAction renderer (no attention layers) declared no SDPA support."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel, AutoModelForImageTextToText

import hf_skeleton as hs
from hf_skeleton.testing import tiny_draction, tiny_llamo, tiny_skeleton_llm, tiny_superman

BUILDERS = {
    "skeleton_llm-qwen2_5_vl": lambda: tiny_skeleton_llm("qwen2_5_vl", format="kinect_v1"),
    "skeleton_llm-llava": lambda: tiny_skeleton_llm("llava", format="kinect_v1"),
    "llamo": lambda: tiny_llamo(use_video=False),
    "superman": tiny_superman,
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_sdpa_loads_and_matches_eager(name, nucla_dir, tmp_path):
    torch.manual_seed(0)
    model, proc = BUILDERS[name]()
    model.save_pretrained(tmp_path)
    if name == "superman":
        inputs = proc(text=["Predict the motion."], return_tensors="pt")
    else:
        inputs = proc(skeletons=[hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")], text=["What happens?"])
    logits = {}
    for impl in ("eager", "sdpa"):
        loaded = AutoModelForImageTextToText.from_pretrained(tmp_path, attn_implementation=impl).eval()
        assert loaded.config.get_text_config()._attn_implementation == impl
        with torch.no_grad():
            logits[impl] = loaded(**inputs).logits
    torch.testing.assert_close(logits["sdpa"], logits["eager"], rtol=1e-4, atol=1e-4)


def test_draction_accepts_any_attention_implementation(tmp_path):
    tiny_draction().save_pretrained(tmp_path)
    for impl in ("eager", "sdpa"):
        assert AutoModel.from_pretrained(tmp_path, attn_implementation=impl) is not None
