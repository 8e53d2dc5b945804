"""OpenPose JSON keypoints: one file per frame (``people[i]["pose_keypoints_2d"]`` = K x (x, y, c) in pixels),
or a folder of such files holding one clip (Pose2Sim's per-camera ``*_json`` folders).

OpenPose's BODY_25 and BODY_25B models both write 25 keypoints per person, in different layouts (BODY_25B
is COCO's 17 keypoints plus neck, head and feet: index 1 is the left eye, where BODY_25 has the neck). The
files do not name the model, so the layout is chosen, in this order (``meta["format_source"]`` says which):

1. ``format=`` (a registered format, e.g. ``"body25b"``) or ``model=`` (an OpenPose / Pose2Sim model name,
   ``"BODY_25B"``);
2. the keypoints themselves (:func:`layout_votes`): in the right layout, the eyes and ears sit next to the
   nose (about 3 % of the person's box diagonal on Pose2Sim's demo); read in the other layout, those four
   indices are the neck, a shoulder and an arm, or the ankles, ten times further away;
3. for frames laid out as Pose2Sim does (``<trial>/pose/<camera>_json/``), the ``pose_model`` of the nearest
   ``Config.toml`` of the trial, participant or session (:func:`pose2sim_model`), when it names a model with
   as many keypoints as the files hold;
4. BODY_25.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import SkeletonFileError, SkeletonInputError
from ..formats import SkeletonFormat, get_format
from ..sequence import SkeletonSequence
from ._common import (
    check_dense_size,
    float_array,
    json_keys,
    natural_key,
    read_json,
    regular_file_size,
    require_key,
)

OPENPOSE_FPS = 30.0
# OpenPose / Pose2Sim model names (upper case) -> registered formats; Pose2Sim's RTMLib alias "Body" is COCO_17
MODELS = {"BODY_25": "openpose25", "BODY_25B": "body25b", "COCO_17": "coco17", "BODY": "coco17"}
MODEL_OF_FORMAT = {"openpose25": "BODY_25", "body25b": "BODY_25B", "coco17": "COCO_17"}
DEFAULT_MODEL = "BODY_25"
# the eye and ear keypoints of each 25-keypoint layout (the nose is keypoint 0 in both)
FACE_KEYPOINTS = {"BODY_25": (15, 16, 17, 18), "BODY_25B": (1, 2, 3, 4)}
LAYOUT_MARGIN = 2.0  # a person-frame votes for a layout whose face is this many times tighter than the other's
LAYOUT_MAJORITY = 0.8  # the keypoints decide when this share of the votes agrees
CONFIG_NAME = "Config.toml"
CONFIG_LEVELS = 3  # Pose2Sim's trial, participant and session folders (<session>/<participant>/<trial>/pose/<camera>_json)
CONFIG_MAX_BYTES = 2**20


def is_openpose_json(path: Path) -> bool:
    return "people" in json_keys(path)


def _frame_files(path: Path) -> list[Path]:
    try:
        # every *.json entry is a frame: one that is not a readable regular file (a FIFO, a device, a
        # dangling link, a folder) is a typed error when read, not a frame silently dropped
        files = [f for f in path.iterdir() if f.suffix.lower() == ".json"]
    except OSError as e:
        raise SkeletonFileError(path, None, "a readable folder", f"{type(e).__name__}: {e}") from None
    return sorted(files, key=lambda f: natural_key(f.name))


def is_openpose_folder(path: Path) -> bool:
    files = _frame_files(Path(path))
    return bool(files) and is_openpose_json(files[0])


def _people(path: Path, obj: Any, key: str, J: int) -> tuple[list[np.ndarray], list[int | None]]:
    """(J, 3) keypoints and the tracked id (or None) of each person in one frame file."""
    people = require_key(path, obj, "people")
    if not isinstance(people, list):
        raise SkeletonFileError(path, "people", "a list of persons", type(people).__name__)
    out, ids = [], []
    for i, person in enumerate(people):
        kp = require_key(path, person, key, f"people[{i}]")
        arr = float_array(path, f"people[{i}].{key}", kp, f"a flat list of {J} x (x, y, confidence) numbers")
        if arr.size == 0:  # a person entry without body keypoints: fully unobserved
            arr = np.zeros((J, 3))
        elif arr.ndim != 1 or arr.size != 3 * J:
            raise SkeletonFileError(path, f"people[{i}].{key}", f"{3 * J} numbers ({J} keypoints x (x, y, c))",
                                    f"shape {arr.shape}")
        out.append(arr.reshape(J, 3))
        pid = person.get("person_id")
        pid = pid[0] if isinstance(pid, list) and len(pid) == 1 else pid
        ids.append(pid if isinstance(pid, int) and not isinstance(pid, bool) and pid >= 0 else None)
    return out, ids


def _keypoint_count(files: list[Path], key: str) -> int | None:
    """Keypoints per person in the first frame file holding a non-empty ``key`` list of 3K numbers (None:
    no such list before one of another length, or none at all; the reader reports a bad list)."""
    for f in files:
        people = require_key(f, read_json(f), "people")
        for person in people if isinstance(people, list) else []:
            kp = person.get(key) if isinstance(person, dict) else None
            if isinstance(kp, list) and kp:
                return len(kp) // 3 if len(kp) % 3 == 0 else None
    return None


def _model_name(value: Any, field: str) -> str:
    name = value.strip().upper() if isinstance(value, str) else None
    if name not in MODELS:
        raise SkeletonInputError(field, f"an OpenPose / Pose2Sim model name among {sorted(MODELS)} (or format=)",
                                 value)
    return name


def layout_votes(xy: np.ndarray, seen: np.ndarray, margin: float = LAYOUT_MARGIN) -> dict[str, int]:
    """How many person-frames look like each 25-keypoint layout (see the module docstring).

    xy (T, P, 25, 2) pixels, seen (T, P, 25) bool. Per person-frame with the nose and at least two eye / ear
    keypoints of both layouts seen, the median distance from the nose to each layout's eye / ear keypoints
    is compared; the layout whose distance is ``margin`` times smaller gets the vote (else none does).
    Returns ``{"BODY_25": n, "BODY_25B": m}``."""
    xy = np.asarray(xy, dtype=np.float64)
    seen = np.asarray(seen, dtype=bool) & np.isfinite(xy).all(-1)
    with np.errstate(all="ignore"):
        lo = np.where(seen[..., None], xy, np.inf).min(-2)
        hi = np.where(seen[..., None], xy, -np.inf).max(-2)
        diagonal = np.linalg.norm(hi - lo, axis=-1)  # (T, P); inf or NaN without two seen keypoints
        spread, usable = {}, seen[..., 0] & np.isfinite(diagonal) & (diagonal > 0)
        for model, face in FACE_KEYPOINTS.items():
            ok = seen[..., face]
            d = np.sort(np.where(ok, np.linalg.norm(xy[..., face, :] - xy[..., :1, :], axis=-1), np.inf), -1)
            n = ok.sum(-1, keepdims=True)  # the median of the n seen distances (sorted first)
            pair = np.take_along_axis(d, np.concatenate([np.maximum(n - 1, 0) // 2, n // 2], -1) % len(face), -1)
            spread[model] = pair.mean(-1)
            usable &= n[..., 0] >= 2
    a, b = spread["BODY_25"], spread["BODY_25B"]
    return {"BODY_25": int((usable & (margin * a < b)).sum()), "BODY_25B": int((usable & (margin * b < a)).sum())}


def pose2sim_model(frames_folder: Path) -> tuple[str | None, Path | None]:
    """The ``[pose] pose_model`` of a Pose2Sim trial's ``Config.toml``, for a folder of frame files laid out as
    Pose2Sim does (``<trial>/pose/<camera>_json``): the nearest config among the trial's, the participant's
    and the session's (the two folders above the trial), as in Pose2Sim where the nearest level overrides.
    Returns ``(the model as written, the config's path)``; ``(None, None)`` for a folder not named ``*_json``
    or without a config naming a model. A config that cannot be read or parsed is skipped with a warning
    naming it: the keypoint files, not the config, are what is being read."""
    from ..calibration import _toml_loads
    from ._common import read_text

    if not frames_folder.name.lower().endswith("_json"):
        return None, None
    trial = frames_folder.parent.parent
    for where in [trial, *trial.parents][:CONFIG_LEVELS]:
        config = where / CONFIG_NAME
        try:
            if not config.is_file():
                continue
            size = config.stat().st_size
            if size > CONFIG_MAX_BYTES:
                raise SkeletonFileError(config, None, f"a Pose2Sim config of at most {CONFIG_MAX_BYTES} bytes",
                                        f"{size} bytes")
            pose = _toml_loads(config, read_text(config)).get("pose")
        except (SkeletonFileError, OSError) as e:
            warnings.warn(f"OpenPose reader: ignoring a Pose2Sim config that cannot be read: {e}", stacklevel=4)
            continue
        model = pose.get("pose_model") if isinstance(pose, dict) else None
        if model is not None:
            return (model if isinstance(model, str) else repr(model)[:40]), config
    return None, None


def _choose_layout(path: Path, J: int, xy: np.ndarray, seen: np.ndarray) -> tuple[str, str, str]:
    """(model, how it was chosen, note) for files holding J keypoints per person, without format= / model=:
    the keypoints (25 only), then a Pose2Sim config naming a model of J keypoints, then BODY_25."""
    votes = layout_votes(xy, seen) if J == 25 else {}
    total = sum(votes.values())
    by_data = max(votes, key=votes.get) if total and max(votes.values()) >= LAYOUT_MAJORITY * total else None
    written, config = pose2sim_model(path if path.is_dir() else path.parent)
    by_config, note = None, ""
    if written is not None:
        name = written.strip().upper()
        if name in MODELS and get_format(MODELS[name]).num_joints == J:
            by_config = name
        else:
            why = ("is not a layout this reader knows" if name not in MODELS else
                   f"has {get_format(MODELS[name]).num_joints} keypoints, the files {J}")
            note = f"{config} names pose_model {written!r}, which {why}: not used"
    if by_data is not None:
        if by_config is not None and by_config != by_data:
            warnings.warn(f"{path}: {config} names pose_model {written!r}, but the keypoints are laid out as "
                          f"{by_data} ({votes[by_data]} of {total} person-frames); reading them as {by_data} "
                          f"(model= overrides)", stacklevel=3)
        return by_data, f"keypoints: the eyes and ears of {votes[by_data]} of {total} person-frames fit {by_data}", note
    if by_config is not None:
        return by_config, f"{config}: pose_model = {written!r}", note
    if J != 25:
        raise SkeletonFileError(path, "keypoints per person", "25 (OpenPose BODY_25 / BODY_25B), or format= / model= "
                                                              "naming the layout", J)
    return DEFAULT_MODEL, "default: BODY_25 (neither the keypoints nor a Pose2Sim Config.toml tell)", note


def read_openpose(path: Path, *, fps: float = OPENPOSE_FPS, threshold: float = 0.0,
                  key: str = "pose_keypoints_2d", format: str | SkeletonFormat | None = None,
                  model: str | None = None) -> SkeletonSequence:
    """OpenPose keypoints: positions (T, P, J, 3) in pixels with z = 0 (``meta["is_2d"]``), mask =
    confidence > ``threshold``; persons padded to the most seen in a frame (slots follow
    ``person_id`` where OpenPose tracked people, else the order in each file).

    Args:
        path: one JSON file (T = 1) or a folder of per-frame JSON files (sorted by name).
        fps: frame rate; OpenPose files do not record it (Pose2Sim's demo is 60 fps).
        threshold: keypoints with confidence at or below it are masked.
        key: which keypoint list to read.
        format: the joint layout (``"openpose25"``, ``"body25b"``, any registered format); default: chosen as
            the module docstring says.
        model: the layout as an OpenPose / Pose2Sim model name (``"BODY_25"``, ``"BODY_25B"``, ``"COCO_17"``).

    ``meta``: ``confidence`` float32 (T, P, J), ``frames`` (file names), ``camera`` (folder name), ``model``
    (the OpenPose / Pose2Sim model, when the layout is one), ``format_source`` (how the layout was chosen)
    and ``format_note`` (a Pose2Sim config that was found but not used, and why).
    """
    path = Path(path)
    if format is not None and model is not None:
        raise SkeletonInputError("model", "either format= or model=, not both", model)
    files = _frame_files(path) if path.is_dir() else [path]
    if not files:
        raise SkeletonFileError(path, None, "a folder holding OpenPose *.json frame files", "no .json files")
    fmt, source, note = None, "", ""
    if model is not None:
        fmt, source = get_format(MODELS[_model_name(model, "model")]), f"model={model!r}"
    elif format is not None:
        fmt, source = get_format(format), "format="
    K = _keypoint_count(files, key) if fmt is None else None
    J = fmt.num_joints if fmt is not None else K or 25
    frames = [_people(f, read_json(f), key, J) for f in files]
    tracked = all(pid is not None for _, ids in frames for pid in ids) and any(ids for _, ids in frames)
    if tracked:
        order = sorted({pid for _, ids in frames for pid in ids})
        slot_of = {pid: k for k, pid in enumerate(order)}
        if any(len(set(ids)) != len(ids) for _, ids in frames):
            tracked = False
    P = max([len(order) if tracked else max((len(p) for p, _ in frames), default=0), 1])
    check_dense_size(path, "frame files x person_ids" if tracked else "frame files x persons", (len(files), P, J, 3),
                     sum(regular_file_size(f) for f in files))
    data = np.zeros((len(files), P, J, 3))
    for t, (people, ids) in enumerate(frames):
        for i, (kp, pid) in enumerate(zip(people, ids)):
            data[t, slot_of[pid] if tracked else i] = kp
    conf = data[..., 2]
    with np.errstate(invalid="ignore"):
        mask = np.isfinite(conf) & (conf > threshold)
    if fmt is None:
        chosen, source, note = _choose_layout(path, J, data[..., :2], mask)
        fmt = get_format(MODELS[chosen])
    positions = data.copy()
    positions[..., 2] = 0.0
    meta = {"dataset": "openpose", "confidence": np.nan_to_num(conf).astype(np.float32),
            "frames": [f.name for f in files], "clip": path.stem if path.is_file() else path.name,
            "format_source": source}
    if fmt.name in MODEL_OF_FORMAT:
        meta["model"] = MODEL_OF_FORMAT[fmt.name]
    if note:
        meta["format_note"] = note
    if path.is_dir():
        meta["camera"] = path.name.removesuffix("_json")
    return SkeletonSequence(positions=positions.astype(np.float32), mask=mask, fps=fps, format=fmt, meta=meta)
