"""One contract over every model (the five of the papers and the EfficientNet-Lite backbone), like transformers' ``ModelTesterMixin`` and lerobot's policy tests:
Auto registration, a config that round-trips, strict bit-exact save/load through the Auto class,
damaged or incomplete weights refused, the saved folder loading with ``trust_remote_code`` in a fresh
process that never imports hf_skeleton, and ``generate`` equal to greedy decoding without the cache.

Each model has a ``ModelTester``: it builds the tiny model (from ``hf_skeleton.testing``) and a batch,
and says which output to compare and which Auto class loads it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModel, AutoModelForImageClassification, AutoModelForImageTextToText

import hf_skeleton as hs
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.testing import tiny_draction, tiny_llamo, tiny_skeleton_llm, tiny_superman, tiny_vgmt


@dataclass
class ModelTester:
    name: str
    build: Callable[[], tuple[Any, Any]]  # () -> (model, processor or None)
    inputs: Callable[[Any, Any], dict]  # (model, processor) -> forward kwargs
    output: str  # the output field compared after reloading
    auto_class: type
    generates: bool = False


def _draction():
    torch.manual_seed(0)
    return tiny_draction(), None


def _draction_inputs(model, _):
    seq = synthetic_clip("walk", 6, format="kinect_v2")
    return {"skeletons": torch.from_numpy(seq.positions)[None], "skeleton_mask": torch.from_numpy(seq.mask)[None]}


def _vgmt():
    torch.manual_seed(0)
    return tiny_vgmt(), None


def _vgmt_inputs(model, _):
    return {"skeletons": torch.rand(2, 4, 17, 3, generator=torch.Generator().manual_seed(0)) * 2 - 1}


def _efficientnet_lite():
    torch.manual_seed(0)
    return hs.EfficientNetLiteForImageClassification(hs.EfficientNetLiteConfig()), None


def _image_inputs(model, _):
    return {"pixel_values": torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(0)) * 2 - 1}


def _seeded(builder):
    def build():
        torch.manual_seed(0)
        return builder()
    return build


def _skeleton_llm_inputs(model, proc):
    return dict(proc(skeletons=[synthetic_clip("walk", 10), synthetic_clip("wave", 7)],
                     text=["what action is the person doing ?", "describe the motion ."], padding=True))


def _llamo_inputs(model, proc):
    rng = np.random.default_rng(0)
    videos = [rng.integers(0, 255, (4, 56, 56, 3), dtype=np.uint8) for _ in range(2)]
    clips = [rng.normal(size=(T, 20, 3)).astype(np.float32) for T in (7, 3)]
    return dict(proc(skeletons=clips, text=["describe the motion .", "what action ?"], videos=videos,
                     padding=True))


def _superman_inputs(model, proc):
    return dict(proc(text=["Predict the motion.", "Fill in the motion."], padding=True))


TESTERS = [
    ModelTester("draction", _draction, _draction_inputs, "images", AutoModel),
    ModelTester("vgmt", _vgmt, _vgmt_inputs, "reconstruction", AutoModel),
    ModelTester("skeleton_llm", _seeded(tiny_skeleton_llm), _skeleton_llm_inputs, "logits",
                AutoModelForImageTextToText, generates=True),
    ModelTester("llamo", _seeded(tiny_llamo), _llamo_inputs, "logits", AutoModelForImageTextToText, generates=True),
    ModelTester("superman", _seeded(tiny_superman), _superman_inputs, "logits", AutoModelForImageTextToText,
                generates=True),
    ModelTester("efficientnet_lite", _efficientnet_lite, _image_inputs, "logits", AutoModelForImageClassification),
]
IDS = [t.name for t in TESTERS]


@pytest.fixture(scope="module", params=TESTERS, ids=IDS)
def case(request):
    tester = request.param
    model, proc = tester.build()
    return tester, model.eval(), proc


def _forward(tester, model, proc):
    with torch.no_grad():
        return getattr(model(**tester.inputs(model, proc)), tester.output)


def _save(model, proc, folder):
    model.save_pretrained(folder)
    if proc is not None:
        proc.save_pretrained(folder)


def test_auto_classes_know_the_model(case):
    tester, model, _ = case
    assert type(AutoConfig.for_model(model.config.model_type)) is type(model.config)
    assert tester.auto_class._model_mapping[type(model.config)] is type(model)


def test_config_round_trips(case):
    _, model, _ = case
    config = model.config
    again = type(config).from_dict(config.to_dict())
    assert again.to_json_string(use_diff=False) == config.to_json_string(use_diff=False)


def test_save_and_reload_through_the_auto_class_is_bit_exact(case, tmp_path):
    tester, model, proc = case
    _save(model, proc, tmp_path)
    loaded = tester.auto_class.from_pretrained(tmp_path).eval()
    assert type(loaded) is type(model)
    state, again = model.state_dict(), loaded.state_dict()
    assert state.keys() == again.keys()
    assert all(torch.equal(state[k], again[k]) for k in state)
    torch.testing.assert_close(_forward(tester, loaded, proc), _forward(tester, model, proc), atol=0, rtol=0)


@pytest.mark.parametrize("damage", ["truncated", "missing tensor", "unexpected tensor"])
def test_damaged_weights_are_refused(case, tmp_path, damage):
    tester, model, proc = case
    _save(model, proc, tmp_path)
    weights = tmp_path / "model.safetensors"
    if damage == "truncated":
        weights.write_bytes(weights.read_bytes()[:-64])
    else:
        tensors = load_file(weights)
        if damage == "missing tensor":
            tensors.pop(sorted(tensors)[0])
        else:
            tensors["not_a_weight"] = torch.zeros(1)
        save_file(tensors, weights, metadata={"format": "pt"})
    with pytest.raises(hs.CheckpointError, match="model.safetensors"):
        tester.auto_class.from_pretrained(tmp_path)


_FRESH = """
import sys, torch, transformers
from safetensors.torch import load_file
folder, auto = sys.argv[1], getattr(transformers, sys.argv[2])
model = auto.from_pretrained(folder, trust_remote_code=True)
assert not [k for k in sys.modules if k.startswith("hf_skeleton")], "hf_skeleton was imported"
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
state = model.state_dict()
assert all(torch.equal(state[k], v) for k, v in load_file(folder + "/model.safetensors").items())
print("OK", type(model).__name__)
"""


def test_folder_loads_with_remote_code_in_a_fresh_process(case, tmp_path):
    tester, model, _ = case
    model.save_pretrained(tmp_path / "model")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules"),
           "PYTHONPATH": ""}  # hf_skeleton must not be importable from the source tree either
    result = subprocess.run([sys.executable, "-I", "-c", _FRESH, str(tmp_path / "model"), tester.auto_class.__name__],
                            capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"OK {type(model).__name__}"


@pytest.mark.parametrize("tester", [t for t in TESTERS if t.generates], ids=[t.name for t in TESTERS if t.generates])
def test_generate_equals_greedy_decoding_without_the_cache(tester):
    model, proc = tester.build()
    model.eval()
    inputs = tester.inputs(model, proc)
    out = model.generate(**inputs, max_new_tokens=4, do_sample=False)
    slow = model.generate(**inputs, max_new_tokens=4, do_sample=False, use_cache=False)
    assert out.shape == (inputs["input_ids"].shape[0], inputs["input_ids"].shape[1] + 4)
    assert torch.equal(out, slow)
