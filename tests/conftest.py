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


def pytest_sessionstart(session):
    if not SHARED_DATA.is_dir():
        raise pytest.UsageError(f"real data folder {SHARED_DATA} is missing: tests read ../shared/data "
                                "(set HF_SKELETON_DATA to point elsewhere)")


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

