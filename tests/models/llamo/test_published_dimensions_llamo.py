"""LLaMo around a language model of published dimensions (issue 19): Qwen2.5-7B's (the text model of
Qwen2.5-VL-7B-Instruct: width 3584, 152,064-row vocabulary, untied head; one layer, random bfloat16 weights),
built the way ``hf-skeleton train llamo --text-model <folder>`` builds it, on one real N-UCLA clip."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.evaluation.recognition import score_candidate_labels
from hf_skeleton.models.lm_head import label_positions
from hf_skeleton.processing.collators import chat_prompt
from hf_skeleton.training.collators import SkeletonSFTCollator

QWEN = Path(__file__).resolve().parents[2] / "fixtures" / "published_configs" / "qwen2_5_vl_7b_instruct.json"
QUESTION = "What action is the person doing? Answer with the action name."


@pytest.mark.slow
def test_llamo_around_qwen2_5_7b_text_model(nucla_dir, tmp_path):
    from hf_skeleton.testing_published import PeakRSS, published_text_folder
    from hf_skeleton.training.llamo_recipe import LlamoRecipeConfig, build

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        folder = published_text_folder(QWEN, tmp_path / "qwen2_5_7b", text_layers=1)
        clip = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
        with PeakRSS() as memory:
            torch.manual_seed(0)
            model, processor = build(LlamoRecipeConfig(text_model=str(folder), vision_model=None, hidden=512, layers=4,
                                                       frames=64), format="kinect_v1")
            rows = model.get_input_embeddings().num_embeddings
            assert rows == 152064 and len(processor.tokenizer) == 151665 + 2  # <motion>, <video> in the padding
            assert model.lm_head.weight.shape == (152064, 3584)
            assert model.lm_head.weight.dtype == model.get_input_embeddings().weight.dtype == torch.bfloat16

            # stage 1: the LLM frozen, the motion projector trained
            model.requires_grad_(False)
            model.model.motion_projector.requires_grad_(True)
            model.train()
            batch = SkeletonSFTCollator(processor)([{"skeleton": clip, "prompt": QUESTION,
                                                     "answer": clip.meta["label_name"]}])
            start = time.perf_counter()
            out = model(**batch, logits_to_keep=label_positions(batch["labels"]))
            out.loss.backward()
            step_s = time.perf_counter() - start
            loss = float(out.loss.detach())
            assert math.isfinite(loss) and abs(loss - math.log(rows)) < 3
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in model.model.motion_projector.parameters())
            assert all(p.grad is None for p in model.model.language_model.parameters())
            model.zero_grad(set_to_none=True)
            model.eval()

            inputs = processor(skeletons=[clip], text=[chat_prompt(processor, QUESTION)])
            generated = model.generate(**inputs, max_new_tokens=2, do_sample=False, return_dict_in_generate=True,
                                       output_scores=True)
            sequences = generated.sequences
            assert sequences.shape == (1, inputs["input_ids"].shape[1] + 2)
            with torch.no_grad():
                again = model(input_ids=sequences[:, :-1], attention_mask=torch.ones_like(sequences[:, :-1]),
                              motion=inputs["motion"], motion_mask=inputs["motion_mask"], logits_to_keep=1)
            step, direct = generated.scores[1][0].float(), again.logits[0, -1].float()
            assert float(direct[sequences[0, -1]]) >= float(direct.max()) - 0.1
            assert (step - direct).abs().max() <= 0.05 * (direct.max() - direct.min())

            start = time.perf_counter()
            scores = score_candidate_labels(model, processor, [clip], QUESTION, ["pick up with one hand", "walk around"])
            score_s = time.perf_counter() - start
            assert scores.shape == (1, 2) and torch.isfinite(scores).all()
        print(f"\nllamo (Qwen2.5-7B text, 1 layer): sequence {batch['input_ids'].shape[1]}, forward+backward "
              f"{step_s:.1f} s, scoring {score_s:.1f} s, peak RSS {memory.peak / 1e9:.2f} GB")
        assert memory.peak < 10e9
    finally:
        torch.set_num_threads(previous)


def test_llamo_head_takes_the_language_models_dtype():
    """A text_config saved from a bfloat16 checkpoint builds a bfloat16 LLM: the head follows (it was
    float32, and the forward failed with 'expected m1 and m2 to have the same dtype')."""
    from hf_skeleton.testing import tiny_llamo

    torch.manual_seed(0)
    model, processor = tiny_llamo(use_video=False)
    text = model.config.text_config.to_dict()
    text["dtype"] = "bfloat16"
    config = hs.LlamoConfig(**{**model.config.to_dict(), "text_config": text})
    bf16 = hs.LlamoForConditionalGeneration(config).eval()
    assert bf16.model.language_model.embed_tokens.weight.dtype == torch.bfloat16
    assert bf16.lm_head.weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in bf16.model.motion_encoder.parameters())  # trained in float32
    from hf_skeleton.skeletons.synthetic import synthetic_clip

    inputs = processor(skeletons=[synthetic_clip("walk", 20).to_format("kinect_v1")], text=["what?"])
    with torch.no_grad():
        out = bf16(**inputs, labels=inputs["input_ids"])
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
