"""The demo: one clip in, its summary, pictures, top actions and a description out, and, with a motion-generation
(Superman) model, its last frames predicted from the ones before, drawn with the truth.

Shared by ``hf-skeleton demo`` (:mod:`hf_skeleton.cli`) and the app (:mod:`hf_skeleton.app`): both front
ends call :func:`run_demo`; neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .data.discovery import find_demo_clip

HELD_OUT_FRAMES = 8  # the clip's last frames, predicted by the generation model (the CMU recipe's horizon)
HISTORY_FRAMES = 16  # at most this many frames before them are what it observes


def clip_info(seq) -> dict[str, Any]:
    """Summary of a clip: format, frames, persons, joints, fps, duration, label/text, masked share."""
    meta = seq.meta
    text = meta.get("text")
    if isinstance(text, (list, tuple)):
        text = text[0] if text else None
    info = {
        "source": str(meta.get("source", "")),
        "format": seq.format.name,
        "frames": seq.num_frames,
        "persons": seq.num_persons,
        "joints": seq.num_joints,
        "fps": round(float(seq.fps), 4),
        "duration_s": round(seq.duration, 3),
        "units": seq.format.units,
        "masked_share": round(float(1.0 - seq.mask.mean()), 4),
    }
    for key in ("label", "label_name", "subject", "view"):
        if meta.get(key) is not None:
            info[key] = meta[key]
    if text:
        info["text"] = str(text)
    if meta.get("synthetic"):
        info["synthetic"] = True
    return info


def load_clip(path: str, fmt: str | None = None, read_frames: int | None = None):
    """``load_skeleton(path, format=fmt)``; ``read_frames``: only the first frames (a video or multi-view
    folder: the pose is estimated on those only, about 50 ms per full-HD frame; any other file: cut after
    reading)."""
    from .skeletons.io import load_skeleton, reader_for

    if read_frames is None or not Path(path).exists():
        return load_skeleton(path, format=fmt)
    options = reader_for(path, fmt).options()
    if options is not None and "max_frames" in options:
        return load_skeleton(path, format=fmt, max_frames=read_frames)
    seq = load_skeleton(path, format=fmt)
    return seq.frame_range(0, read_frames) if seq.num_frames > read_frames else seq


def run_demo(path: str | Path | Any = None, out_dir: str | Path = "hf_skeleton_demo", *, num_frames: int = 32,
             top_k: int = 5, log: Callable[[str], Any] = print, read_frames: int | None = None,
             generation_model: str | None = None, predict: bool = True) -> dict[str, Any]:
    """The demo: load a clip (``path``, a file or an already loaded
    :class:`~hf_skeleton.SkeletonSequence`; else a real N-UCLA clip; else a generated one, labelled
    SYNTHETIC), print its summary, normalise it (root-centred, unit median bone, facing the camera),
    resample it, write an animation GIF, a frame-grid PNG and the DrAction frames to ``out_dir``, and
    print the top-``top_k`` actions and a generated description from the embedded default model; with
    ``predict``, :func:`predict_held_out` with ``generation_model`` (default: the embedded skeleton-generation
    model, when one is installed; else a note says how to get one).

    Returns ``{"clip", "kind": "file" | "real" | "synthetic" | "sequence", "info", "model", "top_actions",
    "description", "latency_s", "prediction", "files": {...}}`` (``"sequence"``: a given sequence; one made by
    :func:`~hf_skeleton.skeletons.synthetic.synthetic_clip` is ``"synthetic"``; ``"prediction"``: what
    :func:`predict_held_out` returns, or None without ``predict``).
    """
    from .skeletons.sequence import SkeletonSequence
    from .skeletons.synthetic import synthetic_clip
    from .viz import save_animation, save_frame_grid

    if isinstance(path, SkeletonSequence):
        seq, kind = path, ("synthetic" if path.meta.get("synthetic") else "sequence")
    elif path is not None:
        seq, kind = load_clip(str(path), None, read_frames), "file"  # read_frames: only the first frames
    else:
        found = find_demo_clip()
        if found is not None:
            seq, kind = load_clip(str(found)), "real"
        else:
            seq, kind = synthetic_clip("walk", 60, seed=0), "synthetic"
            log("no recording given and no ../shared/data found: using a SYNTHETIC generated clip")
    info = clip_info(seq)
    log(f"clip ({kind}): {info['source']}")
    for key, value in info.items():
        if key != "source":
            log(f"  {key}: {value}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    prepared = seq.normalized(align_view=True).resample(num_frames)
    rec = prepared.meta["transforms"][0]
    log(f"normalised: centre {[round(c, 3) for c in rec['center']]}, scale 1/{rec['scale']:.4f}, "
        f"view from {rec['view_source']}; resampled {seq.num_frames} -> {prepared.num_frames} frames")
    files = {
        "animation": save_animation(prepared, out / "clip.gif"),
        "frame_grid": save_frame_grid(prepared, out / "clip_grid.png", num_frames=8),
        "original_animation": save_animation(seq, out / "clip_original.gif", max_frames=90),
    }
    from .models.draction.preview import save_render_grid

    files["draction_frames"] = save_render_grid(seq, out / "draction_frames.png", num_frames=8, image_size=160)
    log("rendered 8 DrAction frames (an untrained renderer for this clip's format: what a SkeletonLLM reads)")
    result = {"clip": info["source"], "kind": kind, "info": info}
    result.update(_understand(seq, top_k=top_k, log=log))
    result["prediction"] = predict_held_out(seq, out, model=generation_model, log=log) if predict else None
    if result["prediction"] and result["prediction"]["animation"]:
        files["prediction"] = Path(result["prediction"]["animation"])
    for name, file in files.items():
        log(f"wrote {name}: {file}")
    result["files"] = {k: str(v) for k, v in files.items()}
    return result


def _understand(seq, *, top_k: int, log: Callable[[str], Any]) -> dict[str, Any]:
    """Top-k actions and a generated description from the embedded default model, timed."""
    import time

    from transformers import pipeline

    from .data import action_labels
    from .embedded import default_model_for

    folder = default_model_for("skeleton-understanding")
    pipe = pipeline("skeleton-understanding", model=folder)
    labels = list(action_labels("nucla").values())
    start = time.perf_counter()
    ranked = pipe(seq, candidate_labels=labels)
    latency = time.perf_counter() - start
    text = pipe(seq, prompt="Describe the motion.", max_new_tokens=24)["generated_text"]
    log(f"model: {Path(folder).name} (embedded, offline); {len(labels)} N-UCLA actions; {latency:.3f} s per clip")
    for row in ranked[:top_k]:
        log(f"  {row['score']:.3f}  {row['label']}")
    truth = seq.meta.get("label_name")
    if truth:
        log(f"  (recorded label: {truth})")
    log(f"description: {text!r}")
    return {"model": folder, "top_actions": ranked[:top_k], "description": text, "latency_s": latency}


def generation_model_folder(model: str | None = None) -> str | None:
    """``model`` (a folder or an embedded name) as a folder, else the embedded ``skeleton-generation``
    default, else None."""
    from .embedded import default_model_for, resolve_model
    from .errors import NoDefaultModelError

    if model is not None:
        return resolve_model(str(model))
    try:
        return default_model_for("skeleton-generation")
    except NoDefaultModelError:
        return None


def generation_pipeline(folder: str, pipelines: dict[str, Any] | None = None):
    """``pipeline("skeleton-generation", model=folder)``, kept in ``pipelines`` (by folder) when given."""
    cache = pipelines if pipelines is not None else {}
    if folder not in cache:
        from transformers import pipeline

        cache[folder] = pipeline("skeleton-generation", model=folder)
    return cache[folder]


def predict_held_out(seq, out_dir: str | Path, *, model: str | None = None, held_out: int = HELD_OUT_FRAMES,
                     history_frames: int = HISTORY_FRAMES, log: Callable[[str], Any] = print,
                     pipelines: dict[str, Any] | None = None) -> dict[str, Any]:
    """The clip's last ``held_out`` frames predicted by a Superman (``model``: a folder or an embedded name;
    default: the embedded ``skeleton-generation`` model) from the ``history_frames`` before them, and drawn
    with the truth into ``out_dir/prediction.gif``: every person twice, the truth in its colour over all frames
    and the prediction in the next colour over the predicted frames (blue and red for one person).

    The clip is read at its own frame rate. Returns ``{"model", "animation", "history_frames", "held_out",
    "mpjpe", "zero_velocity_mpjpe", "units", "note"}``, errors over the predicted frames' joints that are both
    observed and predicted, in the clip's units, beside the zero-velocity baseline (the last observed frame held)
    on the same joints; ``animation`` is None,
    and ``note`` says why, without a model or when the clip cannot be predicted (too short, a person
    unobserved in a history frame, ...). ``pipelines`` caches the loaded pipeline by folder between calls.
    """
    import numpy as np

    from .embedded import list_embedded_models
    from .errors import HFSkeletonError, SkeletonInputError
    from .evaluation import mpjpe
    from .evaluation.motion_metrics import zero_velocity_prediction
    from .viz import save_animation

    for name, value in (("held_out", held_out), ("history_frames", history_frames)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SkeletonInputError(name, "a positive number of frames", value)
    empty = {"model": None, "animation": None, "history_frames": 0, "held_out": held_out, "mpjpe": None,
             "zero_velocity_mpjpe": None, "units": seq.format.units}
    folder = generation_model_folder(model)
    if folder is None:
        note = (f"no prediction: no motion-generation (Superman) model is installed (embedded: "
                f"{', '.join(list_embedded_models()) or 'none'}); train one with `hf-skeleton train superman --out "
                "runs/superman` and pass `--generation-model runs/superman/unified`")
        log(note)
        return {**empty, "note": note}
    history_len = min(int(history_frames), seq.num_frames - int(held_out))
    if history_len < 1:
        note = f"no prediction: the clip has {seq.num_frames} frames, fewer than the {held_out + 1} it needs"
        log(note)
        return {**empty, "model": folder, "note": note}
    start = seq.num_frames - held_out - history_len
    history, truth = seq.frame_range(start, start + history_len), seq.frame_range(seq.num_frames - held_out)
    try:
        predicted = generation_pipeline(folder, pipelines)(history, task="predict", num_frames=int(held_out))
    except HFSkeletonError as err:
        note = f"no prediction for this clip: {err}"
        log(note)
        return {**empty, "model": folder, "note": note}
    scored = truth.mask & predicted.mask  # joints of the clip's format the model's format has no source for
    error = mpjpe(predicted.positions, truth.positions, scored)  # are not predicted: neither is scored on them
    held = zero_velocity_prediction(history.positions.transpose(1, 0, 2, 3), held_out)  # (P, F, J, 3)
    baseline = mpjpe(held.transpose(1, 0, 2, 3), truth.positions, scored)
    shown = seq.frame_range(start)
    hidden = np.zeros_like(history.mask)
    both = shown.copy(positions=np.concatenate([shown.positions, np.concatenate(
                          [history.positions, predicted.positions])], axis=1),
                      mask=np.concatenate([shown.mask, np.concatenate([hidden, predicted.mask])], axis=1),
                      orientations=None)
    gif = save_animation(both, Path(out_dir) / "prediction.gif", title=(
        f"truth, and {held_out} frames predicted from {history_len} ({Path(folder).name})"))
    units = seq.format.units
    note = (f"prediction by {Path(folder).name}: the last {held_out} frames from the {history_len} before them: "
            f"MPJPE {error:.4g} {units} (zero velocity: {baseline:.4g} {units})")
    log(note)
    return {"model": folder, "animation": str(gif), "history_frames": history_len, "held_out": int(held_out),
            "mpjpe": float(error), "zero_velocity_mpjpe": float(baseline), "units": units, "note": note}
