"""What the model sees: DrAction frames of a clip as uint8 images and as a labelled PNG grid."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from ...skeletons.sequence import SkeletonSequence


def render_clip(seq: SkeletonSequence, model=None, *, num_frames: int = 8, image_size: int = 224,
                views: Sequence[str] | None = None, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render ``seq`` with ``model`` (a DrActionModel; default: an untrained one for the clip's format).

    Returns:
        frames: uint8 (T', H, W, 3); frame_indices: int (T',) source frame of each rendered frame.
    """
    from .configuration_draction import DrActionConfig
    from .modeling_draction import DrActionModel

    if model is None:
        torch.manual_seed(seed)
        views = list(views or [])
        config = DrActionConfig(format=seq.format, image_size=image_size, num_frames=num_frames,
                                views=views if len(views) > 1 else None,
                                view=views[0] if len(views) == 1 else "front")
        model = DrActionModel(config)
    model.eval()
    device = next(model.parameters()).device
    skeletons = torch.from_numpy(seq.positions)[None].to(device)
    mask = torch.from_numpy(seq.mask)[None].to(device)
    orientations = None if seq.orientations is None else torch.from_numpy(seq.orientations)[None].to(device)
    with torch.no_grad():
        out = model(skeletons=skeletons, skeleton_mask=mask, orientations=orientations)
    frames = (out.images[0].permute(0, 2, 3, 1).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    return frames, out.frame_indices[0].cpu().numpy()


def frame_grid(frames: np.ndarray, times: Sequence[float], columns: int = 4, title: str = ""):
    """Tile frames (N, H, W, 3) into one PIL image with the time of each frame under it."""
    from PIL import Image, ImageDraw

    n, h, w, _ = frames.shape
    cols = min(columns, n)
    rows = -(-n // cols)
    label, head = 14, 18 if title else 0
    grid = Image.new("RGB", (cols * w, head + rows * (h + label)), "white")
    draw = ImageDraw.Draw(grid)
    if title:
        draw.text((4, 3), title, fill="black")
    for k in range(n):
        r, c = divmod(k, cols)
        x, y = c * w, head + r * (h + label)
        grid.paste(Image.fromarray(frames[k]), (x, y))
        draw.text((x + 4, y + h + 1), f"t={times[k]:.2f}s", fill="black")
    return grid


def save_render_grid(seq: SkeletonSequence, path: str | Path, model=None, **kwargs) -> Path:
    """Render ``seq`` and save the labelled frame grid PNG at ``path``."""
    frames, idx = render_clip(seq, model, **kwargs)
    source = Path(str(seq.meta.get("source", ""))).name
    label = seq.meta.get("label_name") or seq.meta.get("text") or ""
    title = f"{source}  {seq.format.name}  {label}"[:100]
    path = Path(path)
    frame_grid(frames, [int(t) / seq.fps for t in idx], title=title).save(path)
    return path
