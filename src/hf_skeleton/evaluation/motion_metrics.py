"""Motion metrics: MPJPE, N-MPJPE, P-MPJPE, prediction errors per horizon, in-betweening error, baselines.

Every metric takes arrays (..., J, 3) (numpy or torch; computed in float64 numpy) and an optional
joint mask (..., J) (True = observed, scored). Errors are in the data's own units; :func:`mm`
converts to millimetres from a unit name (``seq.format.units`` or ``seq.meta["units"]``).

Definitions (per pose = per frame of per sample):
- MPJPE: mean Euclidean distance between predicted and true joints.
- N-MPJPE: MPJPE after scaling the prediction by the least-squares factor
  ``s = <pred, target> / <pred, pred>`` (Rhodin et al. 2018).
- P-MPJPE: MPJPE after the similarity transform (rotation, scale, translation) that best aligns the
  prediction to the target (orthogonal Procrustes with reflection removed).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from ..errors import SkeletonInputError

_MM_PER_UNIT = {"mm": 1.0, "cm": 10.0, "dm": 100.0, "m": 1000.0, "in": 25.4, "inch": 25.4, "ft": 304.8}
PREDICTION_HORIZONS_MS = (80, 160, 320, 400)


def mm(value, units: str):
    """``value`` (an error in ``units``) in millimetres. Unit-less data (px, normalized) is refused."""
    try:
        return value * _MM_PER_UNIT[str(units).lower()]
    except KeyError:
        raise SkeletonInputError("units", f"a length unit in {sorted(_MM_PER_UNIT)}", units) from None


def _as_array(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2 or x.shape[-1] != 3:
        raise SkeletonInputError(name, "an array (..., J, 3)", x.shape)
    return x


def _prepare(pred, target, mask):
    p, t = _as_array(pred, "pred"), _as_array(target, "target")
    if p.shape != t.shape:
        raise SkeletonInputError("pred", f"the shape of target {t.shape}", p.shape)
    if mask is None:
        m = np.ones(p.shape[:-1], bool)
    else:
        m = np.asarray(mask.detach().cpu().numpy() if hasattr(mask, "detach") else mask).astype(bool)
        if m.shape != p.shape[:-1]:
            raise SkeletonInputError("mask", f"shape {p.shape[:-1]}", m.shape)
    return p, t, m


def _masked_mean(err: np.ndarray, m: np.ndarray) -> float:
    if not m.any():
        raise SkeletonInputError("mask", "at least one observed joint to score", 0)
    return float(err[m].mean())


def mpjpe(pred, target, mask=None) -> float:
    """Mean per-joint position error over observed joints. pred, target (..., J, 3); mask (..., J)."""
    p, t, m = _prepare(pred, target, mask)
    return _masked_mean(np.linalg.norm(p - t, axis=-1), m)


def n_mpjpe(pred, target, mask=None) -> float:
    """MPJPE after the per-pose least-squares scale of the prediction."""
    p, t, m = _prepare(pred, target, mask)
    w = m[..., None]
    num = (p * t * w).sum((-1, -2), keepdims=True)
    den = (p * p * w).sum((-1, -2), keepdims=True)
    s = np.divide(num, den, out=np.ones_like(num), where=den > 0)
    return _masked_mean(np.linalg.norm(s * p - t, axis=-1), m)


def procrustes_align(pred, target, mask=None) -> np.ndarray:
    """Per pose, the prediction after the similarity transform that best fits it to the target
    (observed joints only). pred, target (..., J, 3) -> aligned prediction (..., J, 3)."""
    p, t, m = _prepare(pred, target, mask)
    w = m[..., None].astype(np.float64)
    n = np.maximum(w.sum(-2, keepdims=True), 1.0)
    mu_p, mu_t = (p * w).sum(-2, keepdims=True) / n, (t * w).sum(-2, keepdims=True) / n
    p0, t0 = (p - mu_p) * w, (t - mu_t) * w
    u, sig, vt = np.linalg.svd(np.swapaxes(p0, -1, -2) @ t0)  # H = P^T T, (..., 3, 3)
    d = np.sign(np.linalg.det(u @ vt))  # remove reflections
    sig[..., -1] *= d
    u[..., :, -1] *= d[..., None]
    rot = u @ vt  # pred @ rot ~ target
    norm = (p0 ** 2).sum((-1, -2))
    scale = np.divide(sig.sum(-1), norm, out=np.ones_like(norm), where=norm > 0)
    return scale[..., None, None] * ((p - mu_p) @ rot) + mu_t


def p_mpjpe(pred, target, mask=None) -> float:
    """MPJPE after per-pose Procrustes alignment (rotation, scale, translation)."""
    p, t, m = _prepare(pred, target, mask)
    aligned = procrustes_align(p, t, m)
    return _masked_mean(np.linalg.norm(aligned - t, axis=-1), m)


# ---------------------------------------------------------------------- prediction
def horizon_frames(fps: float, horizons_ms: Iterable[float] = PREDICTION_HORIZONS_MS) -> dict[float, int]:
    """Horizon (ms) -> number of future frames it covers at ``fps`` (rounded; at least 1)."""
    if not fps or fps <= 0:
        raise SkeletonInputError("fps", "a positive frame rate", fps)
    return {h: max(1, round(h * fps / 1000.0)) for h in horizons_ms}


def prediction_errors(pred, target, fps: float, horizons_ms: Iterable[float] = PREDICTION_HORIZONS_MS,
                      mask=None) -> dict[float, float]:
    """MPJPE of predicted future frames at each horizon. pred, target (..., T_future, J, 3), frame 0
    being the first predicted frame; the error at horizon h is that of frame ``round(h * fps / 1000)``
    (1-based). Horizons beyond T_future are left out of the result."""
    p, t, m = _prepare(pred, target, mask)
    if p.ndim < 3:
        raise SkeletonInputError("pred", "an array (..., T_future, J, 3)", p.shape)
    out = {}
    for h, k in horizon_frames(fps, horizons_ms).items():
        if k <= p.shape[-3]:
            out[h] = _masked_mean(np.linalg.norm(p[..., k - 1, :, :] - t[..., k - 1, :, :], axis=-1),
                                  m[..., k - 1, :])
    return out


def zero_velocity_prediction(history, num_frames: int) -> np.ndarray:
    """Baseline: the last observed frame held for ``num_frames``. history (..., T, J, 3)."""
    h = _as_array(history, "history")
    if h.ndim < 3 or h.shape[-3] < 1 or num_frames < 1:
        raise SkeletonInputError("history", "(..., T >= 1, J, 3) and num_frames >= 1", (h.shape, num_frames))
    last = h[..., -1:, :, :]
    return np.repeat(last, num_frames, axis=-3)


# ---------------------------------------------------------------------- in-betweening
def _frame_mask(missing, T: int) -> np.ndarray:
    miss = np.asarray(missing.detach().cpu().numpy() if hasattr(missing, "detach") else missing).astype(bool)
    if miss.shape[-1] != T:
        raise SkeletonInputError("missing", f"a bool array (..., {T}) over frames", miss.shape)
    return miss


def inbetween_error(pred, target, missing, mask=None) -> float:
    """MPJPE on the missing frames only. pred, target (..., T, J, 3); missing (T,) or (..., T) bool."""
    p, t, m = _prepare(pred, target, mask)
    miss = _frame_mask(missing, p.shape[-3])
    m = m & np.broadcast_to(miss[..., None], m.shape)
    return _masked_mean(np.linalg.norm(p - t, axis=-1), m)


def linear_interpolation(motion, missing) -> np.ndarray:
    """Baseline in-betweening: missing frames linearly interpolated between the nearest observed ones
    (held constant beyond the first/last observed frame). motion (T, J, 3) or (B, T, J, 3); missing
    (T,) or (B, T) bool."""
    x = _as_array(motion, "motion")
    single = x.ndim == 3
    xb = x[None] if single else x
    if xb.ndim != 4:
        raise SkeletonInputError("motion", "(T, J, 3) or (B, T, J, 3)", x.shape)
    miss = np.broadcast_to(_frame_mask(missing, xb.shape[1]), xb.shape[:2])
    out = xb.copy()
    frames = np.arange(xb.shape[1])
    for b in range(xb.shape[0]):
        known = ~miss[b]
        if not known.any():
            raise SkeletonInputError("missing", "at least one observed frame per clip", int(b))
        flat = xb[b].reshape(xb.shape[1], -1)
        out[b, miss[b]] = np.stack([np.interp(frames[miss[b]], frames[known], flat[known, c])
                                    for c in range(flat.shape[1])], -1).reshape(-1, *xb.shape[2:])
    return out[0] if single else out


def summarize(errors: Mapping, units: str) -> dict:
    """Convert a dict (or nested dicts) of errors in ``units`` to millimetres, rounded to 0.01."""
    return {k: summarize(v, units) if isinstance(v, Mapping) else round(float(mm(v, units)), 2)
            for k, v in errors.items()}
