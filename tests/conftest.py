"""Shared fixtures. Real data lives in ../shared/data: a missing folder is a failure, never a skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))

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
