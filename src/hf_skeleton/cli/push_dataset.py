"""``hf-skeleton push-dataset DIR REPO_ID``: upload a converted dataset folder (its card and the data files the
card lists) to a Hub dataset repository; ``--dry-run`` lists exactly those files and uploads nothing."""

from __future__ import annotations

import argparse
from pathlib import Path


def _cmd_push_dataset(args: argparse.Namespace) -> int:
    from ..hub import dataset_files_to_push, push_dataset_folder

    files = dataset_files_to_push(args.folder)
    if args.dry_run:
        folder = Path(args.folder)
        size = sum((folder / name).stat().st_size for name in files)
        print(f"would upload {len(files)} files ({size / 1e6:.2f} MB) to the dataset repository {args.repo_id}"
              + (" (private)" if args.private else "") + ":")
        for name in files:
            print(f"  {name}")
        return 0
    url = push_dataset_folder(args.folder, args.repo_id, private=args.private)
    print(f"pushed {args.folder} to {url}")
    return 0


def add_push_dataset(sub) -> None:
    p = sub.add_parser("push-dataset", help="upload a converted dataset folder with its card to the Hub",
                       description="Check a folder written by `hf-skeleton convert` (its card's metadata, every data "
                                   "file the card lists) and upload the card and those files to the dataset "
                                   "repository REPO_ID (created if missing). Other files in the folder stay local.")
    p.add_argument("folder", help="a converted dataset folder (README.md + data/)")
    p.add_argument("repo_id", help="the Hub dataset repository, e.g. user/my-skeleton-clips")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--dry-run", action="store_true", help="list the exact files that would be uploaded and stop")
    p.set_defaults(func=_cmd_push_dataset)
