"""Where the real recordings are: ``$HF_SKELETON_DATA``, then ``shared/data`` beside the working
directory or the repository (the layout this project's machines and CI use)."""

from __future__ import annotations

import os
from pathlib import Path

DEMO_CLIP = "a04_s01_e00_v01.json"  # N-UCLA "walk around", 3 s


def _data_roots(start: Path | None = None) -> list[Path]:
    """Where the real data may be: ``$HF_SKELETON_DATA``, then ``shared/data`` beside or above the working
    directory, then ``../shared/data`` beside the repository of an editable install."""
    roots = []
    if os.environ.get("HF_SKELETON_DATA"):
        roots.append(Path(os.environ["HF_SKELETON_DATA"]))
    here = Path(start or Path.cwd()).resolve()
    roots += [here / "shared" / "data", here.parent / "shared" / "data"]
    roots.append(Path(__file__).resolve().parents[3].parent / "shared" / "data")  # editable install: repo/../shared
    return roots


def find_data_dir(subfolder: str, start: Path | None = None) -> Path | None:
    """The first data root (see :func:`find_demo_clip`) that holds ``subfolder`` (e.g. ``"cmu_mocap_bvh"``)."""
    return next((root for root in _data_roots(start) if (root / subfolder).is_dir()), None)


def find_demo_clip(start: Path | None = None) -> Path | None:
    """A real N-UCLA clip from ``../shared/data`` (relative to the working directory or the repository),
    ``$HF_SKELETON_DATA``, or None."""
    for root in _data_roots(start):
        folder = root / "nw_ucla" / "all_sqe"
        if (folder / DEMO_CLIP).is_file():
            return folder / DEMO_CLIP
        if folder.is_dir():
            found = sorted(folder.glob("*.json"))
            if found:
                return found[0]
    return None
