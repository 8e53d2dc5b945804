"""Render a real skeleton clip with an (untrained) DrAction renderer and save a frame grid.

    python examples/render_clip.py ../shared/data/nw_ucla/all_sqe/a01_s01_e00_v01.json -o grid.png
    python examples/render_clip.py ../shared/data/cmu_mocap_bvh/02_01.bvh -o bvh.png --views front side top

Any file ``hf_skeleton.load_skeleton`` reads works; the renderer is built for the clip's format
(BVH files carry their own). ``--model DIR`` uses a saved DrActionModel instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import hf_skeleton as hs
from hf_skeleton.models.draction.preview import save_render_grid


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
    seq = hs.load_skeleton(args.path)
    model = hs.DrActionModel.from_pretrained(args.model) if args.model else None
    out = save_render_grid(seq, args.output, model, num_frames=args.frames, image_size=args.size,
                           views=args.views, seed=args.seed)
    print(f"wrote {out} ({args.frames} frames of {seq})")
    return out


if __name__ == "__main__":
    main()
