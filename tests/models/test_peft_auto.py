"""PEFT's Auto classes reload LoRA adapters trained on our models (issue 20).

A user wraps a saved model with ``peft.get_peft_model(..., LoraConfig(task_type="CAUSAL_LM"))`` (what TRL
does), saves the adapter, and reloads it with ``AutoPeftModelForCausalLM.from_pretrained(adapter_dir)``:
PEFT builds the base with ``AutoModelForCausalLM`` from the adapter config's base path."""

from __future__ import annotations

import pytest
import torch
from peft import AutoPeftModelForCausalLM, LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

import hf_skeleton as hs
from hf_skeleton.testing import tiny_llamo, tiny_skeleton_llm, tiny_superman

BUILDERS = {
    "skeleton_llm": lambda: tiny_skeleton_llm("qwen2_5_vl", format="kinect_v1"),
    "llamo": lambda: tiny_llamo(use_video=False),
    "superman": tiny_superman,
}


@pytest.mark.parametrize("name", list(BUILDERS))
def test_auto_peft_model_for_causal_lm_reloads_our_adapters(name, nucla_dir, tmp_path):
    torch.manual_seed(0)
    model, proc = BUILDERS[name]()
    model.save_pretrained(tmp_path / "base")
    base = AutoModelForImageTextToText.from_pretrained(tmp_path / "base")
    assert type(AutoModelForCausalLM.from_pretrained(tmp_path / "base")) is type(base)
    peft_model = get_peft_model(base, LoraConfig(task_type="CAUSAL_LM", r=4, lora_alpha=8,
                                                 target_modules=["q_proj", "v_proj"]))
    with torch.no_grad():  # a "trained" adapter: B is zero at initialisation
        for n, p in peft_model.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.1)
    peft_model.save_pretrained(tmp_path / "adapter")
    if name == "superman":
        inputs = proc(text=["Predict the motion."], return_tensors="pt")
    else:
        inputs = proc(skeletons=[hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")], text=["What happens?"])
    reloaded = AutoPeftModelForCausalLM.from_pretrained(tmp_path / "adapter").eval()
    with torch.no_grad():
        expected = peft_model.eval()(**inputs).logits
        without = peft_model.get_base_model()
        with peft_model.disable_adapter():
            plain = without(**inputs).logits
        got = reloaded(**inputs).logits
    torch.testing.assert_close(got, expected)
    assert not torch.allclose(got, plain)  # the adapter is in effect
