"""``hf-skeleton convert-file``: one skeleton file into another format (BVH, HumanML3D vectors, NTU, npz)."""

from __future__ import annotations

import argparse

from .options import int_in


def _cmd_convert_file(args: argparse.Namespace) -> int:
    from ..skeletons.io import load_skeleton
    from ..skeletons.save import save_skeleton, writer_for

    spec = writer_for(args.output, args.format)  # an unknown extension fails before the input is read
    read_options = {"body_model_dir": args.body_model_dir} if args.body_model_dir else {}
    seq = load_skeleton(args.input, format=args.input_format, **read_options)
    write_options = {"person": args.person} if args.person is not None else {}
    out = save_skeleton(seq, args.output, format=args.format, overwrite=args.overwrite, **write_options)
    print(f"wrote {out} ({spec.name}) from {seq.meta.get('reader', '?')}: {seq.num_frames} frames, "
          f"{seq.num_persons} person(s), {seq.num_joints} joints ({seq.format.name}), {seq.fps:g} fps")
    return 0


def add_convert_file(sub) -> None:
    p = sub.add_parser("convert-file", help="convert one skeleton file into another format",
                       description="Read any supported skeleton file and write it in the format OUTPUT's "
                                   "extension names: .bvh (any clip; rotations solved from the positions), "
                                   ".npy (HumanML3D 263-dim vectors; smpl22 at 20 fps), .skeleton (NTU, "
                                   "kinect_v2), .npz (positions, mask, fps, format; any clip).")
    p.add_argument("input", help="a skeleton file (or per-frame folder) any reader understands")
    p.add_argument("output", help="the file to write")
    p.add_argument("--format", default=None, metavar="NAME",
                   help="writer name, overriding OUTPUT's extension (bvh, humanml3d_vecs, ntu, npz)")
    p.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    p.add_argument("--input-format", default=None, metavar="NAME",
                   help="reader or skeleton format of INPUT (plain .npy/.npz arrays need one)")
    p.add_argument("--person", type=int_in(0, 10_000), default=None,
                   help="which person of a multi-person clip (BVH and HumanML3D files hold one)")
    p.add_argument("--body-model-dir", default=None,
                   help="SMPL-H body model folder, for AMASS .npz inputs (male|female|neutral/model.npz)")
    p.set_defaults(func=_cmd_convert_file)
