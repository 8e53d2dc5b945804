"""Video decoding and frame sampling with PyAV.

``load_video(path, num_frames=8)`` decodes a real video file and returns the sampled frames as a
uint8 array (F, H, W, 3) in RGB; :func:`video_info` reads the stream header;
:func:`sample_frame_indices` is the sampling rule (uniform segment centres, or one seeded random
frame per segment for training, as in TSN-style video models).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .errors import SkeletonFileError, SkeletonInputError

SAMPLING_MODES = ("uniform", "random")


def sample_frame_indices(num_total: int, num_frames: int, *, mode: str | None = None,
                         seed: int | None = None) -> np.ndarray:
    """Indices of ``num_frames`` frames out of ``num_total``, sorted.

    ``[0, num_total)`` is cut into ``num_frames`` equal segments; ``"uniform"`` takes each segment's
    centre, ``"random"`` one frame per segment drawn with ``numpy.random.default_rng(seed)``.
    Frames repeat when the video is shorter than ``num_frames``. ``mode=None`` means ``"random"``
    when a seed is given, else ``"uniform"``.
    """
    if isinstance(num_total, bool) or not isinstance(num_total, (int, np.integer)) or num_total < 1:
        raise SkeletonInputError("num_total", "a positive number of frames", num_total)
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise SkeletonInputError("num_frames", "a positive integer", num_frames)
    mode = mode or ("random" if seed is not None else "uniform")
    if mode not in SAMPLING_MODES:
        raise SkeletonInputError("mode", f"one of {SAMPLING_MODES}", mode)
    edges = np.linspace(0.0, float(num_total), int(num_frames) + 1)
    if mode == "uniform":
        pos = (edges[:-1] + edges[1:]) / 2.0
    else:
        pos = edges[:-1] + np.random.default_rng(seed).random(int(num_frames)) * (edges[1:] - edges[:-1])
    return np.minimum(np.floor(pos), num_total - 1).astype(np.int64)


def _open(path: str | Path):
    import av

    p = Path(path)
    if not p.is_file():
        raise SkeletonFileError(p, "file", "an existing video file", "no such file")
    try:
        container = av.open(str(p))
    except Exception as exc:  # PyAV raises several error types for unreadable containers
        raise SkeletonFileError(p, "container", "a video PyAV/FFmpeg can open", f"{type(exc).__name__}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise SkeletonFileError(p, "streams", "at least one video stream", "none")
    return container


def video_info(path: str | Path) -> dict[str, Any]:
    """``{"num_frames", "fps", "width", "height", "duration"}`` of the first video stream.

    ``num_frames`` comes from the header and, when the container does not store it, from counting
    decoded frames.
    """
    container = _open(path)
    try:
        stream = container.streams.video[0]
        fps = float(stream.average_rate) if stream.average_rate else float("nan")
        n = int(stream.frames or 0)
        if n <= 0:
            n = sum(1 for _ in container.decode(video=0))
        return {"num_frames": n, "fps": fps, "width": int(stream.codec_context.width),
                "height": int(stream.codec_context.height), "duration": n / fps if fps == fps and fps > 0 else None}
    except Exception as exc:  # noqa: BLE001 - a damaged stream header: PyAV raises several kinds
        raise SkeletonFileError(path, "video stream", "a video stream with a codec FFmpeg decodes",
                                f"{type(exc).__name__}: {exc}") from None
    finally:
        container.close()


def load_video(path: str | Path, num_frames: int | None = None, *, mode: str | None = None,
               seed: int | None = None, size: int | tuple[int, int] | None = None,
               indices: Any = None) -> np.ndarray:
    """Decode a video and return frames (F, H, W, 3) uint8 RGB.

    Args:
        path: a video file (mp4, avi, webm, ... anything FFmpeg reads).
        num_frames: how many frames to sample (:func:`sample_frame_indices`); ``None`` keeps all.
        mode, seed: sampling rule; a seed without a mode gives seeded random segment sampling.
        size: optional resize: ``(height, width)``, or an int for the shorter side (aspect kept).
            Resizing is done by FFmpeg's scaler while decoding, so full-HD frames are never held.
        indices: decode exactly these frame numbers (0-based, in this order; repeats allowed) instead of
            sampling ``num_frames`` (e.g. ``seq.meta["frame_indices"]`` of a skeleton read from the video).
    """
    if size is not None:
        _target_size(size, 1, 1)  # validate before decoding anything
    if indices is not None:
        if num_frames is not None:
            raise SkeletonInputError("indices", "either indices or num_frames, not both", "both")
        picked = np.asarray(indices)
        if picked.ndim != 1 or not len(picked) or not np.issubdtype(picked.dtype, np.integer) or picked.min() < 0:
            raise SkeletonInputError("indices", "a non-empty list of frame numbers >= 0", indices)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        total = int(stream.frames or 0)
        if total <= 0:  # header lacks the count: decode once to count
            total = sum(1 for _ in container.decode(video=0))
            container.seek(0)
        if total <= 0:
            raise SkeletonFileError(path, "frames", "at least one decodable frame", 0)
        if indices is not None:
            wanted = picked.astype(np.int64)
            if wanted.max() >= total:
                raise SkeletonFileError(path, "frames", f"frame numbers below the video's {total} frames",
                                        int(wanted.max()))
        else:
            wanted = (np.arange(total) if num_frames is None
                      else sample_frame_indices(total, num_frames, mode=mode, seed=seed))
        need = {int(i) for i in wanted}
        last = int(wanted.max())
        h0, w0 = int(stream.codec_context.height), int(stream.codec_context.width)
        out_hw = _target_size(size, h0, w0)
        decoded: dict[int, np.ndarray] = {}
        for i, frame in enumerate(container.decode(video=0)):
            if i in need:
                if out_hw is not None:
                    frame = frame.reformat(width=out_hw[1], height=out_hw[0])
                decoded[i] = frame.to_ndarray(format="rgb24")
            if i >= last:
                break
    except (SkeletonFileError, SkeletonInputError):
        raise
    except Exception as exc:
        raise SkeletonFileError(path, "frames", "decodable video frames", f"{type(exc).__name__}: {exc}") from None
    finally:
        container.close()
    if not decoded:
        raise SkeletonFileError(path, "frames", "at least one decodable frame", 0)
    have = sorted(decoded)
    # a header that over-counts frames: fall back to the last decoded frame
    return np.stack([decoded[i] if i in decoded else decoded[have[-1]] for i in wanted])


def _target_size(size: int | tuple[int, int] | None, h: int, w: int) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, (int, np.integer)) and not isinstance(size, bool):
        if size < 1:
            raise SkeletonInputError("size", "a positive shorter side or (height, width)", size)
        scale = size / min(h, w)
        return max(1, round(h * scale)), max(1, round(w * scale))
    try:
        hh, ww = (int(v) for v in size)
    except (TypeError, ValueError):
        raise SkeletonInputError("size", "an int or (height, width)", size) from None
    if hh < 1 or ww < 1:
        raise SkeletonInputError("size", "positive (height, width)", size)
    return hh, ww


# ---------------------------------------------------------------------- streaming (readers that see every frame)
def iter_frames(path: str | Path, *, start: float | None = None, end: float | None = None, stride: int = 1,
                max_frames: int | None = None):
    """Decode a video frame by frame, yielding ``(index, seconds, rgb)`` with ``rgb`` (H, W, 3) uint8.

    Unlike :func:`load_video`, which samples a fixed number of frames, this streams every ``stride``-th frame
    whose time lies in ``[start, end)`` seconds (from the first frame), at most ``max_frames`` of them, so a
    long full-HD video is never held whole. ``index`` counts decoded frames from 0; ``seconds`` is the frame's
    presentation time relative to the first frame (``index / fps`` where the stream carries none). A video
    that cannot be opened or decoded is a :class:`SkeletonFileError` naming the file.
    """
    if isinstance(stride, bool) or not isinstance(stride, (int, np.integer)) or stride < 1:
        raise SkeletonInputError("stride", "a positive integer", stride)
    if max_frames is not None and (isinstance(max_frames, bool) or not isinstance(max_frames, (int, np.integer))
                                   or max_frames < 1):
        raise SkeletonInputError("max_frames", "None or a positive integer", max_frames)
    for name, value in (("start", start), ("end", end)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float, np.number))
                                  or not np.isfinite(value) or value < 0):
            raise SkeletonInputError(name, "None or a non-negative number of seconds", value)
    if start is not None and end is not None and end <= start:
        raise SkeletonInputError("end", f"a time after start={start} s", end)
    return _stream(path, start, end, int(stride), max_frames)  # arguments checked now, not at the first next()


def _stream(path, start, end, stride, max_frames):
    container = _open(path)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        fps = float(stream.average_rate) if stream.average_rate else 0.0
        first, taken, kept = None, 0, 0
        for index, frame in enumerate(container.decode(video=0)):
            t = frame.time
            if t is None:
                t = index / fps if fps > 0 else float(index)
            first = t if first is None else first
            t = float(t - first)
            if end is not None and t >= end:
                break
            if start is not None and t < start:
                continue
            taken += 1
            if (taken - 1) % stride:
                continue
            yield index, t, frame.to_ndarray(format="rgb24")
            kept += 1
            if max_frames is not None and kept >= max_frames:
                break
    except (SkeletonFileError, SkeletonInputError):
        raise
    except Exception as exc:  # FFmpeg decode errors surface as several PyAV exception types
        raise SkeletonFileError(path, "frames", "decodable video frames", f"{type(exc).__name__}: {exc}") from None
    finally:
        container.close()
