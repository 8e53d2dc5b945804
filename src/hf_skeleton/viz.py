"""Stick-figure visualisation: animations (GIF / MP4) and frame grids (PNG) with matplotlib's Agg canvas.

The figure is built once; each frame only updates line and marker data and is read back from the
canvas buffer, so drawing costs milliseconds per frame. Bones come from ``seq.format``; persons get
different colours; masked joints and bones touching them are not drawn.

Views are orthographic projections:
  - ``"auto"``: the body's front (the clip is turned about the up axis so the body faces the
    viewer, see :func:`hf_skeleton.skeletons.transforms.facing_rotation`); the camera view when
    the format has no observed left/right joint pairs.
  - ``"camera"``: as the data's camera sees it (looking down +z, or +y for z-up data). 2D data is
    always drawn in its image plane.
  - ``"side"`` / ``"top"``: the camera view turned 90 degrees about the up axis / looking down.
  - ``(azimuth, elevation)`` in degrees relative to the camera view.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.spatial.transform import Rotation

from .errors import SkeletonInputError
from .skeletons.geometry import sensor_forward, up_vector
from .skeletons.sequence import SkeletonSequence
from .skeletons.transforms import facing_rotation

PERSON_COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf")
PART_SHADES = {"left_arm": 0.75, "left_leg": 0.75, "right_arm": 1.0, "right_leg": 1.0, "torso": 0.9}
VIEWS = ("auto", "camera", "side", "top")


# ---------------------------------------------------------------------- projection
def project(seq: SkeletonSequence, view: str | tuple[float, float] = "auto") -> np.ndarray:
    """Screen coordinates (T, P, J, 2) (right, up) of an orthographic view (see module docstring)."""
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError("seq", "a SkeletonSequence", type(seq).__name__)
    up = up_vector(seq)
    depth = sensor_forward(seq)  # viewing direction of the data's camera
    right = np.cross(depth, up)
    rot = np.eye(3)
    if seq.format.dims == 2:
        view = "camera"
    if isinstance(view, str):
        if view not in VIEWS:
            raise SkeletonInputError("view", f"one of {VIEWS} or (azimuth, elevation) in degrees", view)
        azimuth, elevation = {"side": (90.0, 0.0), "top": (0.0, 90.0)}.get(view, (0.0, 0.0))
        if view == "auto":
            facing, _ = facing_rotation(seq)
            if facing is not None:
                rot = facing
    else:
        try:
            azimuth, elevation = (float(v) for v in view)
        except (TypeError, ValueError):
            raise SkeletonInputError("view", f"one of {VIEWS} or (azimuth, elevation) in degrees", view) from None
        if not (np.isfinite(azimuth) and np.isfinite(elevation)):
            raise SkeletonInputError("view", "finite (azimuth, elevation) angles in degrees", view)
    turn = (Rotation.from_rotvec(np.deg2rad(elevation) * right) *
            Rotation.from_rotvec(np.deg2rad(azimuth) * up)).as_matrix()
    pos = seq.positions.astype(np.float64) @ (turn @ rot).T
    return np.stack([pos @ right, pos @ up], axis=-1)


def _limits(xy: np.ndarray, mask: np.ndarray) -> tuple[float, float, float, float]:
    """Square, padded limits around every observed joint of the clip (equal axes)."""
    pts = xy[mask]
    if pts.size == 0:
        return -1.0, 1.0, -1.0, 1.0
    lo, hi = pts.min(0), pts.max(0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2 * 1.1, 1e-3)
    return centre[0] - half, centre[0] + half, centre[1] - half, centre[1] + half


def _title(seq: SkeletonSequence, max_chars: int = 70) -> str:
    meta = seq.meta
    parts = []
    if meta.get("synthetic"):
        parts.append("SYNTHETIC")
    label = meta.get("label_name", meta.get("label"))
    if label is not None:
        parts.append(str(label))
    text = meta.get("text")
    if isinstance(text, (list, tuple)):
        text = text[0] if text else None
    if text and str(text) != str(label):
        parts.append(str(text))
    if not parts and meta.get("source"):
        parts.append(Path(str(meta["source"])).name)
    title = " - ".join(parts) or seq.format.name
    return title if len(title) <= max_chars else title[:max_chars - 3] + "..."


def _frame_indices(T: int, max_frames: int | None) -> np.ndarray:
    if max_frames is None or T <= max_frames:
        return np.arange(T)
    return np.unique(np.linspace(0, T - 1, max_frames).round().astype(int))


class _StickFigure:
    """One matplotlib Axes with a LineCollection + markers per person, updated in place."""

    def __init__(self, ax: Any, seq: SkeletonSequence, xy: np.ndarray, *, limits=None, linewidth: float = 2.0,
                 marker_size: float = 9.0):
        from matplotlib.collections import LineCollection
        from matplotlib.colors import to_rgb

        self.ax, self.seq, self.xy = ax, seq, xy
        self.bones = np.asarray(seq.format.bones, dtype=int).reshape(-1, 2)
        parts = seq.format.part_of()
        x0, x1, y0, y1 = limits or _limits(xy, seq.mask)
        ax.set_xlim(x0, x1)
        ax.set_ylim(y0, y1)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
        self.lines, self.dots = [], []
        for p in range(seq.num_persons):
            base = np.array(to_rgb(PERSON_COLORS[p % len(PERSON_COLORS)]))
            colors = [tuple(base * PART_SHADES.get(parts[c], 0.9)) for _, c in self.bones]
            lc = LineCollection([], colors=colors, linewidths=linewidth, capstyle="round")
            ax.add_collection(lc)
            dots = ax.scatter([], [], s=marker_size, color=base, zorder=3)
            self.lines.append(lc)
            self.dots.append(dots)

    def update(self, t: int) -> None:
        mask = self.seq.mask[t]
        for p, (lc, dots) in enumerate(zip(self.lines, self.dots)):
            pts = self.xy[t, p]
            if len(self.bones):
                ok = mask[p, self.bones[:, 0]] & mask[p, self.bones[:, 1]]
                segs = np.stack([pts[self.bones[:, 0]], pts[self.bones[:, 1]]], axis=1)
                # keep one segment per bone so colours stay aligned; hide unobserved bones with NaN
                segs[~ok] = np.nan
                lc.set_segments(list(segs))
            dots.set_offsets(pts[mask[p]] if mask[p].any() else np.empty((0, 2)))


def _new_figure(width_px: int, height_px: int, dpi: int = 100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    canvas = FigureCanvasAgg(fig)
    return fig, canvas


def _check_path(path: str | os.PathLike, suffixes: Sequence[str]) -> Path:
    out = Path(path)
    if out.suffix.lower() not in suffixes:
        raise SkeletonInputError("path", f"a file name ending in one of {list(suffixes)}", str(path))
    if not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    return out


def render_frames(seq: SkeletonSequence, *, view: str | tuple[float, float] = "auto", size: int = 320,
                  max_frames: int | None = 300, title: str | None = None):
    """Yield uint8 RGB frames (size, size, 3) of the animation, one per (sub-sampled) clip frame."""
    if not isinstance(size, (int, np.integer)) or size < 32:
        raise SkeletonInputError("size", "an integer number of pixels >= 32", size)
    size = int(size) + int(size) % 2  # even sizes keep video encoders happy
    xy = project(seq, view)
    fig, canvas = _new_figure(size, size)
    ax = fig.add_axes((0.02, 0.02, 0.96, 0.86))
    fig.suptitle(_title(seq, size // 6) if title is None else title, fontsize=8, y=0.975)
    figure = _StickFigure(ax, seq, xy)
    counter = ax.text(0.02, 0.02, "", transform=ax.transAxes, fontsize=7, color="0.3")
    # Blitting: draw the static parts once, then per frame restore them and draw only the moving artists.
    moving = [*figure.lines, *figure.dots, counter]
    for artist in moving:
        artist.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)
    for t in _frame_indices(seq.num_frames, max_frames):
        figure.update(int(t))
        counter.set_text(f"{t + 1}/{seq.num_frames}  {t / seq.fps:.2f} s")
        canvas.restore_region(background)
        for artist in moving:
            fig.draw_artist(artist)
        yield np.asarray(canvas.buffer_rgba())[..., :3].copy()


def save_animation(seq: SkeletonSequence, path: str | os.PathLike, fps: float | None = None, *,
                   max_frames: int | None = 300, view: str | tuple[float, float] = "auto", size: int = 320,
                   title: str | None = None) -> Path:
    """Write a stick-figure animation of ``seq`` to ``path`` (``.gif`` or ``.mp4``) and return the path.

    Args:
        fps: playback rate; defaults to the clip's fps. When ``max_frames`` drops frames the rate is
            lowered in proportion so the clip keeps its duration.
        max_frames: at most this many frames, evenly sub-sampled (None: all).
        view: see the module docstring.
        size: frame width = height in pixels.
        title: overrides the title built from ``meta`` (label_name, text, source).
    """
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError("seq", "a SkeletonSequence", type(seq).__name__)
    out = _check_path(path, (".gif", ".mp4"))
    keep = len(_frame_indices(seq.num_frames, max_frames))
    rate = float(fps) if fps is not None else seq.fps * keep / seq.num_frames
    if not (np.isfinite(rate) and rate > 0):
        raise SkeletonInputError("fps", "a positive number", fps)
    frames = render_frames(seq, view=view, size=size, max_frames=max_frames, title=title)
    if out.suffix.lower() == ".gif":
        _write_gif(out, frames, rate)
    else:
        _write_mp4(out, frames, rate)
    return out


def _gif_palette():
    """A fixed 256-colour palette: every drawing colour (black text, each person colour x part shade)
    blended with the white background at 13 levels, so antialiased frames map onto it without a
    per-frame colour search (median-cut quantisation of every frame is 20x slower)."""
    from matplotlib.colors import to_rgb
    from PIL import Image

    bases = [np.zeros(3)] + [np.array(to_rgb(c)) * shade for c in PERSON_COLORS
                             for shade in sorted(set(PART_SHADES.values()))]
    levels = np.linspace(0.0, 1.0, 13)[:, None]
    colours = np.concatenate([1.0 - levels * (1.0 - b) for b in bases])
    colours = np.unique((colours * 255).round().astype(np.uint8), axis=0)[:256]
    palette = np.zeros((256, 3), np.uint8)
    palette[: len(colours)] = colours
    palette[len(colours):] = 255
    image = Image.new("P", (1, 1))
    image.putpalette(palette.ravel().tolist())
    return image


def _write_gif(out: Path, frames, fps: float) -> None:
    from PIL import Image

    palette = _gif_palette()
    images = [Image.fromarray(f).quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
    # GIF delays are whole hundredths of a second (browsers clamp very short ones).
    duration = max(20, round(100.0 / fps) * 10)
    images[0].save(out, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0)


def _write_mp4(out: Path, frames, fps: float) -> None:
    try:
        import av  # noqa: F401
        import imageio.v3 as iio
    except ImportError as err:  # pragma: no cover - av is a declared dependency
        raise SkeletonInputError("path", "PyAV installed to write .mp4 (pip install av), or a .gif path",
                                 str(out)) from err
    with iio.imopen(out, "w", plugin="pyav") as writer:
        writer.init_video_stream("libx264", fps=fps, pixel_format="yuv420p")
        for frame in frames:
            writer.write_frame(frame)


def save_frame_grid(seq: SkeletonSequence, path: str | os.PathLike, num_frames: int = 8, *,
                    columns: int | None = None, view: str | tuple[float, float] = "auto", panel_size: int = 160,
                    title: str | None = None) -> Path:
    """Write a PNG grid of ``num_frames`` evenly spaced frames (shared equal axes), return the path."""
    if not isinstance(seq, SkeletonSequence):
        raise SkeletonInputError("seq", "a SkeletonSequence", type(seq).__name__)
    if isinstance(num_frames, bool) or not isinstance(num_frames, (int, np.integer)) or num_frames < 1:
        raise SkeletonInputError("num_frames", "a positive integer", num_frames)
    out = _check_path(path, (".png",))
    idx = _frame_indices(seq.num_frames, int(num_frames))
    n = len(idx)
    cols = int(columns) if columns else min(n, 4)
    rows = -(-n // cols)
    xy = project(seq, view)
    limits = _limits(xy, seq.mask)
    fig, canvas = _new_figure(cols * panel_size, rows * panel_size + 24)
    fig.suptitle(_title(seq, cols * panel_size // 6) if title is None else title, fontsize=8)
    top = 1 - 24 / (rows * panel_size + 24)
    for k, t in enumerate(idx):
        r, c = divmod(k, cols)
        ax = fig.add_axes((c / cols + 0.01, top * (1 - (r + 1) / rows) + 0.01, 1 / cols - 0.02,
                           top / rows - 0.05))
        _StickFigure(ax, seq, xy, limits=limits, linewidth=1.5, marker_size=5).update(int(t))
        ax.set_title(f"t={t / seq.fps:.2f}s", fontsize=7, pad=2)
    canvas.draw()
    import imageio.v3 as iio

    iio.imwrite(out, np.asarray(canvas.buffer_rgba())[..., :3], extension=".png")
    return out


__all__ = ["PERSON_COLORS", "VIEWS", "project", "render_frames", "save_animation", "save_frame_grid"]
