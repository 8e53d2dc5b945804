"""The language-model head SkeletonLLM, LLaMo and Superman share, and their typed outputs."""

import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.models.lm_head import SkeletonLMHeadMixin
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config, tiny_superman


@pytest.fixture(scope="module")
def skeleton_llm():
    tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>",))
    torch.manual_seed(0)
    config = hs.SkeletonLLMConfig(hs.DrActionConfig(format="kinect_v2", num_frames=2, image_size=56, backend="torch"),
                                  tiny_qwen2_5_vl_config(tok))
    model = hs.SkeletonLLMForConditionalGeneration(config).eval()
    proc = hs.SkeletonLLMProcessor.from_model_config(config, tok)
    batch = proc(skeletons=[synthetic_clip("walk", 12), synthetic_clip("wave", 9)],
                 text=["<skeleton> what?", "<skeleton> describe the motion ."], return_tensors="pt", padding=True)
    return model, batch


def test_the_three_heads_share_one_base():
    for cls in (hs.SkeletonLLMForConditionalGeneration, hs.LlamoForConditionalGeneration,
                hs.SupermanForConditionalGeneration):
        assert issubclass(cls, SkeletonLMHeadMixin)
        assert cls.get_output_embeddings is SkeletonLMHeadMixin.get_output_embeddings


def test_skeleton_llm_output_keeps_the_rendered_frames(skeleton_llm):
    model, batch = skeleton_llm
    with torch.no_grad():
        out = model(**batch, labels=batch["input_ids"])
        frames = model.model.render(batch["skeletons"], batch["skeleton_mask"])
    assert isinstance(out, hs.models.skeleton_llm.SkeletonLLMCausalLMOutputWithPast)
    assert out.rendered_frames.shape == (2, 2, 3, 56, 56)
    torch.testing.assert_close(out.rendered_frames, frames, atol=0, rtol=0)
    assert out.rope_deltas.shape == (2, 1) and torch.isfinite(out.loss)


def test_rendered_frames_carry_the_renderer_gradient(skeleton_llm):
    model, batch = skeleton_llm
    out = model(**batch, labels=batch["input_ids"])
    out.rendered_frames.sum().backward()
    grads = [p.grad for p in model.model.renderer.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    model.zero_grad()


def test_logits_to_keep_keeps_the_last_positions(skeleton_llm):
    model, batch = skeleton_llm
    with torch.no_grad():
        full = model(**batch).logits
        last = model(**batch, logits_to_keep=1).logits
    torch.testing.assert_close(last, full[:, -1:], atol=1e-5, rtol=1e-5)


def test_superman_outputs_are_typed():
    torch.manual_seed(0)
    model, proc = tiny_superman()
    enc = proc(text=["Predict the motion."])
    with torch.no_grad():
        out = model(**enc, labels=enc["input_ids"])
    assert type(out).__name__ == "SupermanCausalLMOutputWithPast"
    assert out.logits.shape[:2] == enc["input_ids"].shape and torch.isfinite(out.loss)
    with pytest.raises(hs.SkeletonInputError, match="labels"):
        model(**enc, labels=enc["input_ids"][:, :-1])


def test_loss_at_label_positions_only_equals_the_full_loss(skeleton_llm):
    """At real sizes the full logits of a clip are 152k x 3.1k values: keeping only the positions that
    predict a label gives the same loss (the kept logits predict the shifted labels)."""
    from hf_skeleton.models.lm_head import label_positions

    model, batch = skeleton_llm
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    labels[:, :-3] = -100  # a loss on the last 3 columns only (padding stays -100)
    labels[1, -1] = -100
    mask = label_positions(labels)
    assert mask.shape == labels.shape and not mask[:, -1].any()
    assert torch.equal(mask[:, :-1], labels[:, 1:] != -100)
    with torch.no_grad():
        full = model(**batch, labels=labels)
        kept = model(**batch, labels=labels, logits_to_keep=mask)
        last = model(**batch, labels=labels, logits_to_keep=4)  # an int keeps the last 4: the same labels
        index = model(**batch, labels=labels, logits_to_keep=mask.any(0).nonzero()[:, 0])  # 1D positions
    n = int(mask.sum())
    assert kept.logits.shape == (n, full.logits.shape[-1]) and n > 0
    torch.testing.assert_close(kept.logits, full.logits[mask], atol=1e-5, rtol=1e-5)
    for out in (kept, last, index):
        torch.testing.assert_close(out.loss, full.loss, atol=1e-6, rtol=1e-6)
    assert full.loss > 0
