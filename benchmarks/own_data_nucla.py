"""N-UCLA as a user's own data (#15 evidence): a labels.csv written from the file names (views 1-2 train, view 3
test), converted with the generic `hf-skeleton convert --dataset folder`, optionally into a user-defined format
(`--arms`: only the 8 arm and hand joints, two chains without a torso, from a hand-written FORMAT.json).

    python benchmarks/own_data_nucla.py /tmp/own/nucla            # all 20 joints (kinect_v1, from the files)
    python benchmarks/own_data_nucla.py /tmp/own/arms --arms      # arms.json
    hf-skeleton train llamo --dataset /tmp/own/nucla/dataset --output-dir /tmp/own/llamo ...

Prints the dataset folder. The clips are read in place from ../shared/data (or HF_SKELETON_DATA); only the
labels.csv, the FORMAT.json and the converted parquet are written under OUT.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import hf_skeleton as hs
from hf_skeleton.cli import main
from hf_skeleton.data.discovery import find_data_dir
from hf_skeleton.testing import nucla_arms_format_dict


def write_labels(clips_dir: Path, path: Path) -> int:
    """labels.csv (file, label, split) from N-UCLA's names ``aAA_sSS_eEE_vVV.json``; returns the row count."""
    files = sorted(clips_dir.glob("a*_s*_e*_v0[123].json"))
    action_ids = sorted({int(f.name[1:3]) for f in files})  # 1-6, 8, 9, 11, 12: the dataset's 10 actions, in order
    names = dict(zip(action_ids, hs.data.action_labels("nucla").values()))
    rows = [[f.name, names[int(f.name[1:3])], "test" if f.stem.endswith("v03") else "train"] for f in files]
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "label", "split"], *rows])
    return len(rows)


def build(out: Path, arms: bool) -> Path:
    clips_dir = find_data_dir("nw_ucla/all_sqe")
    if clips_dir is None:
        raise SystemExit("no ../shared/data/nw_ucla/all_sqe: set HF_SKELETON_DATA")
    clips_dir = clips_dir / "nw_ucla" / "all_sqe"
    out.mkdir(parents=True, exist_ok=True)
    write_labels(clips_dir, out / "labels.csv")
    argv = ["convert", str(clips_dir), str(out / "dataset"), "--dataset", "folder", "--labels", str(out / "labels.csv"),
            "--overwrite"]
    if arms:
        (out / "arms.json").write_text(json.dumps(nucla_arms_format_dict(), indent=1))
        argv += ["--format", str(out / "arms.json")]
    if main(argv) != 0:
        raise SystemExit("conversion failed")
    return out / "dataset"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path)
    parser.add_argument("--arms", action="store_true", help="convert into the arms-only FORMAT.json")
    args = parser.parse_args()
    print(build(args.out, args.arms))
