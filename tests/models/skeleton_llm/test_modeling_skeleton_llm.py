"""SkeletonLLM modeling: gradients into the renderer, freezing, generation, save/load, recognition scoring."""

from __future__ import annotations

import json

import pytest
import torch
from skeleton_llm_fixtures import (  # noqa: F401  (fixtures and builders)
    FAMILIES,
    assert_generate_equals_greedy,
    clips,
    examples,
    make,
    tokenizer,
)
from transformers import AutoModel, AutoModelForImageTextToText, AutoProcessor

import hf_skeleton as hs
from hf_skeleton import SkeletonInputError
from hf_skeleton.evaluation.recognition import (
    answer_log_likelihood,
    predict_labels,
    recognition_accuracy,
    score_candidate_labels,
)
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.testing import tiny_llava_config, tiny_qwen2_5_vl_config
from hf_skeleton.training.collators import SkeletonSFTCollator


# ---------------------------------------------------------------------- gradients and freezing
@pytest.mark.parametrize("family", list(FAMILIES))
def test_loss_reaches_renderer(tokenizer, family):
    model, proc = make(tokenizer, family)
    batch = SkeletonSFTCollator(proc)(examples())
    out = model(**batch)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = {n: p.grad for n, p in model.model.renderer.named_parameters()}
    assert grads and all(g is not None for g in grads.values())
    assert sum(g.abs().sum().item() for g in grads.values()) > 0
    assert any(g.abs().sum() > 0 for n, g in grads.items() if n.startswith("nfm."))


@pytest.mark.parametrize("family", list(FAMILIES))
def test_frozen_vlm_only_renderer_and_projector_change(tokenizer, family):
    model, proc = make(tokenizer, family)
    model.set_trainable(["renderer", "projector"])
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model(**SkeletonSFTCollator(proc)(examples())).loss.backward()
    opt.step()
    groups = {n: g for g, params in model.parameter_groups().items() for n, _ in params}
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and {groups[n] for n in changed} == {"renderer", "projector"}


def test_qwen_video_mode_trains_and_matches_token_count(tokenizer):
    model, proc = make(tokenizer, frames_as="video", num_frames=3)
    batch = SkeletonSFTCollator(proc)(examples())
    vid = model.config.video_token_id
    assert (batch["input_ids"] == vid).sum(-1).tolist() == [2 * 4] * 2  # ceil(3 / 2) temporal groups x 4
    out = model(**batch)
    out.loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.model.renderer.parameters())


# ---------------------------------------------------------------------- generation
@pytest.mark.parametrize("family", ["qwen2_5_vl", "internvl"])
def test_generate_equals_greedy_without_cache(tokenizer, family):
    model, proc = make(tokenizer, family)
    model.eval()
    inputs = proc(skeletons=clips(), text=["what?", "describe the motion ."])
    inputs["attention_mask"][1, :0] = 0
    assert_generate_equals_greedy(model, inputs)


# ---------------------------------------------------------------------- save / load
def test_save_load_bit_exact_with_auto_classes(tokenizer, tmp_path):
    model, proc = make(tokenizer)
    model.eval()
    inputs = proc(skeletons=clips(), text=["what?", "describe the motion ."])
    with torch.no_grad():
        ref = model(**inputs).logits
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "skeleton_llm" and config["vlm_config"]["model_type"] == "qwen2_5_vl"
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    loaded_proc = AutoProcessor.from_pretrained(tmp_path)
    assert type(loaded) is hs.SkeletonLLMForConditionalGeneration
    assert type(loaded_proc) is hs.SkeletonLLMProcessor
    state, loaded_state = model.state_dict(), loaded.state_dict()
    assert state.keys() == loaded_state.keys()
    assert all(torch.equal(state[k], loaded_state[k]) for k in state)
    again = loaded_proc(skeletons=clips(), text=["what?", "describe the motion ."])
    assert torch.equal(again["input_ids"], inputs["input_ids"])
    with torch.no_grad():
        assert torch.equal(loaded(**again).logits, ref)
    backbone = AutoModel.from_pretrained(tmp_path)
    assert type(backbone) is hs.SkeletonLLMModel


def test_from_backbone_pretrained_keeps_vlm_weights(tokenizer, tmp_path):
    from transformers import Qwen2_5_VLForConditionalGeneration

    torch.manual_seed(3)
    vlm = Qwen2_5_VLForConditionalGeneration(tiny_qwen2_5_vl_config(tokenizer)).eval()
    vlm.save_pretrained(tmp_path / "vlm")
    draction = hs.DrActionConfig(format="kinect_v1", num_frames=2, image_size=56, backend="torch")
    model = hs.SkeletonLLMForConditionalGeneration.from_backbone_pretrained(str(tmp_path / "vlm"),
                                                                            draction_config=draction).eval()
    assert model.config.draction_config.format == "kinect_v1"
    ids = tokenizer(["what action is the person doing ?"], return_tensors="pt")
    with torch.no_grad():
        assert torch.equal(model(**ids).logits, vlm(**ids).logits)
    proc = hs.SkeletonLLMProcessor.from_model_config(model.config, tokenizer)
    seq = synthetic_clip("walk", 6).to_format("kinect_v1")
    out = model(**proc(skeletons=[seq], text=["what?"]))
    assert out.logits.shape[-1] == len(tokenizer)


def test_config_and_model_errors(tokenizer):
    with pytest.raises(SkeletonInputError, match="frames_as"):
        hs.SkeletonLLMConfig(hs.DrActionConfig(num_frames=2, image_size=56), tiny_llava_config(tokenizer),
                             frames_as="video")
    with pytest.raises(SkeletonInputError, match="model_type"):
        from transformers import AutoConfig

        hs.SkeletonLLMConfig(vlm_config=AutoConfig.for_model("gpt2"))
    model, proc = make(tokenizer)
    batch = proc(skeletons=clips(), text=["a", "b"])
    with pytest.raises(SkeletonInputError, match="joints"):
        model(input_ids=batch["input_ids"], skeletons=torch.zeros(2, 4, 1, 20, 3))
    with pytest.raises(SkeletonInputError, match="clips"):
        model(input_ids=batch["input_ids"], skeletons=batch["skeletons"][:1], skeleton_mask=batch["skeleton_mask"][:1])


# ---------------------------------------------------------------------- recognition scoring
def test_score_candidate_labels_equals_per_pair_loss(tokenizer):
    model, proc = make(tokenizer)
    model.eval()
    labels = ["walk around", "hand waving", "sit down"]
    seqs = clips()
    scores = score_candidate_labels(model, proc, seqs, "what action is the person doing ?", labels, batch_size=4)
    assert scores.shape == (2, 3) and torch.isfinite(scores).all()
    collator = SkeletonSFTCollator(proc)
    for i, seq in enumerate(seqs):
        for j, label in enumerate(labels):
            batch = collator([{"skeleton": seq, "prompt": "what action is the person doing ?", "answer": label}])
            with torch.no_grad():
                out = model(**batch)
            n = (batch["labels"][:, 1:] != -100).sum()
            assert abs(scores[i, j].item() + out.loss.item() * n.item()) < 1e-3
    normed = score_candidate_labels(model, proc, seqs, "what action is the person doing ?", labels,
                                    batch_size=5, length_normalize=True)
    assert not torch.allclose(normed, scores)
    assert predict_labels(scores, labels)[0] == labels[scores[0].argmax()]
    with pytest.raises(SkeletonInputError, match="candidate_labels"):
        score_candidate_labels(model, proc, seqs, "q", [])


def test_answer_log_likelihood_by_hand():
    logits = torch.zeros(1, 3, 4)
    logits[0, 0, 2] = 2.0
    labels = torch.tensor([[-100, 2, 1]])
    lp0 = torch.log_softmax(logits[0, 0], -1)[2]
    lp1 = torch.log_softmax(logits[0, 1], -1)[1]
    assert torch.allclose(answer_log_likelihood(logits, labels), (lp0 + lp1)[None])
    assert torch.allclose(answer_log_likelihood(logits, labels, length_normalize=True), ((lp0 + lp1) / 2)[None])


def test_recognition_accuracy_strict_and_lenient():
    out = recognition_accuracy(["Walk around", "the person is sitting down", "sit down", "I think: sit  down."],
                               ["walk around", "sit down", "sit down", "sit down"])
    assert out["strict"] == pytest.approx(1 / 4)  # exact label only
    assert out["lenient"] == pytest.approx(3 / 4)  # case-insensitive substring ("sitting down" is not)
    with pytest.raises(SkeletonInputError):
        recognition_accuracy(["a"], ["a", "b"])
