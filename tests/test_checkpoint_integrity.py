"""Damaged checkpoints are refused with one typed error on every loading path (issue 16, "Checkpoints").

Real saved folders (the tiny models of ``hf_skeleton.testing`` and copies of the embedded checkpoints)
are damaged the way the audit damaged them: single-bit flips in the data region, swapped offsets of two
same-shape tensors, a header F32 -> I32 edit, all-zero data, a NaN weight, a deleted config field, a
pickle beside the weights, a wrong-shaped tensor. Each must raise ``CheckpointError`` naming the file and
the tensor (or config field) through the model class, its Auto class, ``pipeline()`` and the CLI.
"""

from __future__ import annotations

import json
import re
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from transformers import AutoModel, AutoModelForImageTextToText, pipeline

import hf_skeleton as hs
from hf_skeleton.cli import main
from hf_skeleton.errors import CheckpointError
from hf_skeleton.hub import files_to_push
from hf_skeleton.modeling_utils import MANIFEST_FORMAT, MANIFEST_NAME, verify_weights, write_checksums
from hf_skeleton.testing import tiny_draction, tiny_llamo, tiny_skeleton_llm, tiny_superman, tiny_vgmt

WEIGHTS = "model.safetensors"


@dataclass
class Case:
    name: str
    model_class: str  # attribute of hf_skeleton
    auto: type
    build: object = None  # () -> model or (model, processor); None: an embedded folder of that name
    task: str | None = None  # the pipeline that loads it
    cli: str | None = None  # "evaluate" or "render"
    config_field: str = ""  # a field deleted from config.json ("a.b": field b of sub-config a)


CASES = [
    Case("draction", "DrActionModel", AutoModel, lambda: tiny_draction("kinect_v1", image_size=56), cli="render",
         config_field="gaussians_per_bone"),
    Case("vgmt", "VGMTModel", AutoModel, tiny_vgmt, config_field="norm_groups"),
    Case("llamo", "LlamoForConditionalGeneration", AutoModelForImageTextToText, tiny_llamo,
         task="skeleton-understanding", cli="evaluate", config_field="motion_num_heads"),
    Case("skeleton_llm", "SkeletonLLMForConditionalGeneration", AutoModelForImageTextToText,
         lambda: tiny_skeleton_llm(format="kinect_v1"), task="skeleton-understanding", cli="evaluate",
         config_field="draction_config.gaussians_per_bone"),
    Case("superman", "SupermanForConditionalGeneration", AutoModelForImageTextToText, tiny_superman,
         task="skeleton-generation", config_field="vgmt_config.norm_groups"),
    Case("vgmt-cmu", "VGMTModel", AutoModel, config_field="norm_groups"),
    Case("llamo-nucla", "LlamoForConditionalGeneration", AutoModelForImageTextToText,
         task="skeleton-understanding", cli="evaluate", config_field="motion_num_heads"),
    Case("skeleton-llm-nucla", "SkeletonLLMForConditionalGeneration", AutoModelForImageTextToText,
         task="skeleton-understanding", cli="render", config_field="frames_as"),
]
BY_NAME = {c.name: c for c in CASES}


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> a pristine saved folder (built once per module; tests damage copies)."""
    root = tmp_path_factory.mktemp("saved")
    folders = {}
    for case in CASES:
        folder = root / case.name
        if case.build is None:
            shutil.copytree(hs.embedded_model_path(case.name), folder)
        else:
            torch.manual_seed(0)
            built = case.build()
            model, proc = built if isinstance(built, tuple) else (built, None)
            model.save_pretrained(folder)
            if proc is not None:
                proc.save_pretrained(folder)
        folders[case.name] = folder
    return folders


@pytest.fixture()
def copy_of(saved, tmp_path):
    def make(name: str) -> Path:
        folder = tmp_path / name
        shutil.copytree(saved[name], folder)
        return folder
    return make


# ---------------------------------------------------------------------- damage
def _layout(path: Path) -> tuple[int, dict, dict]:
    """(data start, tensors of the header, __metadata__)."""
    raw = path.read_bytes()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    meta = header.pop("__metadata__", {})
    return 8 + length, header, meta


def _rewrite_header(path: Path, tensors: dict, meta: dict) -> None:
    start, _, _ = _layout(path)
    data = path.read_bytes()[start:]
    header = json.dumps({"__metadata__": meta, **tensors}, separators=(",", ":")).encode()
    header += b" " * (-len(header) % 8)
    path.write_bytes(struct.pack("<Q", len(header)) + header + data)


def _tensor_at(tensors: dict, offset: int) -> str:
    return next(name for name, info in tensors.items() if info["data_offsets"][0] <= offset < info["data_offsets"][1])


def flip_bit(folder: Path, fraction: float) -> str:
    """Flip one bit at ``fraction`` of the data region; the tensor holding it."""
    path = folder / WEIGHTS
    start, tensors, _ = _layout(path)
    raw = bytearray(path.read_bytes())
    offset = min(int((len(raw) - start) * fraction), len(raw) - start - 1)
    raw[start + offset] ^= 1 << (offset % 8)
    path.write_bytes(bytes(raw))
    return _tensor_at(tensors, offset)


def swap_offsets(folder: Path) -> tuple[str, str]:
    path = folder / WEIGHTS
    _, tensors, meta = _layout(path)
    digests = {n: json.loads((folder / MANIFEST_NAME).read_text())["files"][WEIGHTS]["tensors"][n]["sha256"]
               for n in tensors}
    unique = [n for n in sorted(tensors) if list(digests.values()).count(digests[n]) == 1 and tensors[n]["shape"]]
    seen = {}
    for name in unique:  # two tensors of one layout whose bytes no other tensor shares
        key = (tensors[name]["dtype"], tuple(tensors[name]["shape"]))
        if key in seen:
            a, b = seen[key], name
            break
        seen[key] = name
    tensors[a]["data_offsets"], tensors[b]["data_offsets"] = tensors[b]["data_offsets"], tensors[a]["data_offsets"]
    _rewrite_header(path, tensors, meta)
    return a, b


def f32_to_i32(folder: Path) -> str:
    path = folder / WEIGHTS
    _, tensors, meta = _layout(path)
    floats = [n for n in sorted(tensors) if tensors[n]["dtype"] == "F32"]
    name = next((n for n in floats if not n.startswith("lm_head")), floats[0])  # a backbone uses it too
    tensors[name]["dtype"] = "I32"
    _rewrite_header(path, tensors, meta)
    return name


def zero_data(folder: Path) -> None:
    path = folder / WEIGHTS
    start, _, _ = _layout(path)
    raw = path.read_bytes()
    path.write_bytes(raw[:start] + bytes(len(raw) - start))


def put_nan(folder: Path) -> str:
    """One NaN in the largest floating tensor, the manifest rewritten as a save of such weights would."""
    path = folder / WEIGHTS
    start, tensors, _ = _layout(path)
    name = max((n for n in tensors if tensors[n]["dtype"] == "F32"),
               key=lambda n: tensors[n]["data_offsets"][1] - tensors[n]["data_offsets"][0])
    raw = bytearray(path.read_bytes())
    at = start + tensors[name]["data_offsets"][0] + 4 * 3
    raw[at:at + 4] = struct.pack("<f", float("nan"))
    path.write_bytes(bytes(raw))
    write_checksums(folder)
    return name


def delete_field(folder: Path, field: str) -> None:
    config = json.loads((folder / "config.json").read_text())
    *parents, leaf = field.split(".")
    node = config
    for part in parents:
        node = node[part]
    del node[leaf]
    (folder / "config.json").write_text(json.dumps(config, indent=2))


def wrong_shape(folder: Path, manifest: str) -> str:
    """Grow one matrix by a row; ``manifest``: "rewritten" (consistent with the new file), "stale" or "none"."""
    path = folder / WEIGHTS
    state = load_file(path)
    matrices = [n for n in sorted(state) if state[n].ndim == 2 and state[n].is_floating_point()]
    name = next((n for n in matrices if not n.startswith("lm_head")), matrices[0])  # a backbone uses it too
    state[name] = torch.cat([state[name], state[name][:1]])
    save_file(state, path, metadata={"format": "pt"})
    if manifest == "rewritten":
        write_checksums(folder)
    elif manifest == "none":
        (folder / MANIFEST_NAME).unlink()
    return name


# ---------------------------------------------------------------------- loading paths
def _paths(case: Case, folder: Path, data_dir: Path, clip: Path, tmp_path: Path, **kwargs):
    """(label, callable) for every way the package loads this folder."""
    cls = getattr(hs, case.model_class)
    paths = [("class", lambda: cls.from_pretrained(folder, **kwargs)),
             ("auto", lambda: case.auto.from_pretrained(folder, **kwargs))]
    if case.task:
        paths.append(("pipeline", lambda: pipeline(case.task, model=str(folder), model_kwargs=dict(kwargs))))
    if case.cli and not kwargs:
        argv = (["evaluate", str(folder), "--data", str(data_dir), "--limit", "2", "--no-generate"]
                if case.cli == "evaluate" else ["render", str(clip), "-o", str(tmp_path / "r.png"), "--model", str(folder)])
        paths.append(("cli", lambda: main(argv)))
    return paths


def assert_refused(case, folder, pattern, data_dir, nucla_dir, tmp_path, capsys, **kwargs):
    """Every loading path raises CheckpointError matching ``pattern`` (the CLI: one line, exit 2)."""
    clip = nucla_dir / "a11_s02_e00_v01.json"
    for label, load in _paths(case, folder, data_dir, clip, tmp_path, **kwargs):
        if label == "cli":
            capsys.readouterr()
            assert load() == 2, label
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and re.search(pattern, err[0]), (label, err)
        else:
            with pytest.raises(CheckpointError, match=pattern):
                load()


ALL = [c.name for c in CASES]


# ---------------------------------------------------------------------- the manifest
@pytest.mark.parametrize("name", ALL)
def test_saved_folders_carry_a_manifest_that_verifies(saved, name):
    manifest = json.loads((saved[name] / MANIFEST_NAME).read_text())
    assert manifest["format"] == MANIFEST_FORMAT
    entry = manifest["files"][WEIGHTS]
    _, tensors, _ = _layout(saved[name] / WEIGHTS)
    assert set(entry["tensors"]) == set(tensors)
    assert all(re.fullmatch(r"[0-9a-f]{64}", t["sha256"]) for t in entry["tensors"].values())
    assert entry["size"] == (saved[name] / WEIGHTS).stat().st_size
    verify_weights(saved[name])


def test_the_embedded_folders_ship_their_manifest():
    for name in hs.list_embedded_models():
        folder = Path(hs.embedded_model_path(name))
        assert (folder / MANIFEST_NAME).is_file(), name
        verify_weights(folder)


def test_a_folder_without_manifest_still_loads(copy_of):
    folder = copy_of("llamo")
    (folder / MANIFEST_NAME).unlink()
    model = AutoModelForImageTextToText.from_pretrained(folder)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in load_file(folder / WEIGHTS).items())


def test_sharded_saves_are_covered_shard_by_shard(tmp_path):
    torch.manual_seed(0)
    tiny_vgmt().save_pretrained(tmp_path, max_shard_size="100KB")
    shards = sorted(p.name for p in tmp_path.glob("model-*.safetensors"))
    assert len(shards) > 1
    assert set(json.loads((tmp_path / MANIFEST_NAME).read_text())["files"]) == set(shards)
    hs.VGMTModel.from_pretrained(tmp_path)
    last = tmp_path / shards[-1]
    raw = bytearray(last.read_bytes())
    raw[-3] ^= 4
    last.write_bytes(bytes(raw))
    with pytest.raises(CheckpointError, match=re.escape(str(last)) + ": tensor .*: its bytes differ"):
        AutoModel.from_pretrained(tmp_path)


def test_a_corrupted_manifest_is_refused(copy_of):
    folder = copy_of("vgmt")
    (folder / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(CheckpointError, match=f"{MANIFEST_NAME}: not a valid checksum manifest"):
        hs.VGMTModel.from_pretrained(folder)


# ---------------------------------------------------------------------- damage on every path
@pytest.mark.parametrize("fraction", [0.0, 0.13, 0.5, 0.77, 0.999])
@pytest.mark.parametrize("name", ALL)
def test_single_bit_flips_are_refused(copy_of, name, fraction, data_dir, nucla_dir, tmp_path, capsys):
    folder = copy_of(name)
    tensor = flip_bit(folder, fraction)
    pattern = re.escape(f"{folder / WEIGHTS}: tensor {tensor}: its bytes differ from the sha256")
    paths_to_try = BY_NAME[name] if fraction == 0.5 else Case(**{**BY_NAME[name].__dict__, "task": None, "cli": None})
    assert_refused(paths_to_try, folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


@pytest.mark.parametrize("name", ALL)
def test_swapped_offsets_are_refused(copy_of, name, data_dir, nucla_dir, tmp_path, capsys):
    folder = copy_of(name)
    a, b = swap_offsets(folder)
    pattern = (f"{re.escape(str(folder / WEIGHTS))}: tensor ({re.escape(a)}|{re.escape(b)}): .*holds the bytes of "
               f"tensor ({re.escape(a)}|{re.escape(b)}): offsets swapped")
    assert_refused(BY_NAME[name], folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


@pytest.mark.parametrize("name", ALL)
def test_a_header_dtype_edit_is_refused(copy_of, name, data_dir, nucla_dir, tmp_path, capsys):
    folder = copy_of(name)
    tensor = f32_to_i32(folder)
    pattern = re.escape(f"{folder / WEIGHTS}: tensor {tensor}: dtype I32 in the file, F32 when saved")
    assert_refused(BY_NAME[name], folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


@pytest.mark.parametrize("name", ALL)
def test_a_header_dtype_edit_without_manifest_is_refused(copy_of, name, data_dir, nucla_dir, tmp_path, capsys):
    folder = copy_of(name)
    tensor = f32_to_i32(folder)
    (folder / MANIFEST_NAME).unlink()
    pattern = re.escape(f"{folder / WEIGHTS}: integer tensors for floating weights: {tensor} is I32 in the file")
    assert_refused(BY_NAME[name], folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


@pytest.mark.parametrize("name", ALL)
def test_all_zero_data_is_refused(copy_of, name, data_dir, nucla_dir, tmp_path, capsys):
    folder = copy_of(name)
    zero_data(folder)
    pattern = re.escape(f"{folder / WEIGHTS}: tensor ") + r"\S+: its bytes differ"
    assert_refused(BY_NAME[name], folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


@pytest.mark.parametrize("manifest", [True, False])
@pytest.mark.parametrize("name", ALL)
def test_a_nan_weight_is_refused(copy_of, name, manifest, data_dir, nucla_dir, tmp_path, capsys):
    folder = copy_of(name)
    tensor = put_nan(folder)
    if not manifest:
        (folder / MANIFEST_NAME).unlink()
    pattern = re.escape(f"{folder / WEIGHTS}: tensor {tensor}: non-finite values (NaN or Inf)")
    assert_refused(BY_NAME[name], folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


def test_save_pretrained_of_nan_weights_writes_a_folder_that_is_refused(tmp_path):
    torch.manual_seed(0)
    model = tiny_vgmt()
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("inf")
    name = next(n for n, _ in model.named_parameters())
    model.save_pretrained(tmp_path)
    with pytest.raises(CheckpointError, match=re.escape(f"tensor {name}: non-finite values")):
        AutoModel.from_pretrained(tmp_path)


@pytest.mark.parametrize("name", ALL)
def test_a_deleted_config_field_is_refused(copy_of, name, data_dir, nucla_dir, tmp_path, capsys):
    case = BY_NAME[name]
    folder = copy_of(name)
    delete_field(folder, case.config_field)
    pattern = re.escape(f"{folder / 'config.json'}: missing fields ['{case.config_field}']")
    assert_refused(case, folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


def test_user_dicts_and_optional_fields_keep_their_defaults(saved, monkeypatch):
    config = json.loads((saved["vgmt"] / "config.json").read_text())
    del config["norm_groups"]
    assert hs.VGMTConfig.from_dict({k: v for k, v in config.items() if k != "transformers_version"}).norm_groups == 32
    monkeypatch.setattr(hs.VGMTConfig, "optional_config_fields", ("norm_groups",))
    monkeypatch.setattr(hs.VGMTConfig, "_saved_fields_cache", None)
    assert hs.VGMTConfig.from_dict(config).norm_groups == 32


@pytest.mark.parametrize("name", ALL)
def test_pickle_weights_are_never_loaded(copy_of, name, data_dir, nucla_dir, tmp_path, capsys):
    case = BY_NAME[name]
    folder = copy_of(name)
    torch.save(load_file(folder / WEIGHTS), folder / "pytorch_model.bin")
    assert_refused(case, folder, r"use_safetensors=False: hf_skeleton loads safetensors only", data_dir, nucla_dir,
                   tmp_path, capsys, use_safetensors=False)
    (folder / WEIGHTS).unlink()
    (folder / MANIFEST_NAME).unlink()
    pattern = re.escape(f"{folder}: no model.safetensors (or index) in the folder; found only pickle-based weights "
                        "['pytorch_model.bin']")
    assert_refused(case, folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


@pytest.mark.parametrize("manifest", ["rewritten", "stale", "none"])
@pytest.mark.parametrize("name", ALL)
def test_a_wrong_shaped_tensor_is_refused(copy_of, name, manifest, data_dir, nucla_dir, tmp_path, capsys):
    folder = copy_of(name)
    tensor = wrong_shape(folder, manifest)
    if manifest == "stale":
        pattern = re.escape(f"{folder / WEIGHTS}: tensor {tensor}: shape [")
    else:  # the manifest agrees with the file (or is absent): the loader compares with the model
        pattern = re.escape(f"{folder / WEIGHTS}: tensors with the wrong shape: {tensor} has shape (")
    assert_refused(BY_NAME[name], folder, pattern, data_dir, nucla_dir, tmp_path, capsys)


def test_wrong_shapes_load_only_when_asked_twice(copy_of):
    folder = copy_of("vgmt")
    wrong_shape(folder, "rewritten")
    with pytest.raises(CheckpointError, match="wrong shape"):
        hs.VGMTModel.from_pretrained(folder, strict=False)  # transformers' RuntimeError, typed
    hs.VGMTModel.from_pretrained(folder, strict=False, ignore_mismatched_sizes=True)


def test_damaged_folders_are_not_pushed(copy_of):
    folder = copy_of("draction")
    files_to_push(folder)
    tensor = flip_bit(folder, 0.5)
    with pytest.raises(CheckpointError, match=re.escape(f"tensor {tensor}: its bytes differ")):
        files_to_push(folder)


def test_pipeline_of_a_clean_folder_still_loads_and_other_errors_stay_transformers_own(saved, tmp_path):
    pipe = pipeline("skeleton-understanding", model=str(saved["llamo"]))
    assert type(pipe.model).__name__ == "LlamoForConditionalGeneration"
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(Exception) as err:  # not ours: whatever transformers raises, unchanged
        pipeline("skeleton-understanding", model=str(tmp_path))
    assert not isinstance(err.value, CheckpointError)


@pytest.mark.parametrize("name", ["llamo-nucla", "superman"])
def test_sixty_random_bit_flips_anywhere_in_the_file_are_all_refused(copy_of, name):
    """The audit's 60 flips anywhere, and 20 in the header: each one is a CheckpointError naming the file."""
    folder = copy_of(name)
    path = folder / WEIGHTS
    pristine = path.read_bytes()
    rng = torch.Generator().manual_seed(16)
    header_end = 8 + struct.unpack("<Q", pristine[:8])[0]
    offsets = (torch.randint(0, len(pristine), (60,), generator=rng).tolist()
               + torch.randint(0, header_end, (20,), generator=rng).tolist())  # and 20 in the header
    cls = getattr(hs, BY_NAME[name].model_class)
    for offset in offsets:
        damaged = bytearray(pristine)
        damaged[offset] ^= 1 << (offset % 8)
        path.write_bytes(bytes(damaged))
        with pytest.raises(CheckpointError, match=re.escape(str(path))):
            cls.from_pretrained(folder)
    path.write_bytes(pristine)
    cls.from_pretrained(folder)
