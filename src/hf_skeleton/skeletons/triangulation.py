"""Multi-view triangulation: 2D keypoints of several calibrated, synchronised cameras -> metric 3D.

:func:`triangulate` takes one view per camera: a video path (BlazePose runs on it, see
``readers/video_pose.py``), a sequence read from a video (its ``meta["keypoints_2d"]`` and
``meta["visibility"]``) or any 2D sequence in pixels (OpenPose JSON: ``meta["confidence"]`` as weights).
For every frame and joint:

1. the observed pixels are undistorted with the camera's lens model (:meth:`Camera.undistort`);
2. views whose weight (visibility, confidence) is below ``threshold`` are dropped;
3. left/right labels are checked per view (``swap_sides``): a single-view estimator sometimes swaps
   them for a stretch of frames (BlazePose does on the Pose2Sim demo's cam02, frames 41-73, where the
   person is seen from the side). Per frame and per body-part group closed under mirroring (arms, legs,
   face), every assignment of "this view is swapped" with fewer than half of the views swapped is
   triangulated and the one with the smallest mean reprojection error is kept (swapping all views at
   once only relabels the 3D result, so a majority of views keeps its labels);
4. weighted DLT (Pose2Sim's ``weighted_triangulation``: the two rows ``x P3 - P1``, ``y P3 - P2`` of each
   view times its weight, least singular vector by SVD) in undistorted pixels;
5. while the mean reprojection error exceeds ``max_reprojection_error`` pixels and more than
   ``min_views`` views remain, the view whose removal lowers it most is removed (Pose2Sim's rule); a point
   still above the threshold with ``min_views`` views, or seen by fewer, is not triangulated (masked);
6. optionally a centred moving average over time (:func:`~.readers.video_pose.smooth_observed`, the video
   reader's filter; ``smooth=False`` switches it off).

The result is in the calibration's world frame, metres (Qualisys and Pose2Sim calibrations: z up, declared
by ``up_axis``). ``meta["reprojection_error"]`` (T, J) is the mean distance in pixels between each used
view's observation and the projection (lens distortion included) of the triangulated point, before
smoothing; ``meta["reprojection_error_joint"]`` (J,) its mean over frames.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SkeletonInputError
from .calibration import Calibration, Camera, load_calibration
from .formats import UP_AXES, SkeletonFormat
from .sequence import SkeletonSequence

DEFAULT_THRESHOLD = 0.5  # the video reader's visibility threshold for mask
DEFAULT_MAX_REPROJECTION_ERROR = 30.0  # pixels; see BENCHMARKS.md "Skeletons from video" for the choice
METHOD = ("weighted DLT over undistorted pixels (weights = visibility), left/right swap check per view and "
          "body-part group, greedy removal of the worst view while the mean reprojection error is above the "
          "threshold (Pose2Sim's rule)")


def _view_name(view: Any) -> str:
    if isinstance(view, SkeletonSequence):
        if view.meta.get("camera"):
            return str(view.meta["camera"])
        return Path(str(view.meta.get("source", ""))).stem
    return Path(view).stem


def _read_view(view: Any, progress: bool | None, read_kwargs: dict[str, Any]) -> SkeletonSequence:
    if isinstance(view, SkeletonSequence):
        return view
    if not isinstance(view, (str, Path)):
        raise SkeletonInputError("views", "a list of video paths or SkeletonSequences (one per camera)",
                                 type(view).__name__)
    from .io import load_skeleton, reader_for

    options = reader_for(view).options()
    kwargs = dict(read_kwargs)
    for key, value in (("smooth", False), ("progress", progress)):
        if options is None or key in options:
            kwargs.setdefault(key, value)
    return load_skeleton(view, **kwargs)


def _view_2d(seq: SkeletonSequence, person: int) -> tuple[np.ndarray, np.ndarray]:
    """(T, J, 2) observed pixels (NaN where not observed) and (T, J) weights of one view."""
    src = seq.meta.get("source", "view")
    if "keypoints_2d" in seq.meta:  # a sequence read from a video
        kp = np.asarray(seq.meta["keypoints_2d"], dtype=np.float64)
        vis = seq.meta.get("visibility")
        weights = np.asarray(vis, dtype=np.float64) if vis is not None else np.ones(kp.shape[:2])
        if kp.shape != (seq.num_frames, seq.format.num_joints, 2) or weights.shape != kp.shape[:2]:
            raise SkeletonInputError(f"{src}: meta['keypoints_2d'] / meta['visibility']",
                                     f"shapes {(seq.num_frames, seq.format.num_joints, 2)} and "
                                     f"{(seq.num_frames, seq.format.num_joints)}",
                                     (kp.shape, weights.shape))
        detected = np.asarray(seq.meta.get("detected", np.ones(len(kp), bool)), dtype=bool)
        weights = np.where(detected[:, None], weights, 0.0)
    elif seq.format.dims == 2:
        if not 0 <= person < seq.num_persons:
            raise SkeletonInputError("person", f"a person index below {seq.num_persons} ({src})", person)
        kp = seq.positions[:, person, :, :2].astype(np.float64)
        conf = seq.meta.get("confidence")
        if conf is not None and np.shape(conf) == seq.mask.shape:
            weights = np.asarray(conf, dtype=np.float64)[:, person]
        else:
            weights = np.ones(kp.shape[:2])
        weights = np.where(seq.mask[:, person], weights, 0.0)
    else:
        raise SkeletonInputError(f"{src}: view", "a 2D view: a sequence read from a video (meta['keypoints_2d']) "
                                                 "or a 2D format in pixels", f"a {seq.format.dims}D "
                                                                             f"{seq.format.name!r} sequence")
    weights = np.where(np.isfinite(kp).all(-1) & np.isfinite(weights), np.clip(weights, 0.0, None), 0.0)
    return np.where(weights[..., None] > 0, kp, np.nan), weights


def _match_cameras(names: list[str], calib: Calibration, cameras: Sequence[str] | None) -> list[Camera]:
    if cameras is not None:
        if isinstance(cameras, str) or len(cameras) != len(names):
            raise SkeletonInputError("cameras", f"a list of {len(names)} camera names (one per view) among "
                                                f"{calib.names}", cameras)
        return [calib[c] for c in cameras]
    matched = []
    for name in names:
        hits = [c for c in calib.cameras if c.name == name] or \
               [c for c in calib.cameras if c.name.lower() in name.lower()]
        matched.append(hits[0] if len(hits) == 1 else None)
    if all(c is not None for c in matched) and len({c.name for c in matched}) == len(matched):
        return matched
    if len(names) == len(calib):
        return list(calib.cameras)  # no name matches: the calibration's order
    raise SkeletonInputError("cameras", f"views named after the calibration's cameras {calib.names} (or "
                                        f"cameras=[...] naming one per view)", names)


def _align_frames(seqs: list[SkeletonSequence]) -> list[np.ndarray]:
    """Per view, the rows of the frames all views hold (by ``meta["frame_indices"]`` when every view has
    them, else views must have the same length)."""
    ids = [seq.meta.get("frame_indices") for seq in seqs]
    if all(i is not None for i in ids):
        common = ids[0]
        for i in ids[1:]:
            common = np.intersect1d(common, i)
        if len(common) == 0:
            raise SkeletonInputError("views", "views that share frames (meta['frame_indices'])",
                                     [f"{int(np.min(i))}..{int(np.max(i))}" for i in ids])
        return [np.searchsorted(np.asarray(i), common) for i in ids]
    lengths = [seq.num_frames for seq in seqs]
    if len(set(lengths)) != 1:
        raise SkeletonInputError("views", "synchronised views with the same number of frames", lengths)
    return [np.arange(lengths[0])] * len(seqs)


def swap_groups(fmt: SkeletonFormat) -> list[np.ndarray]:
    """Joint groups whose left/right labels are checked together: unions of a body part and its mirror
    image (both arms, both legs; the face alone), each closed under the format's mirror pairs. Only groups
    holding a mirror pair are returned; a format without mirror pairs has none."""
    perm = np.asarray(fmt.mirror_permutation())
    part_of = np.full(fmt.num_joints, -1)
    for k, joints in enumerate(fmt.parts.values()):
        part_of[list(joints)] = np.where(part_of[list(joints)] < 0, k, part_of[list(joints)])
    part_of[part_of < 0] = len(fmt.parts)  # joints in no part: one more group
    parent = list(range(len(fmt.parts) + 1))

    def find(a):
        while parent[a] != a:
            a = parent[a]
        return a

    for j in range(fmt.num_joints):
        a, b = find(part_of[j]), find(part_of[perm[j]])
        parent[a] = b
    roots = np.array([find(p) for p in part_of])
    groups = [np.flatnonzero(roots == r) for r in dict.fromkeys(roots.tolist())]
    return [g for g in groups if np.any(perm[g] != g)]


def weighted_dlt(pixels: np.ndarray, projections: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted linear triangulation (Pose2Sim's ``weighted_triangulation``).

    pixels (..., V, 2) undistorted pixels, projections (V, 3, 4) ``K [R | t]``, weights (..., V) (0 drops a
    view). Returns (..., 3) points; NaN where fewer than two views have a positive weight or the point
    is at infinity."""
    u = np.nan_to_num(pixels)
    w = np.where(weights > 0, weights, 0.0)
    P = projections
    rows_x = (u[..., 0, None] * P[:, 2] - P[:, 0]) * w[..., None]  # (..., V, 4)
    rows_y = (u[..., 1, None] * P[:, 2] - P[:, 1]) * w[..., None]
    A = np.concatenate([rows_x, rows_y], axis=-2)
    shape = A.shape[:-2]
    A = A.reshape(-1, A.shape[-2], 4)
    out = np.full((len(A), 3), np.nan)
    if len(A):
        _, _, vt = np.linalg.svd(A, full_matrices=False)
        h = vt[:, -1]
        with np.errstate(divide="ignore", invalid="ignore"):
            out = h[:, :3] / h[:, 3:]
    out = out.reshape(shape + (3,))
    ok = ((w > 0).sum(-1) >= 2) & np.isfinite(out).all(-1)
    return np.where(ok[..., None], out, np.nan)


def _reprojection(points: np.ndarray, observed: np.ndarray, weights: np.ndarray,
                  cameras: list[Camera]) -> tuple[np.ndarray, np.ndarray]:
    """Per view distance (..., V) in pixels between ``observed`` (distorted pixels) and the projection of
    ``points`` (..., 3); and its mean over the views with a positive weight (..., ) (NaN without)."""
    dist = np.stack([np.linalg.norm(cam.project(points) - observed[..., v, :], axis=-1)
                     for v, cam in enumerate(cameras)], axis=-1)
    used = (weights > 0) & np.isfinite(dist)
    with np.errstate(invalid="ignore"):
        mean = np.where(used, dist, 0.0).sum(-1) / used.sum(-1)
    return dist, np.where(used.sum(-1) > 0, mean, np.nan)


def _ideal_reprojection(points: np.ndarray, ideal: np.ndarray, weights: np.ndarray,
                        projections: np.ndarray) -> np.ndarray:
    """Weighted-view mean pinhole reprojection error in undistorted pixels (..., ) (for the swap check)."""
    h = np.concatenate([points, np.ones(points.shape[:-1] + (1,))], -1)
    proj = np.einsum("vij,...j->...vi", projections, h)
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = proj[..., :2] / proj[..., 2:]
        d = np.linalg.norm(uv - np.nan_to_num(ideal), axis=-1)
    used = weights > 0
    return np.where(used, d, 0.0).sum(-1) / np.maximum(used.sum(-1), 1)


def _check_swaps(ideal: np.ndarray, weights: np.ndarray, projections: np.ndarray, fmt: SkeletonFormat
                 ) -> np.ndarray:
    """(T, V, J) bool: where a view's left/right labels are swapped (see the module docstring, step 3)."""
    T, V, J, _ = ideal.shape
    swapped = np.zeros((T, V, J), bool)
    perm = np.asarray(fmt.mirror_permutation())
    combos = [c for k in range((V + 1) // 2 + (V % 2 == 0)) for c in itertools.combinations(range(V), k)
              if 2 * k < V or 0 not in c]  # with half the views swapped, keep view 0's labels
    for group in swap_groups(fmt):
        best = np.full(T, np.inf)
        choice = np.zeros(T, np.int64)
        for n, combo in enumerate(combos):
            flip = np.zeros(V, bool)
            flip[list(combo)] = True
            u = np.where(flip[None, :, None, None], ideal[:, :, perm[group]], ideal[:, :, group])  # (T, V, G, 2)
            w = np.where(flip[None, :, None], weights[:, :, perm[group]], weights[:, :, group])  # (T, V, G)
            u, w = u.transpose(0, 2, 1, 3), w.transpose(0, 2, 1)  # (T, G, V, ...)
            points = weighted_dlt(u, projections, w)
            err = _ideal_reprojection(points, u, w, projections)  # (T, G)
            valid = np.isfinite(err)
            score = np.where(valid.any(1), np.where(valid, err, 0.0).sum(1) / np.maximum(valid.sum(1), 1), np.inf)
            better = score < best - 1e-9  # ties keep the assignment with fewer swapped views
            best = np.where(better, score, best)
            choice = np.where(better, n, choice)
        for n, combo in enumerate(combos):
            if combo:
                rows = choice == n
                swapped[np.ix_(rows, list(combo), group)] = True
    return swapped


def triangulate(views: Sequence[Any], calibration: str | Path | Calibration, *,
                cameras: Sequence[str] | None = None, threshold: float = DEFAULT_THRESHOLD, min_views: int = 2,
                max_reprojection_error: float = DEFAULT_MAX_REPROJECTION_ERROR, swap_sides: bool = True,
                smooth: bool | int = True, up_axis: str = "z", person: int = 0, progress: bool | None = None,
                **read_kwargs: Any) -> SkeletonSequence:
    """Triangulate synchronised views of calibrated cameras into a metric 3D sequence.

    Args:
        views: one entry per camera: a video path (read with ``load_skeleton(path, smooth=False,
            **read_kwargs)``: BlazePose), a sequence read from a video, or a 2D sequence in pixels (e.g. an
            OpenPose JSON folder; ``person`` picks the person slot). All views share one joint format.
        calibration: a ``.toml`` (Pose2Sim/anipose) or ``.qca.txt`` (Qualisys) file, a folder holding one,
            or a :class:`~.calibration.Calibration`.
        cameras: the calibration camera of each view; default: by name (a view whose file stem or
            ``meta["camera"]`` is or contains a camera's name), else the calibration's order.
        threshold: a view's keypoint is used when its weight (visibility, confidence) is at least this.
        min_views: at least this many views (>= 2) per triangulated point.
        max_reprojection_error: pixels; views are removed one by one while the mean reprojection error is
            above it, and a point still above it with ``min_views`` views is not triangulated (masked).
            ``float("inf")`` keeps every usable view.
        swap_sides: check each view's left/right labels per frame and body-part group (module docstring).
        smooth: ``True``: a centred moving average over triangulated frames of about 0.1 s (the video
            reader's filter); an odd int: that window in frames; ``False``: none.
        up_axis: the calibration world's up axis, declared on the output format (Qualisys, Pose2Sim: z).
        person: the person slot of 2D sequences with several persons.
        progress: passed to the video reader (a progress bar per video).
        **read_kwargs: passed to ``load_skeleton`` for paths (``max_frames=``, ``stride=``, ``start=``...).

    Returns:
        A sequence (T, 1, J, 3) in metres in the views' joint format (e.g. ``blazepose33`` with
        ``up_axis="z"``); ``mask`` False where a joint was not triangulated. ``meta``: ``cameras``,
        ``views`` (sources), ``calibration``, ``frame_indices``, ``times``, ``reprojection_error`` (T, J)
        pixels, ``reprojection_error_joint`` (J,), ``views_used`` (T, J, V) bool, ``swapped`` (T, V, J) bool,
        ``smooth_window`` and the options.

    Raises:
        SkeletonInputError: fewer than two views, views of different formats or frame rates, no shared
            frames, views that do not match the calibration's cameras, or bad options.
        SkeletonFileError: a bad calibration or view file (the error names the file and the field).
    """
    from .readers.video_pose import _window, smooth_observed

    if isinstance(views, (str, Path, SkeletonSequence)) or len(views) < 2:
        raise SkeletonInputError("views", "a list of at least two views (one per camera)",
                                 views if isinstance(views, (str, Path)) else type(views).__name__)
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float, np.number)) or not 0 <= threshold <= 1:
        raise SkeletonInputError("threshold", "a weight threshold in [0, 1]", threshold)
    if isinstance(min_views, bool) or not isinstance(min_views, (int, np.integer)) or min_views < 2:
        raise SkeletonInputError("min_views", "an integer >= 2", min_views)
    if isinstance(max_reprojection_error, bool) or not isinstance(max_reprojection_error, (int, float, np.number)) \
            or not max_reprojection_error > 0:
        raise SkeletonInputError("max_reprojection_error", "a positive number of pixels (inf: no limit)",
                                 max_reprojection_error)
    if up_axis not in UP_AXES:
        raise SkeletonInputError("up_axis", f"one of {UP_AXES}", up_axis)
    _window(smooth, 30.0)  # validate before any reading
    calib = load_calibration(calibration)
    seqs = [_read_view(v, progress, read_kwargs) for v in views]
    fmt = seqs[0].format
    for seq in seqs[1:]:
        if seq.format.joints != fmt.joints:
            raise SkeletonInputError("views", f"views of one joint format ({fmt.name!r})", seq.format.name)
    fps = seqs[0].fps
    if any(abs(seq.fps - fps) > 1e-6 * fps for seq in seqs):
        raise SkeletonInputError("views", "views with the same frame rate", [seq.fps for seq in seqs])
    pixels, weights = zip(*(_view_2d(seq, person) for seq in seqs))
    cams = _match_cameras([_view_name(v) for v in views], calib, cameras)
    if min_views > len(cams):
        raise SkeletonInputError("min_views", f"at most the number of views ({len(cams)})", min_views)
    rows = _align_frames(seqs)
    observed = np.stack([p[r] for p, r in zip(pixels, rows)], axis=1)  # (T, V, J, 2) distorted pixels
    weights = np.stack([w[r] for w, r in zip(weights, rows)], axis=1)  # (T, V, J)
    weights = np.where(weights >= threshold, weights, 0.0)
    ideal = np.stack([cam.undistort(observed[:, v]) for v, cam in enumerate(cams)], axis=1)
    projections = np.stack([cam.projection_matrix() for cam in cams])
    T, V, J, _ = observed.shape

    swapped = np.zeros((T, V, J), bool)
    if swap_sides and fmt.mirror_pairs:
        swapped = _check_swaps(ideal, weights, projections, fmt)
        perm = np.asarray(fmt.mirror_permutation())
        observed = np.where(swapped[..., None], observed[:, :, perm], observed)
        ideal = np.where(swapped[..., None], ideal[:, :, perm], ideal)
        weights = np.where(swapped, weights[:, :, perm], weights)

    obs_j, ideal_j = observed.transpose(0, 2, 1, 3), ideal.transpose(0, 2, 1, 3)  # (T, J, V, 2)
    w = np.ascontiguousarray(weights.transpose(0, 2, 1))  # (T, J, V), updated in place below
    points = weighted_dlt(ideal_j, projections, w)  # (T, J, 3)
    _, error = _reprojection(points, obs_j, w, cams)
    for _ in range(V - min_views):  # Pose2Sim: drop the view whose removal helps most, while above threshold
        active = np.flatnonzero(((error > max_reprojection_error) & ((w > 0).sum(-1) > min_views)).ravel())
        if not len(active):
            break
        wa = w.reshape(-1, V)[active]
        ia, oa = ideal_j.reshape(-1, V, 2)[active], obs_j.reshape(-1, V, 2)[active]
        best_err = np.full(len(active), np.inf)
        best_pts = np.full((len(active), 3), np.nan)
        best_w = wa.copy()
        for v in range(V):
            cand = wa.copy()
            cand[:, v] = 0.0
            pts = weighted_dlt(ia, projections, cand)
            _, err = _reprojection(pts, oa, cand, cams)
            err = np.where((wa[:, v] > 0) & np.isfinite(err), err, np.inf)
            better = err < best_err
            best_err = np.where(better, err, best_err)
            best_pts = np.where(better[:, None], pts, best_pts)
            best_w = np.where(better[:, None], cand, best_w)
        keep = np.isfinite(best_err)
        idx = active[keep]
        w.reshape(-1, V)[idx] = best_w[keep]
        points.reshape(-1, 3)[idx] = best_pts[keep]
        error.reshape(-1)[idx] = best_err[keep]
    ok = np.isfinite(points).all(-1) & (error <= max_reprojection_error)
    error = np.where(ok, error, np.nan)

    window = _window(smooth, fps)
    if window > 1:
        points = smooth_observed(np.where(ok[..., None], points, 0.0), ok, window)
    first = seqs[0].meta
    frame_ids = np.asarray(first["frame_indices"])[rows[0]] if "frame_indices" in first else np.arange(T)
    times = np.asarray(first["times"])[rows[0]] if "times" in first else frame_ids / fps
    with np.errstate(invalid="ignore"):
        joint_error = np.nanmean(np.where(ok, error, np.nan), axis=0) if ok.any() else np.full(J, np.nan)
    out_fmt = fmt
    if (fmt.dims, fmt.units, fmt.up_axis) != (3, "m", up_axis):
        out_fmt = SkeletonFormat(**{**fmt.to_dict(), "dims": 3, "units": "m", "up_axis": up_axis})
    meta = {
        "source": str(calib.source),
        "views": [str(s.meta.get("source", _view_name(v))) for s, v in zip(seqs, views)],
        "cameras": [c.name for c in cams],
        "calibration": calib.source,
        "frame_indices": frame_ids.astype(np.int64),
        "times": times.astype(np.float64),
        "reprojection_error": error.astype(np.float32),
        "reprojection_error_joint": joint_error.astype(np.float32),
        "views_used": (w > 0) & ok[..., None],
        "swapped": swapped,
        "method": METHOD,
        "threshold": float(threshold),
        "min_views": int(min_views),
        "max_reprojection_error": float(max_reprojection_error),
        "smooth_window": window,
        "units": "m",
        "world_frame": f"the calibration's world frame ({up_axis} up)",
    }
    for key in ("estimator", "persons"):
        if key in first:
            meta[key] = first[key]
    positions = np.where(ok[..., None], points, 0.0)[:, None].astype(np.float32)
    return SkeletonSequence(positions=positions, mask=ok[:, None], fps=fps, format=out_fmt, meta=meta)
