"""``hf-skeleton convert``: a raw dataset folder (or any folder with a labels.csv) into parquet shards + a card."""

from __future__ import annotations

import argparse

from ..errors import HFSkeletonError
from .options import float_in, int_in, positive_int


def _cmd_convert(args: argparse.Namespace) -> int:
    from ..dataset_tools.convert import _summary, convert_dataset

    folder_only = {"labels": args.labels, "format": args.format, "fps": args.fps, "test_size": args.test_size,
                   "seed": args.seed}
    options = {k: v for k, v in folder_only.items() if v is not None}
    if options and args.dataset != "folder":
        raise HFSkeletonError(f"--{'/--'.join(k.replace('_', '-') for k in options)}: only with --dataset folder")
    result = convert_dataset(args.raw_dir, args.out_dir, args.dataset, num_shards=args.num_shards,
                             max_rows_per_shard=args.max_rows_per_shard, num_proc=args.num_proc, limit=args.limit,
                             on_error="skip" if args.skip_bad else "raise", overwrite=args.overwrite,
                             source_options=options if args.dataset == "folder" else None)
    for config, splits in result.num_rows.items():
        for split, n in splits.items():
            print(f"{config}/{split}: {n} rows in {len(result.data_files[config][split])} shard(s)")
    if result.skipped:
        print(f"skipped {len(result.skipped)} clip(s); see {result.out_dir / 'README.md'}")
    print(_summary(result))
    return 0


class _DatasetChoices:
    """argparse ``choices`` read from the dataset sources on first use, so building the parser (and
    ``--help``/``--version``) does not import the readers."""

    def _names(self) -> list[str]:
        from ..dataset_tools.sources import SOURCES

        return sorted(SOURCES)

    def __contains__(self, name) -> bool:
        return name in self._names()

    def __iter__(self):
        return iter(self._names())


def add_convert(sub) -> None:
    p = sub.add_parser("convert", help="convert a raw dataset folder into sharded parquet + dataset card",
                       description="Convert a raw dataset (its official folder layout) into `datasets` parquet "
                                   "shards with explicit features and a README.md dataset card.")
    p.add_argument("raw_dir", help="the raw dataset folder")
    p.add_argument("out_dir", help="output folder (data/ shards and README.md)")
    p.add_argument("--dataset", required=True, choices=_DatasetChoices(), metavar="NAME",
                   help="which dataset the folder holds: %(choices)s")
    p.add_argument("--num-shards", type=positive_int, default=None, help="shards per split (default: by --max-rows-per-shard)")
    p.add_argument("--max-rows-per-shard", type=positive_int, default=1000, help="rows per shard when --num-shards is unset")
    p.add_argument("--num-proc", type=int_in(1, 256), default=1, help="worker processes")
    p.add_argument("--limit", type=positive_int, default=None, help="convert only N clips (spread over the file list)")
    p.add_argument("--skip-bad", action="store_true",
                   help="skip clips that cannot be read or stored (listed in the card) instead of stopping")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a previous conversion in OUT_DIR (its README.md and data/, kept intact until the "
                        "new one is complete; other files are never touched)")
    own = p.add_argument_group("--dataset folder (one clip per file, listed in a labels.csv)")
    own.add_argument("--labels", default=None, help="CSV with a `file` column (relative to RAW_DIR) and any of "
                     "label, text, split, id (default: RAW_DIR/labels.csv; relative: RAW_DIR first, then here)")
    own.add_argument("--format", default=None, metavar="NAME|FORMAT.json",
                     help="force a skeleton format (registered name or reader) or load one from a FORMAT.json "
                          "(SkeletonFormat.to_dict() output); plain .npy/.npz arrays need it")
    own.add_argument("--fps", type=float_in(0.0, 100_000.0, lo_open=True), default=None,
                     help="frame rate of files that record none (N-UCLA JSON, OpenPose, arrays; default: the readers')")
    own.add_argument("--test-size", type=float_in(0.0, 1.0, hi_open=True), default=None,
                     help="share of each class in test when labels.csv has no split column (default 0.2)")
    own.add_argument("--seed", type=int_in(0, 2**32 - 1), default=None, help="seed of that split (default 0)")
    p.set_defaults(func=_cmd_convert)
