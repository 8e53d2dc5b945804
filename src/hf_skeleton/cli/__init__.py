"""The ``hf-skeleton`` command line.

Each subcommand is one ``_add_<name>(subparsers)`` function registered in :data:`SUBCOMMANDS` that
declares its arguments and sets ``func``; adding a command is one function. Errors of this package
(:class:`~hf_skeleton.errors.HFSkeletonError`) print one line to stderr and exit with status 2, with
no traceback.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ..data.discovery import DEMO_CLIP, find_data_dir, find_demo_clip  # noqa: F401  (public here too)
from ..demo import clip_info, run_demo  # run_demo: public here too (hf_skeleton.cli.run_demo)
from ..demo import load_clip as _load
from ..errors import CheckpointError, HFSkeletonError, SkeletonFileError
from .app import add_app as _add_app
from .convert import add_convert as _add_convert
from .convert_file import add_convert_file as _add_convert_file
from .evaluate import add_evaluate as _add_evaluate
from .install_pose_model import add_install_pose_model as _add_install_pose_model
from .options import int_in as _int_in
from .push_dataset import add_push_dataset as _add_push_dataset


# ---------------------------------------------------------------------- shared helpers
def _print_info(info: dict[str, Any], out=None) -> None:
    out = out or sys.stdout
    width = max(len(k) for k in info)
    for key, value in info.items():
        print(f"{key:<{width}}  {value}", file=out)


def _add_read_frames(p) -> None:
    p.add_argument("--read-frames", type=_int_in(1, 10_000_000), default=None, metavar="N",
                   help="read only the first N frames (for a video or a multi-view folder, BlazePose runs on "
                        "those only: about 50 ms per full-HD frame)")


# ---------------------------------------------------------------------- info
def _cmd_info(args: argparse.Namespace) -> int:
    info = clip_info(_load(args.file, args.format, args.read_frames))
    if args.json:
        print(json.dumps(info))
    else:
        _print_info(info)
    return 0


def _add_info(sub) -> None:
    p = sub.add_parser("info", help="print a summary of a skeleton file",
                       description="Read a skeleton file (any supported format) and print its format, frames, "
                                   "persons, joints, fps, duration, label/text and share of masked joints.")
    p.add_argument("file", help="a skeleton file or per-frame folder (N-UCLA .json, .bvh, .npy, .trc, .skeleton, ...)")
    p.add_argument("--format", default=None, help="force a reader or skeleton format name")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    _add_read_frames(p)
    p.set_defaults(func=_cmd_info)


# ---------------------------------------------------------------------- viz
def _cmd_viz(args: argparse.Namespace) -> int:
    from ..viz import save_animation, save_frame_grid

    seq = _load(args.file, args.format, args.read_frames)
    if args.normalize:
        seq = seq.normalized(align_view=True)
    view: Any = args.view
    if "," in view:
        try:
            view = tuple(float(v) for v in view.split(","))
        except ValueError:
            view = args.view  # save_animation reports the bad value
    out = save_animation(seq, args.output, fps=args.fps, max_frames=args.max_frames, view=view, size=args.size)
    print(f"wrote {out}")
    if args.grid:
        print(f"wrote {save_frame_grid(seq, args.grid, num_frames=args.grid_frames, view=view)}")
    return 0


def _add_viz(sub) -> None:
    p = sub.add_parser("viz", help="draw a skeleton file as a GIF/MP4 stick figure",
                       description="Animate a skeleton file as a stick figure (GIF, or MP4 through PyAV).")
    p.add_argument("file", help="a skeleton file or per-frame folder")
    p.add_argument("-o", "--output", required=True, help="output .gif or .mp4")
    p.add_argument("--format", default=None, help="force a reader or skeleton format name")
    p.add_argument("--fps", type=float, default=None, help="playback rate (default: the clip's)")
    p.add_argument("--max-frames", type=_int_in(1, 100_000), default=300, help="at most this many frames (evenly sub-sampled)")
    p.add_argument("--view", default="auto", help="auto | camera | side | top | AZIMUTH,ELEVATION (degrees)")
    p.add_argument("--size", type=_int_in(16, 4096), default=320, help="frame size in pixels")
    p.add_argument("--normalize", action="store_true", help="root-centre, scale and face the camera first")
    p.add_argument("--grid", default=None, help="also write a PNG grid of frames here")
    p.add_argument("--grid-frames", type=_int_in(1, 256), default=8, help="frames in the grid")
    _add_read_frames(p)
    p.set_defaults(func=_cmd_viz)


# ---------------------------------------------------------------------- demo
def _cmd_demo(args: argparse.Namespace) -> int:
    run_demo(args.path, args.out_dir, num_frames=args.num_frames, read_frames=args.read_frames,
             generation_model=args.generation_model)
    return 0


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="run the demo on a clip (a real N-UCLA clip by default)",
                       description="Load a clip (PATH, else a real N-UCLA clip from ../shared/data, else a "
                                   "SYNTHETIC generated one), print its summary, write an animation GIF, a frame "
                                   "grid PNG and its DrAction frames, and print the top actions and a description "
                                   "from the embedded default model (offline); with a motion-generation model, "
                                   "predict the clip's last 8 frames from the 16 before them and draw them with "
                                   "the truth (prediction.gif).")
    p.add_argument("path", nargs="?", default=None, help="a skeleton file (optional)")
    p.add_argument("--out-dir", default="hf_skeleton_demo", help="output folder (default: ./hf_skeleton_demo)")
    p.add_argument("--num-frames", type=_int_in(1, 10_000), default=32, help="frames after resampling")
    p.add_argument("--generation-model", default=None, metavar="FOLDER",
                   help="a Superman folder (or embedded name) for the prediction (default: the embedded "
                        "skeleton-generation model, when one is installed)")
    _add_read_frames(p)
    p.set_defaults(func=_cmd_demo)


def _model_folder(name_or_path: str) -> str:
    """A saved folder, or an embedded model's folder by name (offline); a missing local path is an
    error here rather than a Hub look-up."""
    from ..embedded import list_embedded_models, resolve_model

    folder = resolve_model(name_or_path)
    if folder == name_or_path and not Path(folder).is_dir() and (
            os.path.isabs(folder) or folder.startswith(".") or folder.count("/") != 1):
        raise HFSkeletonError(f"{name_or_path}: no such folder and not an embedded model "
                              f"(embedded: {', '.join(list_embedded_models())}; a Hub id is 'user/name')")
    return folder


def _load_model(auto_class, folder: str):
    """``auto_class.from_pretrained(folder)`` without transformers' progress bar and load report on
    stderr: a damaged folder is one line (its CheckpointError), like every other CLI error."""
    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        return auto_class.from_pretrained(folder)
    except (ValueError, KeyError) as err:  # an unknown model_type / auto_map, a config that is not ours
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(folder, f"not a model folder {auto_class.__name__} can load ({reason})") from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()


def _load_config(folder: str):
    """``AutoConfig.from_pretrained(folder)`` with a typed error for a config nobody can read."""
    from transformers import AutoConfig

    try:
        return AutoConfig.from_pretrained(folder)
    except (ValueError, KeyError) as err:
        reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(folder, f"config.json names no model type this package or transformers knows "
                                      f"({reason})") from None


def _cmd_render(args: argparse.Namespace) -> int:
    from ..models.draction.preview import save_render_grid

    seq = _load(args.path, args.format, args.read_frames)
    model = None
    if args.model:
        from transformers import AutoModel

        folder = _model_folder(args.model)
        config = _load_config(folder)
        model = _load_model(AutoModel, folder)
        if config.model_type != "draction":  # a SkeletonLLM folder: use its renderer
            model = getattr(model, "renderer", None) or getattr(model, "draction", None)
            if model is None:
                raise HFSkeletonError(f"{args.model}: model type {config.model_type!r} has no DrAction renderer")
    out = save_render_grid(seq, args.output, model, num_frames=args.frames, image_size=args.size,
                           views=args.views, seed=args.seed)
    print(f"wrote {out}")
    return 0


def _add_render(sub) -> None:
    p = sub.add_parser("render", help="render a clip with DrAction into a PNG frame grid",
                       description="Render the frames a SkeletonLLM model sees (DrAction 3D Gaussians) into a "
                                   "labelled PNG grid. Without --model an untrained renderer for the clip's "
                                   "format is used.")
    p.add_argument("path", help="a skeleton file")
    p.add_argument("-o", "--output", default="render.png", help="PNG to write (default: render.png)")
    p.add_argument("--model", default=None, help="a saved DrAction or SkeletonLLM folder (or skeleton-llm-nucla)")
    p.add_argument("--format", default=None, help="reader or skeleton format, for files that do not say")
    p.add_argument("--frames", type=_int_in(1, 256), default=8, help="frames rendered")
    p.add_argument("--size", type=_int_in(16, 2048), default=224, help="image size in pixels")
    p.add_argument("--views", nargs="+", default=None, help="views (front side top ...), tiled")
    p.add_argument("--seed", type=int, default=0, help="seed of an untrained renderer")
    _add_read_frames(p)
    p.set_defaults(func=_cmd_render)


def _cmd_push(args: argparse.Namespace) -> int:
    from ..cards import render_model_card
    from ..hub import files_to_push, push_folder

    files = files_to_push(args.folder)
    if args.dry_run:  # writes nothing: the card push would render is checked and listed, not saved
        if "README.md" not in files:
            render_model_card(args.folder, repo_id=args.repo_id)
            files = sorted([*files, "README.md"])
        print(f"would upload {len(files)} files to {args.repo_id}:")
        for name in files:
            print(f"  {name}" + ("  (model card, rendered on push)" if name == "README.md" and
                                 not (Path(args.folder) / name).is_file() else ""))
        return 0
    url = push_folder(args.folder, args.repo_id, private=args.private)
    print(f"pushed {args.folder} to {url}")
    return 0


def _add_push(sub) -> None:
    p = sub.add_parser("push", help="upload a saved model folder with its card to the Hub",
                       description="Check a saved folder (config, safetensors, processor, auto_map code), render "
                                   "its model card if missing, and upload it to REPO_ID.")
    p.add_argument("folder", help="a save_pretrained folder")
    p.add_argument("repo_id", help="the Hub repository, e.g. user/skeleton-llm-nucla")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--dry-run", action="store_true", help="list what would be uploaded and stop")
    p.set_defaults(func=_cmd_push)


def _cmd_train(args: argparse.Namespace) -> int:
    from ..training import llamo_recipe, skeleton_llm_recipe, superman_recipe, vgmt_cmu
    from ..training.recipe_config import parse_recipe

    recipes = {"llamo": llamo_recipe, "skeleton-llm": skeleton_llm_recipe, "superman": superman_recipe,
               "vgmt": vgmt_cmu}
    argv = list(args.recipe_args)
    recipe = recipes[args.model]
    config = parse_recipe(recipe.RECIPE_CONFIG, argv, prog=f"hf-skeleton train {args.model}")
    recipe.run(config, command=f"hf-skeleton train {args.model} " + " ".join(argv), log=print)
    return 0


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="run a training recipe (the same code as examples/)",
                       description="Run a training recipe end to end and write a folder with the model, its "
                                   "processor, results and card. 'llamo': two SFT stages on N-UCLA views 1-2, "
                                   "evaluated on view 3; 'skeleton-llm': the four SkeletonLLM stages on N-UCLA "
                                   "views 1-2, evaluated on view 3; 'superman': a VGMT and a unified Superman "
                                   "(prediction + in-betweening) on CMU BVH; 'vgmt': the motion tokenizer on CMU "
                                   "BVH with whole trials held out. With --dataset DIR_OR_HUB_ID every recipe "
                                   "trains on a converted dataset instead, in its own skeleton format (options: "
                                   "hf-skeleton train MODEL --help).")
    p.add_argument("model", choices=["llamo", "skeleton-llm", "superman", "vgmt"], help="which recipe")
    p.add_argument("recipe_args", nargs=argparse.REMAINDER, help="the recipe's own options")
    p.set_defaults(func=_cmd_train)


# ---------------------------------------------------------------------- entry point
SUBCOMMANDS: list[Callable[[Any], None]] = [_add_demo, _add_info, _add_viz, _add_render, _add_convert,
                                               _add_convert_file, _add_train, _add_evaluate, _add_push,
                                               _add_push_dataset, _add_app, _add_install_pose_model]


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(prog="hf-skeleton", description="Human skeleton data on the Hugging Face stack.")
    parser.add_argument("--version", action="version", version=f"hf_skeleton {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show the library's log (backbone builds, skipped files) at INFO level")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for add in SUBCOMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    # the library logs under "hf_skeleton" and is silent in Python by default; the CLI shows its warnings
    # (a file skipped by --skip-bad) and, with -v, its progress notes
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="hf-skeleton: %(message)s")
    try:
        return int(args.func(args) or 0)
    except HFSkeletonError as err:
        print(f"hf-skeleton {args.command}: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:  # e.g. an unwritable output folder
        print(f"hf-skeleton {args.command}: error: {SkeletonFileError(err.filename, None, None, None, str(err))}",
              file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"hf-skeleton {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
