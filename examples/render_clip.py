"""Render a real skeleton clip with an (untrained) DrAction renderer and save a frame grid.

    python examples/render_clip.py ../shared/data/nw_ucla/all_sqe/a01_s01_e00_v01.json -o grid.png
    python examples/render_clip.py ../shared/data/cmu_mocap_bvh/02_01.bvh -o bvh.png --views front side top

Any file ``hf_skeleton.load_skeleton`` reads works; the renderer is built for the clip's format
(BVH files carry their own). ``--model DIR`` uses a saved DrActionModel instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

import hf_skeleton as hs


def render(path: str, *, model_dir: str | None = None, num_frames: int = 8, image_size: int = 224,
           views: list[str] | None = None, seed: int = 0) -> tuple[np.ndarray, hs.SkeletonSequence, torch.Tensor]:
    """Frames (T', H, W, 3) uint8 of the clip at ``path``, the sequence and the rendered frame indices."""
    seq = hs.load_skeleton(path)
    if model_dir is not None:
        model = hs.DrActionModel.from_pretrained(model_dir)
    else:
        torch.manual_seed(seed)
        # a registered format is saved by name, any other (e.g. a BVH file's own skeleton) as its dict
        config = hs.DrActionConfig(format=seq.format, image_size=image_size, num_frames=num_frames,
                                   views=views if views and len(views) > 1 else None,
                                   view=views[0] if views and len(views) == 1 else "front")
        model = hs.DrActionModel(config)
    model.eval()
    skeletons = torch.from_numpy(seq.positions)[None]
    mask = torch.from_numpy(seq.mask)[None]
    orientations = None if seq.orientations is None else torch.from_numpy(seq.orientations)[None]
    with torch.no_grad():
        out = model(skeletons=skeletons, skeleton_mask=mask, orientations=orientations)
    frames = (out.images[0].permute(0, 2, 3, 1).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    return frames, seq, out.frame_indices[0]


def frame_grid(frames: np.ndarray, times: list[float], columns: int = 4, title: str = "") -> Image.Image:
    """Tile frames (N, H, W, 3) into one image with a time label under each frame."""
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


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="a skeleton file (N-UCLA .json, .bvh, HumanML3D .npy, ...)")
    parser.add_argument("-o", "--output", default="grid.png", help="PNG to write")
    parser.add_argument("--model", default=None, help="folder of a saved DrActionModel (default: untrained)")
    parser.add_argument("--frames", type=int, default=8, help="frames rendered (T')")
    parser.add_argument("--size", type=int, default=224, help="image size in pixels")
    parser.add_argument("--views", nargs="+", default=None, help="views, e.g. front side top (tiled)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the untrained renderer's weights")
    args = parser.parse_args(argv)
    frames, seq, idx = render(args.path, model_dir=args.model, num_frames=args.frames, image_size=args.size,
                              views=args.views, seed=args.seed)
    label = seq.meta.get("label_name") or seq.meta.get("text") or ""
    title = f"{Path(args.path).name}  {seq.format.name}  {label}"[:100]
    out = Path(args.output)
    frame_grid(frames, [int(t) / seq.fps for t in idx], title=title).save(out)
    print(f"wrote {out} ({len(frames)} frames of {seq})")
    return out


if __name__ == "__main__":
    main()
