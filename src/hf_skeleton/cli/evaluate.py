"""``hf-skeleton evaluate``: score a saved understanding model on a recognition protocol (``--protocol``) or on
one split of a converted dataset (``--dataset DIR_OR_HUB_ID --split test``).

With ``--json`` stdout holds exactly one JSON object (the result) and everything else goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import HFSkeletonError
from .options import int_in, positive_int


def _is_embedded(folder: str) -> bool:
    from ..embedded import EMBEDDED_ROOT

    try:
        return Path(folder).resolve().is_relative_to(EMBEDDED_ROOT.resolve())
    except OSError:
        return False


def _writable_folder(folder: str) -> bool:
    """A local model folder that is not one of the package's read-only embedded models."""
    return Path(folder).is_dir() and not _is_embedded(folder)


def _why_not_writable(name: str, folder: str) -> str:
    return f"{name!r} is " + ("an embedded model, shipped read-only with the package" if _is_embedded(folder)
                              else "not a local folder")


def _resolve(args: argparse.Namespace) -> str:
    from . import _model_folder

    folder = _model_folder(args.model)
    if args.write_card and not _writable_folder(folder):
        raise HFSkeletonError(f"--write-card: {_why_not_writable(args.model, folder)}; save a copy with "
                              "save_pretrained and evaluate that folder")
    return folder


def _load(folder: str):
    """The model first: a damaged folder fails (CheckpointError, exit 2) before any data is read."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from . import _load_model

    model = _load_model(AutoModelForImageTextToText, folder)
    return model, AutoProcessor.from_pretrained(folder)


def _report(result: dict[str, Any], args: argparse.Namespace, log) -> None:
    if args.json:
        print(json.dumps(result))
        return
    for key, value in result.items():
        if key in ("predictions", "confusion_matrix", "labels"):
            continue
        if isinstance(value, dict):
            log(f"  {key}:")
            for k, v in value.items():
                log(f"    {k}: {v:.4f}" if isinstance(v, float) else f"    {k}: {v}")
        else:
            log(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")


def _cmd_evaluate(args: argparse.Namespace) -> int:
    # with --json, stdout carries the JSON object only: every human line goes to stderr
    def log(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout)

    if args.dataset is not None:
        return _evaluate_dataset(args, log)
    if args.split is not None or args.label_column is not None or args.text_column is not None \
            or args.output_dir is not None:
        raise HFSkeletonError("--split/--label-column/--text-column/--output-dir: only with --dataset")
    return _evaluate_protocol(args, log)


def _evaluate_protocol(args: argparse.Namespace, log) -> int:
    from tqdm import tqdm

    from ..cards import refresh_model_card, update_results
    from ..data import action_labels
    from ..evaluation.protocols import load_protocol_clips, recognition_protocol
    from . import find_demo_clip

    protocol = args.protocol or "nucla-view3"
    if args.data:
        data_dir = Path(args.data)
    else:
        clip = find_demo_clip()
        if clip is None:
            raise HFSkeletonError("no data folder found: pass --data pointing at the folder that holds nw_ucla/")
        data_dir = clip.parents[2]  # .../data/nw_ucla/all_sqe/<clip>.json
    folder = _resolve(args)
    model, processor = _load(folder)
    clips = load_protocol_clips(protocol, data_dir, limit=args.limit, seed=args.seed)
    labels = args.labels.split(",") if args.labels else list(action_labels("nucla").values())
    sample = f"a class-balanced sample (seed {args.seed}) of " if args.limit else ""
    log(f"evaluating {args.model} on {sample}{len(clips)} clips ({protocol}), {len(labels)} candidate labels")
    result = recognition_protocol(model, processor, clips, labels, batch_size=args.batch_size,
                                  generate=not args.no_generate, progress=lambda it: tqdm(it, desc="generate"))
    if args.write_card:
        update_results(folder, {protocol: result})
        log(f"wrote {refresh_model_card(folder)}")
    _report({"model": args.model, "protocol": protocol, **result} if args.json else result, args, log)
    return 0


def _label_column(args: argparse.Namespace, columns: list[str]) -> str | None:
    """``--label-column`` (``none``: captioning only); by default ``label``, or captioning only when the split
    has no ``label`` column but a text column, as the training recipes decide."""
    if args.label_column is not None:
        return None if args.label_column.lower() in ("", "none") else args.label_column
    return "label" if "label" in columns or (args.text_column or "text") not in columns else None


def _evaluate_dataset(args: argparse.Namespace, log) -> int:
    from tqdm import tqdm

    from ..cards import refresh_model_card, update_results
    from ..evaluation.dataset_eval import (
        dataset_name,
        evaluate_dataset,
        load_split,
        save_confusion_matrix,
        slug,
        stored_result,
    )

    if args.protocol is not None or args.data is not None:
        raise HFSkeletonError("--protocol/--data: not with --dataset (the dataset's split is the test set)")
    split = args.split or "test"
    name = dataset_name(args.dataset)
    folder = _resolve(args)
    if args.output_dir is None and not _writable_folder(folder):
        raise HFSkeletonError(f"--output-dir: {_why_not_writable(args.model, folder)}; pass --output-dir for the "
                              "confusion matrix")
    out_dir = Path(args.output_dir or folder)
    model, processor = _load(folder)
    dataset = load_split(args.dataset, split, args.config)
    label_column = _label_column(args, dataset.column_names)
    log(f"evaluating {args.model} on {name} ({split}): {len(dataset)} clips"
        + ("" if label_column else ", captioning only (no label column)"))
    result = evaluate_dataset(
        model, processor, dataset, label_column=label_column, text_column=args.text_column,
        candidate_labels=args.labels.split(",") if args.labels else None, captioning=not args.no_generate,
        batch_size=args.batch_size, limit=args.limit, seed=args.seed, source=args.dataset,
        progress=lambda it: tqdm(it, desc="evaluate", file=sys.stderr))
    png = None
    if result["top1"] is not None:  # classes: the confusion matrix
        png = save_confusion_matrix(result, out_dir / f"confusion_matrix_{slug(name)}_{slug(split)}.png",
                                    title=f"{Path(str(args.model)).name} on {name} ({split}): top-1 {result['top1']:.3f}")
        log(f"wrote {png}")
    result = {"model": args.model, "dataset": args.dataset, "split": split, **result,
              "confusion_matrix_png": None if png is None else str(png)}
    if args.write_card:
        in_folder = png is not None and png.parent.resolve() == Path(folder).resolve()
        update_results(folder, stored_result(result, args.dataset, split, config=args.config,
                                             confusion_matrix=png.name if in_folder else None))
        log(f"wrote {refresh_model_card(folder)}")
    _report(result, args, log)
    return 0


def add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="score a saved understanding model on a protocol or a dataset split",
                       description="Top-1 by candidate likelihood. With --protocol (default nucla-view3: the N-UCLA "
                                   "cross-view test set) also the strict/lenient accuracy of greedy answers. With "
                                   "--dataset (a folder written by `hf-skeleton convert`, or a Hub dataset id) the "
                                   "split's label set is the candidate list: top-1, per-class recall, a confusion "
                                   "matrix PNG and, when the split has a text column, BLEU-4 and ROUGE-L of "
                                   "generated descriptions.")
    p.add_argument("model", help="a saved SkeletonLLM or LLaMo folder, or an embedded model's name "
                                 "(llamo-nucla, skeleton-llm-nucla: read offline)")
    p.add_argument("--protocol", default=None, help="nucla-view3 (default) or nucla-all")
    p.add_argument("--data", default=None, help="the data folder holding nw_ucla/ (default: ../shared/data)")
    p.add_argument("--labels", default=None, help="comma-separated candidate labels (default: the 10 N-UCLA "
                                                  "actions; with --dataset: the split's label set)")
    data = p.add_argument_group("--dataset (a converted dataset split)")
    data.add_argument("--dataset", default=None, metavar="DIR_OR_HUB_ID",
                      help="a folder written by hf-skeleton convert, or a Hub dataset id")
    data.add_argument("--split", default=None, help="the split to score (default: test)")
    data.add_argument("--config", default=None, help="the dataset configuration (default: the first)")
    data.add_argument("--label-column", default=None,
                      help="the class column (default: label; 'none', or no label column beside a text column: "
                           "captioning only, BLEU-4/ROUGE-L without top-1)")
    data.add_argument("--text-column", default=None,
                      help="reference descriptions for BLEU-4/ROUGE-L (default: text, when the split has it)")
    data.add_argument("--output-dir", default=None, help="where the confusion matrix PNG goes (default: the model "
                                                         "folder; required for embedded models)")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="evaluate a seeded, class-balanced sample of N clips (default: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the --limit sample")
    p.add_argument("--batch-size", type=int_in(1, 4096), default=32)
    p.add_argument("--no-generate", action="store_true", help="skip the generated answers / descriptions")
    p.add_argument("--json", action="store_true", help="print exactly one JSON object on stdout (the rest: stderr)")
    p.add_argument("--write-card", action="store_true", help="store the results in the folder and re-render its card")
    p.set_defaults(func=_cmd_evaluate)
