"""The visual pathway works end to end: a tiny SkeletonLLM trained from scratch tells real clips of two
actions apart only through the rendered frames (same prompt, answers differ only by class).

Thin Gaussians at 56 px give a tiny random ViT too weak a signal to learn from in a CPU budget
(BENCHMARKS.md, SkeletonLLM); at 112 px with thicker Gaussians it separates the clips.
"""

import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config
from hf_skeleton.training.collators import SkeletonSFTCollator


@pytest.mark.slow
def test_tiny_skeleton_llm_learns_to_read_the_frames(nucla_dir):
    torch.manual_seed(0)
    torch.set_num_threads(2)
    names = ["a05_s01_e00_v01", "a05_s02_e00_v01", "a04_s01_e00_v01", "a04_s02_e00_v01"]
    clips = [hs.load_skeleton(nucla_dir / f"{n}.json") for n in names]
    labels = ["sit down", "sit down", "walk around", "walk around"]
    tok = build_tiny_tokenizer(extra_texts=labels, extra_special_tokens=[*QWEN_VISION_TOKENS, "<skeleton>"])
    draction = hs.DrActionConfig(format="kinect_v1", num_frames=4, image_size=112, backend="torch",
                                 joint_scale_base=0.2, bone_scale_base=0.15, joint_scale_clamp=(0.02, 0.4),
                                 bone_scale_clamp=(0.015, 0.3))
    config = hs.SkeletonLLMConfig(draction, tiny_qwen2_5_vl_config(tok, hidden_size=64, layers=2, vision_hidden=32))
    model = hs.SkeletonLLMForConditionalGeneration(config).eval()  # eval: uniform frame sampling
    processor = hs.SkeletonLLMProcessor.from_model_config(config, tok)
    batch = SkeletonSFTCollator(processor)(
        [{"skeleton": c, "prompt": "What action is the person doing?", "answer": a} for c, a in zip(clips, labels)])
    first = (batch["labels"] != -100).float().argmax(1)  # position of the first answer token
    target = batch["labels"][torch.arange(4), first]
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)

    def correct_class_prob(logits):
        return torch.softmax(logits[torch.arange(4), first - 1], -1)[torch.arange(4), target]

    for _ in range(150):
        out = model(**batch)
        optimizer.zero_grad()
        out.loss.backward()
        optimizer.step()
    with torch.no_grad():
        p = correct_class_prob(model(**batch).logits)
    # a model blind to the frames can at best give each answer 0.5 (the two classes are balanced)
    assert (p > 0.7).all(), p
