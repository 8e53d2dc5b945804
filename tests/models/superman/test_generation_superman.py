"""Constrained decoding (``constrained_generate``): greedy decoding reads each run of the template's fixed tokens
in one forward and must give exactly the tokens of ``generate`` with ``MotionTemplateConstraint`` (the peer),
with one forward per code slot; sampling and video prompts go through ``generate`` itself.

A tiny Qwen2-VL Superman and a tiny Llama one (the SmolLM2 family) on task prompts from a real CMU walk."""

from __future__ import annotations

import pytest
import torch
from superman_fixtures import save_tiny_llama, tiny  # noqa: F401  (tiny: a pytest fixture)

import hf_skeleton as hs
from hf_skeleton.models.superman import MotionTemplateConstraint, constrained_generate
from hf_skeleton.testing import tiny_vgmt
from hf_skeleton.training.superman_tasks import SupermanTaskBuilder, cmu_to_h36m


@pytest.fixture(scope="module")
def walk(cmu_dir) -> torch.Tensor:
    """(16, 17, 3) metres: a real CMU walk, every second frame."""
    seq = cmu_to_h36m(hs.load_skeleton(cmu_dir / "02_01.bvh"))
    return torch.from_numpy(seq.positions[:32:2, 0])


@pytest.fixture(scope="module")
def tiny_llama(tmp_path_factory):
    torch.manual_seed(1)
    folder = save_tiny_llama(tmp_path_factory.mktemp("llama"), tied=True)
    model, proc = hs.SupermanForConditionalGeneration.from_causal_lm_pretrained(str(folder), tiny_vgmt())
    with torch.no_grad():  # motion rows away from zero, so that the codes the model picks differ
        for param in model.parameters():
            if param.requires_grad:
                param.normal_(0, 0.5)
    return model.eval(), proc


def _prompts(model, proc, walk):
    builder = SupermanTaskBuilder(model, proc)
    return [builder.predict(walk[:8], walk[8:]), builder.inbetween(walk)]


def _count_forwards(model):
    calls = []
    handle = model.register_forward_hook(lambda module, args, kwargs_out: calls.append(1))
    return calls, handle


@pytest.mark.parametrize("which", ["qwen2_vl", "llama"])
def test_greedy_gives_generates_tokens_with_one_forward_per_code(which, tiny, tiny_llama, walk):  # noqa: F811
    model, proc = tiny_llama if which == "llama" else tiny
    model.eval()
    for ex in _prompts(model, proc, walk):
        enc = proc(text=[ex["prompt"]])
        constraint = MotionTemplateConstraint(proc, ex["num_steps"], enc["input_ids"].shape[1])
        calls, handle = _count_forwards(model)
        try:
            with torch.no_grad():
                reference = model.generate(**enc, logits_processor=[constraint], max_new_tokens=len(constraint),
                                           do_sample=False)
                generate_forwards = len(calls)
                calls.clear()
                fast = constrained_generate(model, enc, constraint, do_sample=False)
        finally:
            handle.remove()
        assert torch.equal(fast, reference)
        assert len(calls) == sum(constraint.is_code) < generate_forwards
        codes = proc.parse_motion(proc.decode(fast[0, enc["input_ids"].shape[1]:], skip_special_tokens=True),
                                  num_steps=ex["num_steps"])
        assert len(set(codes.flatten().tolist())) > 1  # a test of which code, not of the template alone


def test_sampling_and_video_go_through_generate(tiny_llama, walk, monkeypatch):
    model, proc = tiny_llama
    ex = _prompts(model, proc, walk)[0]
    enc = proc(text=[ex["prompt"]])
    constraint = MotionTemplateConstraint(proc, ex["num_steps"], enc["input_ids"].shape[1])
    torch.manual_seed(3)
    sampled = constrained_generate(model, enc, constraint, do_sample=True, temperature=1.0)
    torch.manual_seed(3)
    with torch.no_grad():
        reference = model.generate(**enc, logits_processor=[constraint], max_new_tokens=len(constraint),
                                   do_sample=True, temperature=1.0)
    assert torch.equal(sampled, reference)

    seen = []
    monkeypatch.setattr(model, "generate", lambda **kw: seen.append(sorted(kw)) or kw["input_ids"])
    constrained_generate(model, {**enc, "pixel_values_videos": torch.zeros(1)}, constraint)
    constrained_generate(model, enc, constraint, num_beams=2)
    constrained_generate(model, enc, constraint, repetition_penalty=1.3)
    monkeypatch.setattr(model.generation_config, "no_repeat_ngram_size", 2)  # a model whose config reshapes
    constrained_generate(model, enc, constraint)
    assert len(seen) == 4 and all("logits_processor" in kw for kw in seen)
