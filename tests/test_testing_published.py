"""The published-dimension builders (hf_skeleton.testing_published) and the fixtures they read.

The slow end-to-end checks at these dimensions live in tests/models/skeleton_llm/test_published_dimensions.py;
these are the cheap ones: the fixture numbers (through the full-depth parameter count, on the meta device),
the depth cut, the tokenizer's size and ids, the image processors.
"""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from hf_skeleton import SkeletonInputError
from hf_skeleton.models.skeleton_llm.image_adapters import ImageAdapterConfig
from hf_skeleton.testing_published import (
    cut_config_dict,
    load_published_spec,
    published_config,
    published_image_processor,
    published_parameter_count,
    published_tokenizer,
)

PUBLISHED_CONFIGS = Path(__file__).parent / "fixtures" / "published_configs"
NAMES = ("qwen2_5_vl_7b_instruct", "internvl3_8b_hf", "llava_1_5_7b_hf")
# parameters the Hub lists for the checkpoints (8.29B, 7.94B, 7.06B)
HUB_PARAMETERS = {"qwen2_5_vl_7b_instruct": 8.29e9, "internvl3_8b_hf": 7.94e9, "llava_1_5_7b_hf": 7.06e9}


def _spec(name):
    return PUBLISHED_CONFIGS / f"{name}.json"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_names_its_source_and_gives_the_published_size(name):
    data = json.loads(_spec(name).read_text())
    assert "config.json" in data["_source"] and data["_source"].split(" ")[0].count("/") == 1
    count = published_parameter_count(_spec(name))  # full depth, meta device
    assert abs(count - HUB_PARAMETERS[name]) / HUB_PARAMETERS[name] < 1e-3, count


def test_depth_cut_keeps_everything_else():
    qwen = load_published_spec(_spec("qwen2_5_vl_7b_instruct"))["config"]
    cut = cut_config_dict(qwen, text_layers=1, vision_layers=2)
    assert cut["num_hidden_layers"] == 1 and cut["max_window_layers"] == 1
    assert cut["vision_config"]["depth"] == 2 and cut["vision_config"]["fullatt_block_indexes"] == [1]
    assert cut_config_dict(qwen, vision_layers=9)["vision_config"]["fullatt_block_indexes"] == [7, 8]
    same = {k: v for k, v in cut.items() if k not in ("num_hidden_layers", "max_window_layers", "vision_config")}
    assert same == {k: v for k, v in qwen.items() if k in same} and len(same) == len(qwen) - 3
    llava = cut_config_dict(load_published_spec(_spec("llava_1_5_7b_hf"))["config"], vision_layers=1)
    assert llava["vision_config"]["num_hidden_layers"] == 2  # feature layer -2 is a real layer's output
    assert llava["text_config"]["num_hidden_layers"] == 1 and llava["text_config"]["hidden_size"] == 4096
    config = published_config(_spec("internvl3_8b_hf"), text_layers=2, vision_layers=1)
    assert config.vision_config.num_hidden_layers == 1 and config.text_config.num_hidden_layers == 2
    assert config.text_config.vocab_size == 151674 and config.downsample_ratio == 0.5
    for bad in (0, 1.5, True):
        with pytest.raises(SkeletonInputError, match="layers"):
            cut_config_dict(qwen, text_layers=bad)
    with pytest.raises(SkeletonInputError, match="keys"):
        load_published_spec({"config": {}})


@pytest.mark.parametrize("name", NAMES)
def test_tokenizer_has_the_published_size_and_ids(name, tmp_path):
    from transformers import AutoTokenizer

    spec = load_published_spec(_spec(name))["tokenizer"]
    tok = published_tokenizer(_spec(name))
    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(tmp_path)
    for t in (tok, again):
        assert len(t) == spec["size"]
        assert {k: t.convert_tokens_to_ids(k) for k in spec["added_tokens"]} == spec["added_tokens"]
        for field in ("bos_token", "eos_token", "pad_token", "unk_token"):
            assert getattr(t, field) == spec[field], field
    text = "pick up with one hand"
    ids = again(text, add_special_tokens=False)["input_ids"]
    assert again.decode(ids) == text and len(ids) <= 6 and max(ids) < 2000  # the trained pieces, not fillers
    chat = again.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert chat.endswith("ASSISTANT:" if name.startswith("llava") else "<|im_start|>assistant\n")


@pytest.mark.parametrize("name,family,size", [("qwen2_5_vl_7b_instruct", "qwen2_vl", None),
                                              ("internvl3_8b_hf", "got_ocr2", (448, 448)),
                                              ("llava_1_5_7b_hf", "clip", 336)])
def test_image_processor_has_the_published_settings(name, family, size):
    processor = published_image_processor(_spec(name))
    published = load_published_spec(_spec(name))["preprocessor_config"]
    assert type(processor).__name__ == published["image_processor_type"] + "Pil"
    adapter = ImageAdapterConfig.from_image_processor(processor)
    assert adapter.family == family and list(adapter.image_mean) == published["image_mean"]
    assert list(adapter.image_std) == published["image_std"]
    if family == "qwen2_vl":
        assert (adapter.min_pixels, adapter.max_pixels) == (3136, 12845056)
    else:
        assert adapter.size == size


def test_cast_parameters_keeps_the_named_parts_and_the_buffers():
    import torch

    from hf_skeleton.testing_published import cast_parameters, compute_dtype, native_bfloat16

    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4)).to(torch.bfloat16)
    model[0].float()
    before = model[1].weight.detach().clone()
    assert cast_parameters(model, torch.float32, keep_prefixes=("0.",)) is model
    assert model[1].weight.dtype == torch.float32 and torch.equal(model[1].weight, before.float())
    assert model[1].running_mean.dtype == torch.bfloat16  # buffers as they were
    assert model[0].weight.dtype == torch.float32
    cast_parameters(model, torch.bfloat16, keep_prefixes=("0.",))
    assert model[0].weight.dtype == torch.float32 and model[1].weight.dtype == torch.bfloat16
    # oneDNN's bfloat16 GEMM on x86 needs AVX-512 core (F, BW, VL, DQ) or AVX-NE-CONVERT: the CPU's own flags
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file() and platform.machine() == "x86_64":
        flags = set(next(line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")).split())
        assert native_bfloat16() == ({"avx512f", "avx512bw", "avx512vl", "avx512dq"} <= flags
                                     or "avx_ne_convert" in flags)
    assert compute_dtype() == (torch.bfloat16 if native_bfloat16() else torch.float32)
