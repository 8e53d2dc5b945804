"""Transforms of a :class:`SkeletonSequence`: centring, scale normalisation, view alignment,
resampling, mirroring and seeded augmentations.

Every function returns a new sequence and appends a JSON-friendly record of what it did to
``meta["transforms"]`` (centre, scale factor, rotation matrix, frame indices ...), so that
:func:`denormalize` can undo :func:`normalize`. Masked joints (``mask == False``) never enter a
statistic (centre, bone lengths, facing direction) and stay masked with position 0.

Coordinates: positions are (T, P, J, 3). The up axis comes from ``seq.format.up_axis``. Up, facing,
bone lengths and root positions are defined once in :mod:`hf_skeleton.skeletons.geometry` (shared
with DrAction's camera); random rotations use :class:`scipy.spatial.transform.Rotation`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from ..errors import SkeletonInputError
from . import geometry
from .geometry import up_vector
from .sequence import SkeletonSequence

CENTER_MODES = ("first_frame", "per_frame", "none")
RESAMPLE_MODES = ("uniform", "random")


# ---------------------------------------------------------------------- helpers
def _check_seq(seq: Any, name: str = "seq") -> SkeletonSequence:
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError(name, "a SkeletonSequence", type(seq).__name__)
    return seq


def _rng(seed: int | None, rng: np.random.Generator | None) -> np.random.Generator:
    if rng is not None:
        if not isinstance(rng, np.random.Generator):
            raise SkeletonInputError("rng", "a numpy.random.Generator", type(rng).__name__)
        return rng
    return np.random.default_rng(seed)


def _derive(seq: SkeletonSequence, record: dict[str, Any], *, positions: np.ndarray | None = None,
            mask: np.ndarray | None = None, orientations: np.ndarray | None | str = "keep",
            fps: float | None = None, frames: np.ndarray | None = None,
            joints: list[int] | None = None) -> SkeletonSequence:
    """A new sequence with some arrays replaced and ``record`` appended to meta["transforms"].

    Per-frame arrays in ``meta`` (first dimension T, e.g. a TRC ``time`` column or NTU
    ``tracking_state`` (T, P, J)) follow ``frames`` (source frame of each new frame) and, when
    shaped (T, P, J, ...), the joint permutation ``joints``, so they stay aligned with the clip.
    """
    meta = dict(seq.meta)
    T, P, J = seq.mask.shape
    for key, value in seq.meta.items():
        if key == "transforms" or not isinstance(value, np.ndarray) or value.ndim == 0 or value.shape[0] != T:
            continue
        if frames is not None:
            value = value[frames]
        if joints is not None and value.ndim >= 3 and value.shape[1:3] == (P, J):
            value = value[:, :, joints]
        meta[key] = value
    meta["transforms"] = [*seq.meta.get("transforms", []), record]
    if isinstance(orientations, str):
        orientations = None if seq.orientations is None else seq.orientations.copy()
    return SkeletonSequence(
        positions=seq.positions.copy() if positions is None else positions,
        mask=seq.mask.copy() if mask is None else mask,
        fps=seq.fps if fps is None else fps,
        format=seq.format, meta=meta, orientations=orientations)


def _rotate(seq: SkeletonSequence, rot: np.ndarray, centre: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Positions rotated by ``rot`` (3, 3) about ``centre`` (3,); orientations pre-multiplied."""
    pos = (seq.positions - centre) @ rot.T + centre
    pos[~seq.mask] = 0.0
    ori = None if seq.orientations is None else np.einsum("ij,tpkjl->tpkil", rot, seq.orientations)
    return pos.astype(np.float32), None if ori is None else ori.astype(np.float32)


# ---------------------------------------------------------------------- statistics
# The geometry itself (up, facing, bone lengths, root) is defined once in .geometry, on arrays; these
# are its SkeletonSequence forms.
def root_positions(seq: SkeletonSequence, root: int | str | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame reference point (T, 3) and whether it was found (T,) (:func:`.geometry.root_positions`).

    The root joint of the first person observing it (``root``: a joint id or name overriding the
    format's); a forest format (several roots, e.g. two arms without a torso) uses the mean of its
    roots. Where no person observes the root(s), the mean of all observed joints of that frame;
    frames with nothing observed are marked not found.
    """
    _check_seq(seq)
    if root is None:
        r: int | tuple[int, ...] = seq.format.roots
    else:
        r = seq.format.index(root) if isinstance(root, str) else int(root)
        if not 0 <= r < seq.num_joints:
            raise SkeletonInputError("root", f"a joint id in 0..{seq.num_joints - 1} or a joint name", root)
    return geometry.root_positions(seq.positions, seq.mask, r)


def bone_lengths(seq: SkeletonSequence) -> np.ndarray:
    """Lengths (T, P, E) of the format's bones; NaN where an endpoint is masked."""
    _check_seq(seq)
    return geometry.bone_lengths(seq.positions, seq.format, seq.mask)


def median_bone_length(seq: SkeletonSequence) -> float | None:
    """Median of every observed bone length in the clip (all frames and persons); None if none is
    observed or all have zero length."""
    _check_seq(seq)
    return geometry.median_bone_length(seq.positions, seq.mask, seq.format)


def facing_rotation(seq: SkeletonSequence, frame: int = 0) -> tuple[np.ndarray | None, str]:
    """Rotation (3, 3) about the up axis that turns the body to face the camera, and its source.

    The body's facing is :func:`.geometry.body_facing` of the canonical pose of frames ``frame:``
    (per joint its first observation; left = mean of the format's left - right mirror pairs, made
    horizontal), the same facing DrAction's ``front`` view looks at. After rotation the body faces
    ``-sensor_forward`` (-z for y-up data viewed down +z). Returns ``(None, reason)`` when no
    mirror pair is observed, the pairs are vertical, or the data is 2D.
    """
    _check_seq(seq)
    return geometry.facing_rotation(seq.positions, seq.mask, seq.format, frame)


def upright_rotation(seq: SkeletonSequence) -> tuple[np.ndarray | None, str]:
    """Rotation (3, 3) that makes the body upright and face the camera, and its source
    (:func:`.geometry.upright_rotation`: spine onto the up axis, hips and shoulders onto the
    camera's left-right axis, averaged over the clip)."""
    _check_seq(seq)
    return geometry.upright_rotation(seq.positions, seq.mask, seq.format)


ALIGN_VIEW_MODES = ("none", "facing", "upright")


def align_view_mode(align_view: bool | str) -> str:
    """``align_view`` as one of :data:`ALIGN_VIEW_MODES` (``True`` is ``"facing"``, ``False`` ``"none"``)."""
    if isinstance(align_view, (bool, np.bool_)):
        return "facing" if align_view else "none"
    if align_view not in ALIGN_VIEW_MODES:
        raise SkeletonInputError("align_view", f"a bool or one of {ALIGN_VIEW_MODES}", align_view)
    return align_view


# ---------------------------------------------------------------------- normalisation
def normalize(seq: SkeletonSequence, *, center: str = "first_frame", scale: bool = True,
              target_bone_length: float = 1.0, align_view: bool | str = False,
              root: int | str | None = None) -> SkeletonSequence:
    """Root-centred, scale-normalised (and optionally view-aligned) copy.

    ``x' = R (x - c) / s`` with
      - ``c``: the root joint (:func:`root_positions`; the mean of the roots for a forest format with
        several) of the first frame that has one
        (``center="first_frame"``, one (3,) point for the whole clip, so motion is kept), of every
        frame (``"per_frame"``, (T, 3)), or 0 (``"none"``);
      - ``s = median_bone_length / target_bone_length`` (``scale=True``; 1 when no bone is observed);
      - ``R``: rotation about the up axis that makes the body face the camera (``align_view=True``
        or ``"facing"``, :func:`facing_rotation`; DrAction's ``front`` view of the raw clip then sees
        what the sensor's view of the aligned clip shows), or the full rotation that
        also makes the spine vertical (``"upright"``, :func:`upright_rotation`).

    View alignment never fails on a clip: ``"upright"`` falls back to ``"facing"`` when the clip (or its
    format: a forest of two arms has no hips) lacks hips and shoulders, and ``"facing"`` to the identity
    when no mirror pair is observed or the data is 2D; ``view_source`` in the record says which was used
    and why. A model's processor, whose alignment is fixed for its format, instead refuses a mode the
    format cannot support (:func:`.geometry.check_view_alignment`), and the training recipes pick the
    strongest supported one (:func:`.geometry.supported_view_alignment`).

    Persons share one centre (their relative placement is kept). The record in
    ``meta["transforms"]`` holds ``c``, ``s`` and ``R``; :func:`denormalize` inverts it.
    """
    _check_seq(seq)
    if center not in CENTER_MODES:
        raise SkeletonInputError("center", f"one of {CENTER_MODES}", center)
    if not (np.isfinite(target_bone_length) and target_bone_length > 0):
        raise SkeletonInputError("target_bone_length", "a positive number", target_bone_length)
    ref, found = root_positions(seq, root)
    if center == "first_frame":
        c = ref[np.argmax(found)] if found.any() else np.zeros(3)
        centre = np.broadcast_to(c, (seq.num_frames, 3))
    elif center == "per_frame":
        centre = ref.copy()
        if found.any() and not found.all():  # frames with nothing observed take the nearest found centre
            idx = np.flatnonzero(found)
            nearest = idx[np.abs(np.arange(seq.num_frames)[:, None] - idx[None]).argmin(1)]
            centre = ref[nearest]
    else:
        centre = np.zeros((seq.num_frames, 3))
    median = median_bone_length(seq) if scale else None
    s = median / target_bone_length if median is not None else 1.0
    rot, view_source, mode = np.eye(3), None, align_view_mode(align_view)
    if mode != "none" and seq.format.dims == 3:
        found_rot, view_source = upright_rotation(seq) if mode == "upright" else facing_rotation(seq)
        if found_rot is None and mode == "upright":
            why_not = view_source
            found_rot, view_source = facing_rotation(seq)
            view_source = f"{view_source} (upright impossible: {why_not})"
        if found_rot is not None:
            rot = found_rot
    elif mode != "none":
        view_source = "skipped for 2D data"
    pos = ((seq.positions - centre[:, None, None]) @ rot.T) / s
    ori = None if seq.orientations is None else np.einsum("ij,tpkjl->tpkil", rot, seq.orientations)
    record = {"name": "normalize", "center_mode": center,
              "center": (centre[0] if center != "per_frame" else centre).tolist(),
              "scale": float(s), "median_bone_length": median, "target_bone_length": float(target_bone_length),
              "rotation": rot.tolist(), "view_source": view_source}
    return _derive(seq, record, positions=pos.astype(np.float32), orientations=ori)


def denormalize(seq: SkeletonSequence) -> SkeletonSequence:
    """Undo the most recent :func:`normalize` recorded in ``meta["transforms"]``.

    Transforms recorded after it (resampling with a constant centre, augmentation) are kept in
    the record list; a per-frame centre needs the same number of frames as when it was computed.
    The undone record is removed, so ``denormalize(normalize(s))`` equals ``s`` including its meta.
    """
    _check_seq(seq)
    records = list(seq.meta.get("transforms", []))
    idx = max((i for i, r in enumerate(records) if isinstance(r, dict) and r.get("name") == "normalize"),
              default=None)
    if idx is None:
        raise SkeletonInputError("meta['transforms']", "a 'normalize' record to invert", [
            r.get("name") if isinstance(r, dict) else r for r in records])
    rec = records.pop(idx)
    centre = np.asarray(rec["center"], dtype=np.float64)
    if rec["center_mode"] == "per_frame":
        if centre.shape != (seq.num_frames, 3):
            raise SkeletonInputError("seq", f"{centre.shape[0]} frames to undo a per-frame centre "
                                     "(resampled after normalize?)", seq.num_frames)
    else:
        centre = np.broadcast_to(centre, (seq.num_frames, 3))
    rot = np.asarray(rec["rotation"], dtype=np.float64)
    pos = (seq.positions.astype(np.float64) * rec["scale"]) @ rot + centre[:, None, None]
    ori = None if seq.orientations is None else np.einsum("ji,tpkjl->tpkil", rot, seq.orientations)
    meta = dict(seq.meta)
    meta["transforms"] = records
    if not records:
        del meta["transforms"]
    return SkeletonSequence(positions=pos.astype(np.float32), mask=seq.mask.copy(), fps=seq.fps,
                            format=seq.format, meta=meta,
                            orientations=None if ori is None else ori.astype(np.float32))


def center(seq: SkeletonSequence, mode: str = "first_frame", root: int | str | None = None) -> SkeletonSequence:
    """Root-centring only (``normalize(seq, center=mode, scale=False)``)."""
    return normalize(seq, center=mode, scale=False, root=root)


def align_view(seq: SkeletonSequence) -> SkeletonSequence:
    """Rotation about the up axis only, so the body faces the camera (no centring or scaling)."""
    return normalize(seq, center="none", scale=False, align_view=True)


# ---------------------------------------------------------------------- time
def resample(seq: SkeletonSequence, num_frames: int, mode: str = "uniform", seed: int | None = None, *,
             rng: np.random.Generator | None = None) -> SkeletonSequence:
    """Resample a clip to ``num_frames`` frames.

    - ``"uniform"``: frame times ``linspace(0, T - 1, N)``; positions interpolated linearly between
      the two neighbouring frames where both observe the joint, else copied from the nearest frame;
      the mask, orientations and per-frame meta arrays follow the nearest frame. The covered duration is kept
      (fps scales by (N - 1) / (T - 1)).
    - ``"random"``: segment sampling for training: ``[0, T)`` is cut into N equal segments and one
      frame is drawn from each with a seeded ``numpy.random.Generator`` (``seed`` or ``rng``);
      frames repeat when T < N.
    A 1-frame clip becomes N copies of its frame.
    """
    _check_seq(seq)
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise SkeletonInputError("num_frames", "a positive integer", num_frames)
    if mode not in RESAMPLE_MODES:
        raise SkeletonInputError("mode", f"one of {RESAMPLE_MODES}", mode)
    N, T = int(num_frames), seq.num_frames
    if mode == "random":
        gen = _rng(seed, rng)
        edges = np.linspace(0.0, T, N + 1)
        idx = np.minimum(np.floor(edges[:-1] + gen.random(N) * (edges[1:] - edges[:-1])), T - 1).astype(int)
        fps = seq.fps * N / T
        record = {"name": "resample", "mode": mode, "from_frames": T, "to_frames": N, "seed": seed,
                  "indices": idx.tolist()}
        return _derive(seq, record, positions=seq.positions[idx], mask=seq.mask[idx],
                       orientations=None if seq.orientations is None else seq.orientations[idx], fps=fps,
                       frames=idx)
    times = np.linspace(0.0, T - 1, N) if N > 1 else np.zeros(1)
    lo = np.floor(times).astype(int)
    hi = np.minimum(lo + 1, T - 1)
    w = (times - lo)[:, None, None]  # weight of the later frame
    near = np.where(w[:, 0, 0] >= 0.5, hi, lo)
    both = (seq.mask[lo] & seq.mask[hi])[..., None]
    lerp = seq.positions[lo] * (1.0 - w[..., None]) + seq.positions[hi] * w[..., None]
    pos = np.where(both, lerp, seq.positions[near]).astype(np.float32)
    mask = seq.mask[near]
    fps = seq.fps * (N - 1) / (T - 1) if (N > 1 and T > 1) else seq.fps
    record = {"name": "resample", "mode": mode, "from_frames": T, "to_frames": N, "times": times.tolist()}
    return _derive(seq, record, positions=pos, mask=mask,
                   orientations=None if seq.orientations is None else seq.orientations[near], fps=fps,
                   frames=near)


# ---------------------------------------------------------------------- mirroring
def mirror(seq: SkeletonSequence) -> SkeletonSequence:
    """Left-right mirror: negate the lateral axis (x; z for x-up data) and swap the format's mirror
    pairs. Orientations are conjugated by the reflection, so they stay rotations. Mirroring twice
    gives the original clip back."""
    _check_seq(seq)
    perm = seq.format.mirror_permutation()
    axis = geometry.lateral_axis(seq.format)
    pos = seq.positions[:, :, perm].copy()
    pos[..., axis] *= -1.0
    pos[pos == 0] = 0.0  # no -0.0 in masked slots
    ori = None
    if seq.orientations is not None:
        flip = np.ones(3, np.float32)
        flip[axis] = -1.0
        ori = seq.orientations[:, :, perm] * flip[:, None] * flip[None, :]
    record = {"name": "mirror", "axis": "xyz"[axis], "pairs": [list(p) for p in seq.format.mirror_pairs]}
    return _derive(seq, record, positions=pos, mask=seq.mask[:, :, perm], orientations=ori, joints=perm)


# ---------------------------------------------------------------------- augmentation
def _clip_centre(seq: SkeletonSequence) -> np.ndarray:
    ref, found = root_positions(seq)
    return ref[np.argmax(found)] if found.any() else np.zeros(3)


def random_rotation(seq: SkeletonSequence, max_angle: float = 30.0, *, max_tilt: float = 0.0,
                    seed: int | None = None, rng: np.random.Generator | None = None) -> SkeletonSequence:
    """Rotate the clip about its first-frame root by a random angle in ``[-max_angle, max_angle]``
    degrees about the up axis (about the image normal z for 2D data), then tilt by up to
    ``max_tilt`` degrees about the two other axes. Bone lengths are preserved."""
    _check_seq(seq)
    for name, value in (("max_angle", max_angle), ("max_tilt", max_tilt)):
        if not (np.isfinite(value) and value >= 0):
            raise SkeletonInputError(name, "a non-negative number of degrees", value)
    gen = _rng(seed, rng)
    if seq.format.dims == 2:
        axis = np.array([0.0, 0.0, 1.0])
        tilt = 0.0
    else:
        axis = up_vector(seq)
        tilt = max_tilt
    yaw = gen.uniform(-max_angle, max_angle)
    rot = Rotation.from_rotvec(np.deg2rad(yaw) * axis)
    if tilt > 0:
        others = [np.eye(3)[i] for i in range(3) if abs(axis[i]) == 0]
        angles = gen.uniform(-tilt, tilt, size=2)
        rot = Rotation.from_rotvec(np.deg2rad(angles[0]) * others[0]) * \
            Rotation.from_rotvec(np.deg2rad(angles[1]) * others[1]) * rot
    mat = rot.as_matrix()
    centre = _clip_centre(seq)
    pos, ori = _rotate(seq, mat, centre)
    record = {"name": "random_rotation", "rotation": mat.tolist(), "center": centre.tolist(), "seed": seed}
    return _derive(seq, record, positions=pos, orientations=ori)


def random_scale(seq: SkeletonSequence, low: float = 0.9, high: float = 1.1, *, seed: int | None = None,
                 rng: np.random.Generator | None = None) -> SkeletonSequence:
    """Scale about the first-frame root by a factor drawn uniformly from ``[low, high]``."""
    _check_seq(seq)
    if not (np.isfinite(low) and np.isfinite(high) and 0 < low <= high):
        raise SkeletonInputError("low, high", "0 < low <= high", (low, high))
    factor = float(_rng(seed, rng).uniform(low, high))
    centre = _clip_centre(seq)
    pos = (seq.positions - centre) * factor + centre
    pos[~seq.mask] = 0.0
    record = {"name": "random_scale", "factor": factor, "center": centre.tolist(), "seed": seed}
    return _derive(seq, record, positions=pos.astype(np.float32))


def jitter(seq: SkeletonSequence, std: float = 0.01, *, seed: int | None = None,
           rng: np.random.Generator | None = None) -> SkeletonSequence:
    """Add Gaussian noise of standard deviation ``std`` (data units) to observed joints (x, y, and z
    for 3D data; masked joints stay 0)."""
    _check_seq(seq)
    if not (np.isfinite(std) and std >= 0):
        raise SkeletonInputError("std", "a non-negative number", std)
    noise = _rng(seed, rng).normal(0.0, std, size=seq.positions.shape)
    if seq.format.dims == 2:
        noise[..., 2] = 0.0
    pos = seq.positions + noise * seq.mask[..., None]
    record = {"name": "jitter", "std": float(std), "seed": seed}
    return _derive(seq, record, positions=pos.astype(np.float32))


def augment(seq: SkeletonSequence, *, max_angle: float = 30.0, max_tilt: float = 0.0,
            scale_range: tuple[float, float] = (0.9, 1.1), jitter_std: float = 0.0, mirror_prob: float = 0.0,
            seed: int | None = None, rng: np.random.Generator | None = None) -> SkeletonSequence:
    """Training augmentation: optional mirror (probability ``mirror_prob``), random rotation, random
    scale and Gaussian jitter, all drawn from one seeded generator (same seed, same result)."""
    _check_seq(seq)
    if not 0.0 <= mirror_prob <= 1.0:
        raise SkeletonInputError("mirror_prob", "a probability in [0, 1]", mirror_prob)
    if mirror_prob > 0 and not seq.format.mirror_pairs:  # a mirror would swap no joints: left turns into right
        raise SkeletonInputError(f"{seq.format.name}: mirror_pairs", "left/right joint pairs to mirror with "
                                 "(mirror_prob > 0)", seq.format.mirror_pairs)
    gen = _rng(seed, rng)
    out = seq
    if mirror_prob > 0 and gen.random() < mirror_prob:
        out = mirror(out)
    if max_angle > 0 or max_tilt > 0:
        out = random_rotation(out, max_angle, max_tilt=max_tilt, rng=gen)
    if tuple(scale_range) != (1.0, 1.0):
        out = random_scale(out, *scale_range, rng=gen)
    if jitter_std > 0:
        out = jitter(out, jitter_std, rng=gen)
    return out


AUGMENT_OPTIONS = ("max_angle", "max_tilt", "scale_range", "jitter_std", "mirror_prob", "seed")


def augment_batch(seqs: list[SkeletonSequence], options: dict[str, Any]) -> list[SkeletonSequence]:
    """:func:`augment` each clip of a batch with ``options`` (its keyword arguments; ``seed`` seeds
    one generator for the whole batch, so the same seed gives the same batch).

    Processors call this after normalising, so the rotation acts on view-aligned clips (rotating
    before a view alignment would be undone by it).
    """
    params = check_augment_options(options)
    gen = np.random.default_rng(options.get("seed"))
    return [augment(seq, rng=gen, **params) for seq in seqs]


def check_augment_options(options: Any) -> dict[str, Any]:
    """``options`` checked to be a dict of :data:`AUGMENT_OPTIONS`; returns them without ``seed`` (the
    keyword arguments of :func:`augment`)."""
    if not isinstance(options, dict):
        raise SkeletonInputError("augment", f"a dict with keys from {AUGMENT_OPTIONS}", type(options).__name__)
    unknown = sorted(set(options) - set(AUGMENT_OPTIONS))
    if unknown:
        raise SkeletonInputError("augment", f"keys from {AUGMENT_OPTIONS}", unknown)
    return {k: v for k, v in options.items() if k != "seed"}


__all__ = [
    "ALIGN_VIEW_MODES",
    "AUGMENT_OPTIONS",
    "CENTER_MODES",
    "RESAMPLE_MODES",
    "align_view",
    "align_view_mode",
    "augment",
    "augment_batch",
    "bone_lengths",
    "center",
    "check_augment_options",
    "denormalize",
    "facing_rotation",
    "jitter",
    "median_bone_length",
    "mirror",
    "normalize",
    "random_rotation",
    "random_scale",
    "resample",
    "root_positions",
    "up_vector",
    "upright_rotation",
]
