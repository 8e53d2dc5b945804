"""Superman around Qwen2.5-VL-7B-Instruct's published config (issue 19): the paper's 8,192 <skel_k> codes added
to the published 151,665-token tokenizer, the 152,064-row embeddings resized (never shrunk), one real N-UCLA
clip as an H36M-17 prediction example; one text and one vision layer, random bfloat16 weights."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForImageTextToText, AutoProcessor

import hf_skeleton as hs
from hf_skeleton.models.lm_head import label_positions
from hf_skeleton.models.superman import MotionTextFormatter, SupermanConfig, SupermanForConditionalGeneration
from hf_skeleton.models.vgmt import VGMTConfig

QWEN = Path(__file__).resolve().parents[2] / "fixtures" / "published_configs" / "qwen2_5_vl_7b_instruct.json"


@pytest.mark.parametrize("padding", [0, 64])
def test_resize_for_motion_tokens_grows_but_never_shrinks(padding):
    from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config

    tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS)
    vlm = tiny_qwen2_5_vl_config(tok)
    vlm.text_config.vocab_size = len(tok) + padding  # a published vocabulary is padded past its tokenizer
    vg = VGMTConfig(format="h36m17", num_codes=8, code_dim=8, channels=[8], dilations=[1], norm_groups=2,
                    use_vision=False)
    torch.manual_seed(0)
    model = SupermanForConditionalGeneration(SupermanConfig(vlm_config=vlm, vgmt_config=vg))
    old = model.get_input_embeddings().weight.detach().clone()
    fmt = MotionTextFormatter.from_vgmt_config(vg)
    fmt.add_to_tokenizer(tok)  # 10 tokens: into the padding when there is room
    rows = model.resize_for_motion_tokens(tok, mean_resizing=False)
    assert rows == max(old.shape[0], len(tok)) == model.get_input_embeddings().num_embeddings
    assert model.lm_head.weight.shape[0] == rows == model.config.get_text_config().vocab_size
    assert torch.equal(model.get_input_embeddings().weight[: old.shape[0]], old)
    assert model.config.motion_token_offset == tok.convert_tokens_to_ids("<skel_0>")
    assert list(model.config.motion_token_ids)[-1] == tok.convert_tokens_to_ids(fmt.all_tokens[-1]) < rows


@pytest.mark.slow
def test_superman_around_qwen2_5_vl_7b_config(nucla_dir, tmp_path):
    from hf_skeleton.models.superman.processing_superman import build_superman_processor
    from hf_skeleton.testing_published import (
        PeakRSS,
        cast_parameters,
        compute_dtype,
        published_config,
        published_tokenizer,
    )
    from hf_skeleton.training.superman_tasks import SupermanCollator, SupermanTaskBuilder

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        with PeakRSS() as memory:
            torch.manual_seed(0)
            vgmt = VGMTConfig(format="h36m17", use_vision=False)  # the paper's 8,192 codes of 2,048
            vlm = published_config(QWEN, text_layers=1, vision_layers=1)
            model = SupermanForConditionalGeneration(SupermanConfig(vlm_config=vlm, vgmt_config=vgmt))
            assert model.lm_head.weight.dtype == model.get_input_embeddings().weight.dtype == torch.bfloat16
            cast_parameters(model, compute_dtype(), keep_prefixes=("vgmt.",))  # float32 without native bf16
            tokenizer = published_tokenizer(QWEN)
            processor = build_superman_processor(tokenizer, vgmt)
            assert len(tokenizer) == 151665 + 8192 + 2
            # the paper's codebook does not fit in the 399 padding rows: the embeddings grow (mean resizing off:
            # its covariance over 152k x 3584 rows is a minute of CPU here, seconds on a GPU)
            rows = model.resize_for_motion_tokens(tokenizer, mean_resizing=False)
            assert rows == len(tokenizer) > 152064 and model.lm_head.weight.shape == (rows, 3584)
            assert model.config.motion_token_offset == 151665

            clip = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json").to_format("h36m17")
            motion = torch.from_numpy(clip.positions[:32, 0])
            example = SupermanTaskBuilder(model, processor).predict(motion[:16], motion[16:])
            batch = SupermanCollator(processor)([example])
            codes = torch.tensor(processor.motion_ids["codes"])
            assert int(torch.isin(batch["input_ids"], codes).sum()) == 2 * 8 * 17  # 16 frames -> 8 steps x 17
            # the paper's MLLM stage: embeddings and head trained (LoRA elsewhere, left out here)
            model.requires_grad_(False)
            model.get_input_embeddings().weight.requires_grad_(True)
            model.lm_head.weight.requires_grad_(True)
            model.train()
            start = time.perf_counter()
            out = model(**batch, logits_to_keep=label_positions(batch["labels"]))
            out.loss.backward()
            step_s = time.perf_counter() - start
            loss = float(out.loss.detach())
            assert math.isfinite(loss) and abs(loss - math.log(rows)) < 3
            answer = batch["input_ids"][batch["labels"] != -100]
            used = answer[torch.isin(answer, codes)]
            assert model.lm_head.weight.grad[used].abs().sum(-1).gt(0).all()
            read = batch["input_ids"][batch["labels"] == -100]  # the history's codes, read in the prompt
            read = read[torch.isin(read, codes)]
            assert read.numel() == 8 * 17 and model.get_input_embeddings().weight.grad[read].abs().sum(-1).gt(0).all()
            model.zero_grad(set_to_none=True)
            model.eval()

            enc = processor(text=[example["prompt"]])
            generated = model.generate(**enc, max_new_tokens=2, do_sample=False)
            assert generated.shape == (1, enc["input_ids"].shape[1] + 2) and int(generated.max()) < rows

            # save / load with the grown vocabulary: the reload (float32, transformers' one-dtype load), its VLM
            # cast back to the dtype it computed in (parameters only; the VGMT stays float32), gives the same logits
            with torch.no_grad():
                expected = model(**enc, logits_to_keep=1).logits.float()
            model.save_pretrained(tmp_path / "saved")
            processor.save_pretrained(tmp_path / "saved")
            del model
            again = AutoModelForImageTextToText.from_pretrained(tmp_path / "saved").eval()
            assert again.get_input_embeddings().num_embeddings == rows
            assert again.config.motion_token_offset == 151665
            cast_parameters(again, compute_dtype(), keep_prefixes=("vgmt.",))
            reprocessor = AutoProcessor.from_pretrained(tmp_path / "saved")
            assert len(reprocessor.tokenizer) == rows
            with torch.no_grad():
                got = again(**reprocessor(text=[example["prompt"]]), logits_to_keep=1).logits.float()
            torch.testing.assert_close(got, expected)  # the tolerance: see test_published_dimensions.py
        print(f"\nsuperman (Qwen2.5-VL-7B config, 1 layer, 8,192 codes): {rows} embedding rows, sequence "
              f"{batch['input_ids'].shape[1]}, forward+backward {step_s:.1f} s, peak RSS {memory.peak / 1e9:.2f} GB")
        assert memory.growth < 14e9  # the float32 reload holds twice the bfloat16 VLM
    finally:
        torch.set_num_threads(previous)


def test_superman_head_takes_the_vlms_dtype():
    """A vlm_config saved from a bfloat16 checkpoint builds a bfloat16 VLM: the untied head follows (it was
    float32, and the forward failed)."""
    from hf_skeleton.testing import tiny_superman

    torch.manual_seed(0)
    tiny, processor = tiny_superman()
    vlm = tiny.config.vlm_config.to_dict()
    vlm["text_config"]["dtype"] = vlm["vision_config"]["dtype"] = vlm["dtype"] = "bfloat16"
    model = SupermanForConditionalGeneration(SupermanConfig(**{**tiny.config.to_dict(), "vlm_config": vlm})).eval()
    assert model.get_input_embeddings().weight.dtype == model.lm_head.weight.dtype == torch.bfloat16
    enc = processor(text=["Predict the motion."])
    with torch.no_grad():
        out = model(**enc, labels=enc["input_ids"])
    assert out.logits.dtype == torch.bfloat16 and torch.isfinite(out.loss)
