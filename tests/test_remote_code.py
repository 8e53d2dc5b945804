"""Saved folders load with trust_remote_code=True in a process that never imports hf_skeleton."""

import os
import subprocess
import sys


import hf_skeleton as hs
from hf_skeleton.remote_code import _closure, write_remote_code

_CHECK = """
import sys, torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModel
folder = sys.argv[1]
model = AutoModel.from_pretrained(folder, trust_remote_code=True)
leaked = [k for k in sys.modules if k.startswith("hf_skeleton")]
assert not leaked, leaked
assert type(model).__module__.startswith("transformers_modules"), type(model).__module__
saved = load_file(folder + "/model.safetensors")
state = model.state_dict()
for key, value in saved.items():
    assert torch.equal(state[key], value), key
print("OK", type(model).__name__, len(saved))
"""


def _load_in_fresh_process(folder):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(folder.parent / "modules")}
    result = subprocess.run([sys.executable, "-c", _CHECK, str(folder)], capture_output=True, text=True,
                            env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_vgmt_folder_loads_without_the_package(tmp_path):
    config = hs.VGMTConfig(format="h36m17", num_codes=16, code_dim=32, channels=[16, 32], norm_groups=4,
                           use_vision=False)
    hs.VGMTModel(config).save_pretrained(tmp_path / "vgmt")
    files = set(os.listdir(tmp_path / "vgmt"))
    assert {"modeling_vgmt.py", "configuration_vgmt.py", "formats.py", "errors.py"} <= files
    assert "OK VGMTModel" in _load_in_fresh_process(tmp_path / "vgmt")


def test_closure_stays_inside_what_the_model_needs():
    modules = _closure([hs.VGMTModel.__module__])
    assert "hf_skeleton" not in modules and "hf_skeleton._registration" not in modules
    assert not any(".readers" in m or m.endswith(".viz") for m in modules)


def test_rewrite_handles_multiline_and_submodule_imports(tmp_path):
    auto_map = write_remote_code(tmp_path, {"AutoConfig": hs.VGMTConfig})
    assert auto_map == {"AutoConfig": "configuration_vgmt.VGMTConfig"}
    import ast

    for path in tmp_path.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                assert node.level <= 1, (path.name, node.lineno)
                assert not (node.module or "").startswith("hf_skeleton"), (path.name, node.lineno)
                if node.level == 1:
                    assert (tmp_path / f"{node.module}.py").is_file() or node.module is None, node.module


def test_draction_folder_loads_without_the_package(tmp_path):
    config = hs.DrActionConfig(format="kinect_v1", image_size=56, num_frames=2)
    hs.DrActionModel(config).save_pretrained(tmp_path / "draction")
    assert "OK DrActionModel" in _load_in_fresh_process(tmp_path / "draction")


DRACTION_FILES = {
    # the model's own code
    "configuration_draction.py", "modeling_draction.py", "gaussian_layout.py", "nfm.py", "skinning.py",
    "modeling_utils.py",
    # strict loading fills trained-parts folders from their backbones (resolved by name only with the package)
    "backbone_weights.py",
    # the skeleton data model and the body geometry the camera frames with
    "errors.py", "formats.py", "geometry.py",
    # parameter-free rendering
    "camera.py", "projection.py", "rasterizer.py", "raster_torch.py", "raster_gsplat.py", "raster_oracles.py",
}

_RENDER_AND_RESAVE = """
import sys, torch
from transformers import AutoModel
folder, out = sys.argv[1], sys.argv[2]
model = AutoModel.from_pretrained(folder, trust_remote_code=True).eval()
x = torch.load(folder + "/inputs.pt")
with torch.no_grad():
    images = model(x["skeletons"], x["mask"]).images
torch.save(images, out + "/images.pt")
model.save_pretrained(out + "/again")
assert not [k for k in sys.modules if k.startswith("hf_skeleton")]
print("OK")
"""


def test_draction_folder_holds_only_what_the_model_needs_and_renders_the_same(tmp_path, nucla_dir):
    import torch

    config = hs.DrActionConfig(format="kinect_v1", image_size=56, num_frames=2)
    torch.manual_seed(0)
    model = hs.DrActionModel(config).eval()
    folder = tmp_path / "draction"
    model.save_pretrained(folder)
    assert {f for f in os.listdir(folder) if f.endswith(".py")} == DRACTION_FILES
    assert "from .remote_code import" not in (folder / "modeling_utils.py").read_text()
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    x = {"skeletons": torch.from_numpy(seq.positions)[None], "mask": torch.from_numpy(seq.mask)[None]}
    torch.save(x, folder / "inputs.pt")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_MODULES_CACHE": str(tmp_path / "modules")}
    result = subprocess.run([sys.executable, "-c", _RENDER_AND_RESAVE, str(folder), str(tmp_path)],
                            check=False, capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    with torch.no_grad():
        expected = model(x["skeletons"], x["mask"]).images
    assert torch.equal(torch.load(tmp_path / "images.pt"), expected)
    # a model loaded from the folder saves through transformers, which copies the same files
    assert {f for f in os.listdir(tmp_path / "again") if f.endswith(".py")} == DRACTION_FILES


def test_user_defined_format_travels_in_the_remote_folder(tmp_path):
    fmt = hs.SkeletonFormat("stick4", ["root", "spine", "left_hand", "right_hand"], [-1, 0, 1, 1],
                            parts={"torso": [0, 1], "left_arm": [2], "right_arm": [3]}, mirror_pairs=[(2, 3)])
    config = hs.DrActionConfig(format=fmt, image_size=56, num_frames=2)
    hs.DrActionModel(config).save_pretrained(tmp_path / "stick")
    assert "OK DrActionModel" in _load_in_fresh_process(tmp_path / "stick")


def test_llamo_backbone_folder_loads_without_the_package(tmp_path):
    from hf_skeleton.testing import build_tiny_tokenizer, tiny_text_config

    tok = build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])
    config = hs.LlamoConfig(format="kinect_v1", motion_hidden_size=32, motion_num_layers=1, motion_num_heads=4,
                            motion_intermediate_size=64, max_motion_frames=8, use_video=False,
                            text_config=tiny_text_config(tok, hidden_size=32, layers=1),
                            motion_token_id=tok.convert_tokens_to_ids("<motion>"),
                            video_token_id=tok.convert_tokens_to_ids("<video>"))
    hs.LlamoModel(config).save_pretrained(tmp_path / "llamo")
    assert "OK LlamoModel" in _load_in_fresh_process(tmp_path / "llamo")
