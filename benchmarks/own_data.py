"""Our recordings as a user's own data (#15 evidence), converted with the generic `hf-skeleton convert --dataset
folder` from a labels.csv a user would write:

- `nucla`: N-UCLA, labels from the file names, views 1-2 train, view 3 test;
- `arms`: the same clips in a user-defined format from a hand-written FORMAT.json (only the 8 arm and hand
  joints, two chains without a torso);
- `cmu-captions`: the 58 CMU BVH trials with their CMU index descriptions (`long_label`) as the text column and
  no labels (captioning only), every 4th trial in name order held out (the split of
  `benchmarks/llamo_evidence.py cmu`).

    python benchmarks/own_data.py nucla /tmp/own/nucla
    python benchmarks/own_data.py arms /tmp/own/arms
    python benchmarks/own_data.py cmu-captions /tmp/own/cmu
    hf-skeleton train llamo --dataset /tmp/own/nucla/dataset --output-dir /tmp/own/llamo ...

Prints the dataset folder. The recordings are read in place from ../shared/data (or HF_SKELETON_DATA); only
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


def write_cmu_captions(bvh_dir: Path, path: Path) -> int:
    """labels.csv (file, text, split): each trial's CMU index description, every 4th trial (name order) test."""
    with open(bvh_dir / "cmu_motion_labels.csv", newline="") as fh:
        texts = {r["motion_id"]: r["long_label"] for r in csv.DictReader(fh) if r["motion_id"]}
    files = sorted(bvh_dir.glob("*.bvh"))
    rows = [[f.name, texts[f.stem], "test" if i % 4 == 3 else "train"] for i, f in enumerate(files)]
    with open(path, "w", newline="") as fh:
        csv.writer(fh).writerows([["file", "text", "split"], *rows])
    return len(rows)


def build(kind: str, out: Path) -> Path:
    folder = find_data_dir("cmu_mocap_bvh" if kind == "cmu-captions" else "nw_ucla/all_sqe")
    if folder is None:
        raise SystemExit("no ../shared/data: set HF_SKELETON_DATA")
    raw = folder / ("cmu_mocap_bvh" if kind == "cmu-captions" else "nw_ucla/all_sqe")
    out.mkdir(parents=True, exist_ok=True)
    (write_cmu_captions if kind == "cmu-captions" else write_labels)(raw, out / "labels.csv")
    argv = ["convert", str(raw), str(out / "dataset"), "--dataset", "folder", "--labels", str(out / "labels.csv"),
            "--overwrite"]
    if kind == "arms":
        (out / "arms.json").write_text(json.dumps(nucla_arms_format_dict(), indent=1))
        argv += ["--format", str(out / "arms.json")]
    if main(argv) != 0:
        raise SystemExit("conversion failed")
    return out / "dataset"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=["nucla", "arms", "cmu-captions"])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    print(build(args.kind, args.out))
