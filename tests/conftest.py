"""Shared fixtures. Real data lives in ../shared/data: a missing folder is a failure, never a skip."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))
PUBLISHED_CONFIGS = REPO / "tests" / "fixtures" / "published_configs"

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_collection_modifyitems(config, items):
    """The published-dimension tests hold 5-12 GB each: under ``-n 2`` (README) they share one worker
    (``--dist loadgroup``), so two never run at once."""
    for item in items:
        if "published_dimensions" in item.path.name:
            item.add_marker(pytest.mark.xdist_group("published_dimensions"))


def pytest_sessionstart(session):
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(f"real data folder {SHARED_DATA} is missing: tests read ../shared/data "
                                "(set HF_SKELETON_DATA to point elsewhere)")
    import torch

    # one thread per test process: the README's -n 2 runs two workers on a 2-core machine (the modules of large
    # models take both cores for themselves: two_torch_threads)
    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return SHARED_DATA


@pytest.fixture(scope="session")
def nucla_dir(data_dir) -> Path:
    return data_dir / "nw_ucla" / "all_sqe"


@pytest.fixture(scope="session")
def cmu_dir(data_dir) -> Path:
    return data_dir / "cmu_mocap_bvh"


@pytest.fixture(scope="session")
def humanml3d_dir(data_dir) -> Path:
    return data_dir / "humanml3d_sample"


@pytest.fixture(scope="session")
def pose2sim_dir(data_dir) -> Path:
    return data_dir / "pose2sim_demo"


@pytest.fixture(scope="session")
def published_vlm(tmp_path_factory):
    """``published_vlm(name, text_layers=1, vision_layers=1) -> folder``: a random VLM of the published
    dimensions of ``tests/fixtures/published_configs/<name>.json`` (depth cut, bfloat16), its tokenizer and
    image processor, saved once per session (1-3 GB, 20-50 s each) and deleted when the session ends."""
    from hf_skeleton.testing_published import published_vlm_folder

    root = tmp_path_factory.mktemp("published_vlms")
    built: dict[tuple, Path] = {}

    def make(name: str, text_layers: int = 1, vision_layers: int = 1) -> Path:
        key = (name, text_layers, vision_layers)
        if key not in built:
            built[key] = published_vlm_folder(PUBLISHED_CONFIGS / f"{name}.json",
                                              root / f"{name}-t{text_layers}-v{vision_layers}",
                                              text_layers=text_layers, vision_layers=vision_layers)
        return built[key]

    yield make
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def two_torch_threads():
    """Both cores for a module of large models (the suite runs one thread), the previous setting restored after."""
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(previous)



ARMS_ACTIONS = {1: "pick up with one hand", 6: "stand up", 8: "donning", 11: "throw"}


@pytest.fixture(scope="session")
def make_arms_dataset(nucla_dir, tmp_path_factory):
    """``make(per_view, name)``: real N-UCLA clips of 4 actions (``per_view[v]`` of view v each) converted through
    the CLI into the user-defined arms-only FORMAT.json (``hf_skeleton.testing.nucla_arms_format_dict``), view 3
    as ``test``; returns ``(raw folder, dataset folder)``."""
    import csv
    import json

    from hf_skeleton.cli import main
    from hf_skeleton.testing import nucla_arms_format_dict

    def make(per_view: dict[int, int], name: str = "dataset") -> tuple[Path, Path]:
        raw = tmp_path_factory.mktemp(f"{name}_raw")
        (raw / "arms.json").write_text(json.dumps(nucla_arms_format_dict(), indent=1))
        rows = [["file", "label", "split"]]
        for a, label in ARMS_ACTIONS.items():
            for v, n in per_view.items():
                for f in sorted(nucla_dir.glob(f"a{a:02d}_s*_v{v:02d}.json"))[:n]:
                    shutil.copy(f, raw / f.name)
                    rows.append([f.name, label, "test" if v == 3 else "train"])
        with open(raw / "labels.csv", "w", newline="") as fh:
            csv.writer(fh).writerows(rows)
        out = tmp_path_factory.mktemp(name) / name
        assert main(["convert", str(raw), str(out), "--dataset", "folder", "--labels", str(raw / "labels.csv"),
                     "--format", str(raw / "arms.json")]) == 0
        return raw, out

    return make


@pytest.fixture(scope="session")
def tiny_superman_folder(tmp_path_factory) -> Path:
    """A tiny random Superman (``hf_skeleton.testing.tiny_superman``, seed 0) saved with its processor, built once
    for the session's pipeline, app and demo tests; none writes to it."""
    import torch

    from hf_skeleton.testing import tiny_superman

    torch.manual_seed(0)
    model, processor = tiny_superman()
    folder = tmp_path_factory.mktemp("tiny_superman")
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder
