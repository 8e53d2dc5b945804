"""A multi-view trial folder (Pose2Sim's layout): synchronised videos plus a camera calibration -> 3D.

``load_skeleton("trial/")`` reads a folder holding a calibration (``calibration/*.toml`` or
``calibration/*.qca.txt``, or one at the top) and at least two videos (``videos/*.mp4`` or at the top),
runs BlazePose on every video and triangulates the views (:func:`hf_skeleton.skeletons.triangulation.
triangulate`): ``blazepose33`` in metres in the calibration's world frame (z up).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import SkeletonFileError
from ..calibration import find_calibration
from ..sequence import SkeletonSequence
from ..triangulation import DEFAULT_MAX_REPROJECTION_ERROR, DEFAULT_THRESHOLD, triangulate
from ._common import natural_key
from .video_pose import VIDEO_EXTENSIONS


def trial_videos(folder: Path) -> list[Path]:
    """The videos of a trial folder: ``folder/videos/*`` if that folder holds any, else ``folder/*``."""
    for where in (folder / "videos", folder):
        try:
            files = [f for f in where.iterdir() if f.is_file() and f.suffix.lower() in VIDEO_EXTENSIONS]
        except OSError:
            continue
        if files:
            return sorted(files, key=lambda f: natural_key(f.name))
    return []


def is_multiview_folder(path: Path) -> bool:
    path = Path(path)
    return path.is_dir() and len(trial_videos(path)) >= 2 and find_calibration(path) is not None


def read_multiview(path: Path, *, calibration: str | Path | None = None, threshold: float = DEFAULT_THRESHOLD,
                   min_views: int = 2, max_reprojection_error: float = DEFAULT_MAX_REPROJECTION_ERROR,
                   swap_sides: bool = True, smooth: bool | int = True, up_axis: str = "z", stride: int = 1,
                   max_frames: int | None = None, start: float | None = None, end: float | None = None,
                   progress: bool | None = None, model: str = "full") -> SkeletonSequence:
    """Triangulate a trial folder's videos with its calibration (see the module docstring).

    Args:
        path: the trial folder.
        calibration: a calibration file to use instead of the folder's own.
        threshold, min_views, max_reprojection_error, swap_sides, smooth, up_axis: as for
            :func:`~hf_skeleton.skeletons.triangulation.triangulate`.
        stride, max_frames, start, end, progress, model: as for reading one video (applied to every video).
    """
    path = Path(path)
    videos = trial_videos(path)
    if len(videos) < 2:
        raise SkeletonFileError(path, "videos", f"at least two videos ({', '.join(VIDEO_EXTENSIONS)}) in "
                                                "videos/ or the folder itself", len(videos))
    if calibration is None:
        calibration = find_calibration(path)
        if calibration is None:
            raise SkeletonFileError(path, "calibration", "a calibration file (calibration/*.toml or *.qca.txt)",
                                    "none")
    seq = triangulate(videos, calibration, threshold=threshold, min_views=min_views,
                      max_reprojection_error=max_reprojection_error, swap_sides=swap_sides, smooth=smooth,
                      up_axis=up_axis, progress=progress, stride=stride, max_frames=max_frames, start=start,
                      end=end, model=model)
    seq.meta["source"] = str(path)
    return seq
