"""Scoring Superman on held-out windows: free or constrained decoding, strict MPJPE against the raw joints per
horizon beside zero velocity (prediction) and linear interpolation (in-betweening), MPJPE and P-MPJPE beside a
fallback pose (estimation from video), the parse-failure rate and the tokenizer's floor
(:mod:`~hf_skeleton.training.superman_recipe` runs the first two)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..evaluation.motion_metrics import (
    horizon_frames,
    inbetween_error,
    linear_interpolation,
    mpjpe,
    p_mpjpe,
    prediction_errors,
    zero_velocity_prediction,
)
from ..models.superman.generation_superman import MotionTemplateConstraint, constrained_generate
from .superman_tasks import (
    SupermanTaskBuilder,
)


def tokenised_gt(model, ex: dict) -> np.ndarray:
    """The VGMT-decoded answer of a task example, in the input's coordinates (T, J, 3)."""
    return (model.codes_to_motion(ex["target_codes"][None], num_frames=ex["num_frames"])[0] * ex["scale"]
            + ex["centre"]).numpy()


def generate(model, proc, ex, constrained: bool) -> tuple[np.ndarray | None, str | None]:
    """Greedy decoding of one example; (motion in input coordinates, None) or (None, parse-failure reason).
    An ``estimate`` example's video goes in with its prompt; its motion comes back in the example's box (the
    ground truth's, which the model never sees)."""
    video = ex.get("video")
    enc = proc(text=[ex["prompt"]], **({} if video is None else {"videos": [video]}))
    plen = enc["input_ids"].shape[1]
    constraint = MotionTemplateConstraint(proc, ex["num_steps"], plen)
    with torch.no_grad():
        if constrained:
            out = constrained_generate(model, enc, constraint, do_sample=False)
        else:
            out = model.generate(**enc, max_new_tokens=len(constraint) + 8, do_sample=False)
    res = proc.try_parse_motion(proc.decode(out[0, plen:], skip_special_tokens=True), ex["num_steps"])
    if not res.ok:
        return None, res.error.reason
    motion = model.codes_to_motion(res.codes[None], num_frames=ex["num_frames"])[0]
    return (motion * ex["scale"] + ex["centre"]).numpy(), None


def _mm(errors: dict) -> dict:
    return {int(k): round(v * 1000, 1) for k, v in errors.items()}


def evaluate_predict(model, proc, pred_tests, fps: float, constrained: bool) -> dict:
    """SkelPred on 2T-frame windows (first half observed): strict, parsed-only and tokenised-GT MPJPE per horizon."""
    b = SupermanTaskBuilder(model, proc)
    res: dict[str, Any] = {}
    strict, preds, tok_preds, gts, floors, fails = [], [], [], [], [], []
    for w in pred_tests:
        hist, fut = w[: len(w) // 2], w[len(w) // 2 :]
        ex = b.predict(hist, fut)
        tok_gt = tokenised_gt(model, ex)
        out, reason = generate(model, proc, ex, constrained)
        fails.append(reason)
        strict.append(zero_velocity_prediction(hist, len(fut)) if out is None else out)
        if out is not None:
            preds.append(out)
            tok_preds.append(tok_gt)
            gts.append(fut)
        floors.append(tok_gt)
    gt_all = np.stack([w[len(w) // 2 :] for w in pred_tests])
    res["parse_failure_rate"] = float(np.mean([f is not None for f in fails]))
    res["failure_reasons"] = sorted({f for f in fails if f})
    res["strict_vs_raw_mm"] = _mm(prediction_errors(np.stack(strict), gt_all, fps))
    if preds:
        res["parsed_vs_raw_mm"] = _mm(prediction_errors(np.stack(preds), np.stack(gts), fps))
        res["parsed_vs_tokenised_gt_mm"] = _mm(prediction_errors(np.stack(preds), np.stack(tok_preds), fps))
    zero_velocity = np.stack([zero_velocity_prediction(w[: len(w) // 2], len(w) // 2) for w in pred_tests])
    res["zero_velocity_mm"] = _mm(prediction_errors(zero_velocity, gt_all, fps))
    res["tokeniser_floor_mm"] = _mm(prediction_errors(np.stack(floors), gt_all, fps))
    res["horizons_ms"] = list(horizon_frames(fps).keys())
    return res


def evaluate_inbetween(model, proc, mib_tests, constrained: bool) -> dict:
    """MIB on T-frame clips (T/4 keyframes at each end): MPJPE on the missing middle half."""
    b = SupermanTaskBuilder(model, proc)
    strict, parsed, parsed_tok, li_all, fails, floor = [], [], [], [], [], []
    for clip in mib_tests:
        ex = b.inbetween(clip)
        k = ex["keyframes"][0]
        missing = np.zeros(len(clip), bool)
        missing[k:-k] = True
        li = linear_interpolation(clip, missing)
        tok_gt = tokenised_gt(model, ex)
        out, reason = generate(model, proc, ex, constrained)
        fails.append(reason)
        strict.append(inbetween_error(li if out is None else out, clip, missing))
        li_all.append(inbetween_error(li, clip, missing))
        floor.append(inbetween_error(tok_gt, clip, missing))
        if out is not None:
            parsed.append(inbetween_error(out, clip, missing))
            parsed_tok.append(inbetween_error(out, tok_gt, missing))
    r: dict[str, Any] = {"parse_failure_rate": float(np.mean([f is not None for f in fails])),
                         "failure_reasons": sorted({f for f in fails if f}),
                         "strict_vs_raw_mm": round(float(np.mean(strict)) * 1000, 1)}
    if parsed:
        r["parsed_vs_raw_mm"] = round(float(np.mean(parsed)) * 1000, 1)
        r["parsed_vs_tokenised_gt_mm"] = round(float(np.mean(parsed_tok)) * 1000, 1)
    r["linear_interpolation_mm"] = round(float(np.mean(li_all)) * 1000, 1)
    r["tokeniser_floor_mm"] = round(float(np.mean(floor)) * 1000, 1)
    return r


def evaluate_estimate(model, proc, tests, constrained: bool, fallback: np.ndarray,
                      keep_motions: bool = False) -> dict:
    """Vid2Skel on held-out ``tests``: ``(frames (T, H, W, 3) uint8, clip (T, J, 3), mask (T, J))`` each, the mask
    marking the joints the ground truth measures. The model sees only the frames and answers in a box, which is
    mapped back with the ground truth's (the task's normalisation, :meth:`SupermanTaskBuilder.estimate`); so beside
    that box-aligned MPJPE the P-MPJPE (per-frame Procrustes) says how good the pose itself is. ``fallback``
    (J, 3), a pose in the box (e.g. the mean training pose), stands in for an answer that fails to parse (strict)
    and is scored as the baseline. ``keep_motions``: the strict answers (T, J, 3) too, as ``"motions"``."""
    b = SupermanTaskBuilder(model, proc)
    scores: dict[str, list] = {}
    fails, motions = [], []
    for frames, clip, mask in tests:
        ex = b.estimate(frames, clip)
        static = np.broadcast_to(fallback, clip.shape) * ex["scale"].numpy() + ex["centre"].numpy()
        out, reason = generate(model, proc, ex, constrained)
        fails.append(reason)
        motions.append(static if out is None else out)
        for name, motion in (("floor", tokenised_gt(model, ex)), ("fallback", static), ("strict", motions[-1]),
                             ("parsed", out)):
            if motion is not None:
                scores.setdefault(f"{name}_mpjpe_mm", []).append(mpjpe(motion, clip, mask))
                scores.setdefault(f"{name}_p_mpjpe_mm", []).append(p_mpjpe(motion, clip, mask))
    r: dict[str, Any] = {"windows": len(tests), "parse_failure_rate": float(np.mean([f is not None for f in fails])),
                         "failure_reasons": sorted({f for f in fails if f})}
    r.update({k: round(float(np.mean(v)) * 1000, 1) for k, v in scores.items()})
    if keep_motions:
        r["motions"] = motions
    return r
