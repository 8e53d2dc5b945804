"""LLaMo around a language model of published dimensions (issue 19): Qwen2.5-7B's (the text model of
Qwen2.5-VL-7B-Instruct: width 3584, 152,064-row vocabulary, untied head; one layer, random bfloat16 weights),
built the way ``hf-skeleton train llamo --text-model <folder>`` builds it, on one real N-UCLA clip."""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.evaluation.recognition import score_candidate_labels
from hf_skeleton.models.lm_head import label_positions
from hf_skeleton.processing.collators import chat_prompt
from hf_skeleton.training.collators import SkeletonSFTCollator

QWEN = Path(__file__).resolve().parents[2] / "fixtures" / "published_configs" / "qwen2_5_vl_7b_instruct.json"
QUESTION = "What action is the person doing? Answer with the action name."
# the parts LLaMo trains (float32); the rest is built in the folders' bfloat16 and computes in compute_dtype(): float32
# on a CPU without native bfloat16 matrix products (torch's scalar fallback there is ~400x slower than float32)
TRAINED = ("model.motion_encoder.", "model.motion_projector.", "model.video_projector.", "model.fusion.")


@pytest.fixture(scope="module")
def qwen_text_folder(tmp_path_factory) -> Path:
    """Qwen2.5-7B's text model at its published dimensions (one layer, random bfloat16 weights, 2.5 GB on disk),
    built once for the module's two tests; neither writes to it."""
    from hf_skeleton.testing_published import published_text_folder

    return published_text_folder(QWEN, tmp_path_factory.mktemp("published") / "qwen2_5_7b", text_layers=1)


@pytest.mark.slow
def test_llamo_around_qwen2_5_7b_text_model(nucla_dir, tmp_path, qwen_text_folder):
    from hf_skeleton.testing_published import PeakRSS, cast_parameters, compute_dtype
    from hf_skeleton.training.llamo_recipe import LlamoRecipeConfig, build

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        folder = qwen_text_folder
        clip = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
        with PeakRSS() as memory:
            torch.manual_seed(0)
            model, processor = build(LlamoRecipeConfig(text_model=str(folder), vision_model=None, hidden=512, layers=4,
                                                       frames=64), format="kinect_v1")
            rows = model.get_input_embeddings().num_embeddings
            assert rows == 152064 and len(processor.tokenizer) == 151665 + 2  # <motion>, <video> in the padding
            assert model.lm_head.weight.shape == (152064, 3584)
            assert model.lm_head.weight.dtype == model.get_input_embeddings().weight.dtype == torch.bfloat16
            cast_parameters(model, compute_dtype(), keep_prefixes=TRAINED)  # float32 without native bf16

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
        assert memory.growth < 10e9
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


LLAVA = QWEN.with_name("llava_1_5_7b_hf.json")


def published_clip_tower_folder(folder: Path) -> Path:
    """LLaVA-1.5's video tower as a folder: CLIP ViT-L/14 at 336 px (width 1024, 577 tokens a frame), one
    layer, random bfloat16 weights, with LLaVA-1.5's image processor."""
    from transformers import CLIPVisionModel

    from hf_skeleton.testing_published import published_config, published_image_processor

    torch.manual_seed(1)
    CLIPVisionModel(published_config(LLAVA, vision_layers=1).vision_config).to(torch.bfloat16).save_pretrained(folder)
    published_image_processor(LLAVA).save_pretrained(folder)
    return folder


@pytest.mark.slow
def test_llamo_with_a_clip_video_tower_at_published_dimensions_saves_and_reloads(nucla_dir, data_dir, tmp_path,
                                                                                 qwen_text_folder):
    """LLaMo with both towers of a GPU run (Qwen2.5-7B's text model and LLaVA-1.5's CLIP ViT-L/14-336 as the
    video tower) on a real clip and a real video (2 frames sampled): the tower holds the folder's weights, the video
    tokens are what the config says, gradients reach only the trained parts, and the saved folder (trained
    parts only; the towers are referenced) reloads to the same logits."""
    from safetensors import safe_open
    from transformers import AutoModelForImageTextToText, AutoProcessor, CLIPVisionModel

    from hf_skeleton.testing_published import PeakRSS, cast_parameters, compute_dtype
    from hf_skeleton.training.llamo_recipe import LlamoRecipeConfig, build
    from hf_skeleton.video import iter_frames

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        text_folder = qwen_text_folder
        clip_folder = published_clip_tower_folder(tmp_path / "clip_vit_l_336")
        clip = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
        video = data_dir / "pose2sim_demo" / "videos" / "cam01.mp4"
        frames = np.stack([rgb for _, _, rgb in iter_frames(video, stride=12, max_frames=8)])
        with PeakRSS() as memory:
            torch.manual_seed(0)
            # 2 video frames of 577 tokens (LLaMo's 8 would be 4,616: 4x this test's CPU time, the same checks)
            model, processor = build(LlamoRecipeConfig(text_model=str(text_folder), vision_model=str(clip_folder),
                                                       hidden=512, layers=4, frames=64, video_frames=2),
                                     format="kinect_v1")
            config = model.config
            assert config.use_video and config.vision_config.hidden_size == 1024
            cast_parameters(model, compute_dtype(), keep_prefixes=TRAINED)  # float32 without native bf16
            reference = CLIPVisionModel.from_pretrained(clip_folder).state_dict()
            ours = model.model.vision_tower.state_dict()
            assert all(torch.equal(ours[k], v) for k, v in reference.items())  # the folder's weights
            del reference

            model.requires_grad_(False)
            trained = [model.model.motion_projector, model.model.video_projector]
            for part in trained:
                part.requires_grad_(True)
            model.train()
            batch = SkeletonSFTCollator(processor)([{"skeleton": clip, "prompt": QUESTION, "video": frames,
                                                     "answer": clip.meta["label_name"]}])
            assert batch["pixel_values_videos"].shape == (1, 2, 3, 336, 336) and config.num_video_frames == 2
            video_tokens = int((batch["input_ids"] == config.video_token_id).sum())
            assert video_tokens == config.num_video_tokens > 0
            keep = label_positions(batch["labels"])
            start = time.perf_counter()
            out = model(**batch, logits_to_keep=keep)
            out.loss.backward()
            step_s = time.perf_counter() - start
            assert math.isfinite(float(out.loss))
            assert all(p.grad is not None and p.grad.abs().sum() > 0 for part in trained for p in part.parameters())
            assert all(p.grad is None for p in model.model.language_model.parameters())
            assert all(p.grad is None for p in model.model.vision_tower.parameters())
            with torch.no_grad():
                for part in trained:  # a "trained" projector: the reload must carry these, not a fresh init
                    for p in part.parameters():
                        p.add_(0.01 * p.grad.sign().to(p.dtype))
            model.zero_grad(set_to_none=True)
            model.eval()
            with torch.no_grad():
                expected = model(**batch, logits_to_keep=keep).logits.float()

            model.save_pretrained(tmp_path / "llamo")
            processor.save_pretrained(tmp_path / "llamo")
            saved_mb = sum(f.stat().st_size for f in (tmp_path / "llamo").glob("*.safetensors")) / 1e6
            with safe_open(str(tmp_path / "llamo" / "model.safetensors"), "pt") as fh:
                saved = list(fh.keys())
            del model, out
            start = time.perf_counter()
            again = AutoModelForImageTextToText.from_pretrained(tmp_path / "llamo").eval()
            load_s = time.perf_counter() - start
            # transformers 5 loads a model in one dtype (float32 unless dtype= is given): put the backbones back in
            # the dtype they computed in, the trained parts stay float32, and the logits must be identical
            assert again.dtype == torch.float32
            cast_parameters(again, compute_dtype(), keep_prefixes=TRAINED)
            reprocessor = AutoProcessor.from_pretrained(tmp_path / "llamo")
            rebatch = SkeletonSFTCollator(reprocessor)([{"skeleton": clip, "prompt": QUESTION, "video": frames,
                                                         "answer": clip.meta["label_name"]}])
            assert all(torch.equal(rebatch[k], batch[k]) for k in batch)
            with torch.no_grad():
                got = again(**rebatch, logits_to_keep=keep).logits.float()
            torch.testing.assert_close(got, expected)  # the tolerance: see test_published_dimensions.py
        # the towers and the LLM are referenced, not copied: what is saved is the motion encoder, the projectors
        # and the fusion (~100 M parameters at width 3,584), plus the two added token rows
        assert not any(k.startswith(("model.vision_tower.", "model.language_model.layers.")) for k in saved)
        assert {k.split(".")[1] for k in saved if k.startswith("model.")} >= {"motion_encoder", "motion_projector",
                                                                             "video_projector"}
        print(f"\nllamo + CLIP ViT-L/14-336 video tower (Qwen2.5-7B text, 1 layer each): {video_tokens} video tokens, "
              f"sequence {batch['input_ids'].shape[1]}, forward+backward {step_s:.1f} s, saved {saved_mb:.0f} MB, "
              f"reload {load_s:.1f} s, peak RSS {memory.peak / 1e9:.2f} GB")
        assert memory.growth < 14e9  # the reload is float32 (transformers' one-dtype load): twice the bf16 LLM
    finally:
        torch.set_num_threads(previous)
