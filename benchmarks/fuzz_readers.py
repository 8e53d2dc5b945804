"""Fuzz every reader with mutated real files; only typed errors may escape.

Each reader gets base inputs made from the real recordings in ../shared/data (cut short where the
file is long, so that many thousands of inputs run in minutes): an N-UCLA clip, CMU BVH files of both
hierarchy styles, the HumanML3D sample, a Pose2Sim TRC, a Pose2Sim OpenPose frame and folder, and NTU /
COCO / .npz files written from real motion (no real NTU or COCO file exists here). Mutations:
truncate, overwrite bytes, insert bytes, delete / duplicate / swap lines, replace a number by text
(``abc``, ``nan``, ``1e999``, ``null``...). An input is *accepted* (a valid SkeletonSequence came
back), a *typed* error (an ``HFSkeletonError``), or *other* (anything else: a bug; must be 0).

    python benchmarks/fuzz_readers.py --n 10000          # every reader, 10,000 inputs each
    python benchmarks/fuzz_readers.py --n 500 --readers bvh trc

The mutation code is shared with tests/skeletons/test_fuzz_readers.py (hypothesis draws the same operations).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))

TEXTS = [b"abc", b"nan", b"inf", b"-inf", b"", b"1e999", b"-", b"{", b"}", b"null", b"1e-320",
         b"99999999999999999999999", b"0", b"-1", b'"x"', b"[]", b"\xff\xfe", b"1.5.5", b"\t\t"]
OPS = ("truncate", "flip", "insert", "delete_line", "duplicate_line", "swap_lines", "number")
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")


def mutate(data: bytes, ops: list[tuple]) -> bytes:
    """Apply operations ``(kind, a, b, payload)`` with a, b in [0, 1) as positions in the data."""
    for kind, a, b, payload in ops:
        n = len(data)
        if kind == "truncate":
            data = data[:int(a * n)]
        elif kind == "flip" and n:
            i = int(a * n)
            data = data[:i] + bytes([int(b * 256)]) + data[i + 1:]
        elif kind == "insert":
            i = int(a * n)
            data = data[:i] + payload + data[i:]
        elif kind in ("delete_line", "duplicate_line", "swap_lines"):
            lines = data.split(b"\n")
            i, j = int(a * len(lines)), int(b * len(lines))
            if kind == "delete_line":
                del lines[i]
            elif kind == "duplicate_line":
                lines.insert(i, lines[i])
            else:
                lines[i], lines[j] = lines[j], lines[i]
            data = b"\n".join(lines)
        elif kind == "number":
            spans = [m.span() for m in _NUMBER.finditer(data)]
            if spans:
                s, e = spans[int(a * len(spans))]
                data = data[:s] + payload + data[e:]
    return data


def random_ops(rng: np.random.Generator) -> list[tuple]:
    ops = []
    for _ in range(int(rng.integers(1, 4))):
        kind = OPS[int(rng.integers(len(OPS)))]
        if kind == "insert":
            payload = rng.integers(0, 256, int(rng.integers(1, 9)), dtype=np.uint8).tobytes()
        else:
            payload = TEXTS[int(rng.integers(len(TEXTS)))]
        ops.append((kind, float(rng.random()), float(rng.random()), payload))
    return ops


# ---------------------------------------------------------------------- base inputs from real files
def _cut_bvh(path: Path, frames: int) -> bytes:
    lines = path.read_text().splitlines()
    m = lines.index("MOTION")
    return ("\n".join(lines[:m + 1] + [f"Frames: {frames}", lines[m + 2]] + lines[m + 3:m + 3 + frames])
            + "\n").encode()


def _cut_trc(path: Path, frames: int) -> bytes:
    lines = path.read_text().splitlines()
    keys, values = lines[1].split("\t"), lines[2].split("\t")
    values[keys.index("NumFrames")] = str(frames)
    data = [line for line in lines[5:] if line.strip()][:frames]
    return ("\n".join(lines[:2] + ["\t".join(values)] + lines[3:5] + data) + "\n").encode()


def base_inputs(data_dir: Path = DATA) -> dict[str, list[tuple[str, bytes, dict]]]:
    """reader -> [(relative file name, bytes, load_skeleton kwargs)], made from the real files."""
    import hf_skeleton as hs
    from hf_skeleton.skeletons.readers import write_ntu_skeleton

    nucla = data_dir / "nw_ucla" / "all_sqe"
    cmu = data_dir / "cmu_mocap_bvh"
    p2s = data_dir / "pose2sim_demo" / "keypoints_2d_3d"
    cam = p2s / "pose" / "cam01_json"
    out: dict[str, list[tuple[str, bytes, dict]]] = {}
    out["nucla"] = [("clip.json", (nucla / "a11_s03_e01_v03.json").read_bytes(), {"format": "nucla"})]
    out["bvh"] = [("clip.bvh", _cut_bvh(cmu / "02_01.bvh", 4), {"format": "bvh"}),
                  ("clip.bvh", _cut_bvh(cmu / "16_01.bvh", 4), {"format": "bvh"})]
    out["humanml3d"] = [("new_joints/012314.npy",
                         (data_dir / "humanml3d_sample" / "new_joints" / "012314.npy").read_bytes(),
                         {"format": "humanml3d"})]
    out["trc"] = [("clip.trc", _cut_trc(p2s / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc", 5),
                   {"format": "trc"})]
    frames = sorted(cam.glob("*.json"))
    out["openpose"] = [("frame.json", frames[0].read_bytes(), {"format": "openpose"})]
    out["openpose_folder"] = [("cam_json/f.0002.json", frames[2].read_bytes(),
                               {"format": "openpose_folder", "_siblings": [(f.name, f.read_bytes())
                                                                         for f in frames[:2]]})]
    real = hs.load_skeleton(nucla / "a11_s03_e01_v03.json")
    with tempfile.TemporaryDirectory() as tmp:
        two = real.copy(positions=np.concatenate([real.positions[:3], real.positions[:3] + 1], 1),
                        mask=np.concatenate([real.mask[:3], real.mask[:3]], 1))
        ntu = write_ntu_skeleton(two.to_format("kinect_v2"), Path(tmp) / "S001C001P001R001A001.skeleton")
        out["ntu"] = [("S001C001P001R001A001.skeleton", ntu.read_bytes(), {"format": "ntu"})]
        npz = Path(tmp) / "clip.npz"
        np.savez(npz, positions=real.positions[:5], mask=real.mask[:5], fps=np.array(30.0))
        out["array"] = [("clip.npz", npz.read_bytes(), {"format": "kinect_v1"})]
    op = hs.load_skeleton(cam, fps=60).to_format("coco17")
    images, anns = [], []
    for t in range(3):
        images.append({"id": t + 1, "file_name": f"{t:06d}.jpg", "frame_id": t})
        for p in range(op.num_persons):
            vis = np.where(op.mask[t, p], 2, 0)[:, None]
            kp = np.concatenate([op.positions[t, p, :, :2], vis], 1).round(2)
            anns.append({"image_id": t + 1, "track_id": p, "category_id": 1, "keypoints": kp.ravel().tolist()})
    out["coco"] = [("coco.json", json.dumps({"images": images, "annotations": anns}).encode(), {"format": "coco"})]
    return out


def check_sequence(seq) -> str | None:
    """Why a returned sequence breaks the SkeletonSequence contract, or None."""
    import hf_skeleton as hs

    if not isinstance(seq, hs.SkeletonSequence):
        return f"returned {type(seq).__name__}"
    pos, mask = seq.positions, seq.mask
    if pos.dtype != np.float32 or pos.ndim != 4 or pos.shape[-1] != 3:
        return f"positions {pos.dtype} {pos.shape}"
    if mask.dtype != bool or mask.shape != pos.shape[:3]:
        return f"mask {mask.dtype} {mask.shape}"
    if not np.isfinite(pos).all() or (pos[~mask] != 0).any():
        return "non-finite or unmasked-garbage positions"
    if seq.orientations is not None and not np.isfinite(seq.orientations).all():
        return "non-finite orientations"
    return None


def run_one(workdir: Path, name: str, data: bytes, kwargs: dict) -> tuple[str, str]:
    """Write ``data`` as ``workdir/name`` and load it: ('accepted' | 'typed' | 'other', detail)."""
    import hf_skeleton as hs
    from hf_skeleton.errors import HFSkeletonError

    if workdir.exists():
        shutil.rmtree(workdir)
    target = workdir / name
    target.parent.mkdir(parents=True)
    kwargs = dict(kwargs)
    for sib, sib_data in kwargs.pop("_siblings", []):
        (target.parent / sib).write_bytes(sib_data)
    target.write_bytes(data)
    path = target.parent if kwargs.get("format") == "openpose_folder" else target
    try:
        seq = hs.load_skeleton(path, **kwargs)
    except HFSkeletonError as e:
        return "typed", type(e).__name__
    except Exception as e:  # noqa: BLE001 - the point of fuzzing: report anything untyped
        return "other", "".join(traceback.format_exception_only(type(e), e)).strip()[:300]
    bad = check_sequence(seq)
    return ("other", f"invalid sequence: {bad}") if bad else ("accepted", "")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="mutated inputs per reader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readers", nargs="*", default=None)
    args = ap.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    bases = base_inputs()
    names = args.readers or sorted(bases)
    rng = np.random.default_rng(args.seed)
    total_other = 0
    print(f"{'reader':16s} {'inputs':>7s} {'accepted':>9s} {'typed':>7s} {'other':>6s} {'seconds':>8s}")
    with tempfile.TemporaryDirectory() as tmp:
        for reader in names:
            counts = {"accepted": 0, "typed": 0, "other": 0}
            examples: list[str] = []
            start = time.perf_counter()
            for i in range(args.n):
                fname, data, kwargs = bases[reader][i % len(bases[reader])]
                outcome, detail = run_one(Path(tmp) / "w", fname, mutate(data, random_ops(rng)), kwargs)
                counts[outcome] += 1
                if outcome == "other" and len(examples) < 5:
                    examples.append(detail)
            total_other += counts["other"]
            print(f"{reader:16s} {args.n:7d} {counts['accepted']:9d} {counts['typed']:7d} {counts['other']:6d} "
                  f"{time.perf_counter() - start:8.1f}", flush=True)
            for ex in examples:
                print("    other:", ex)
    print("other errors in total:", total_other)
    return 1 if total_other else 0


if __name__ == "__main__":
    sys.exit(main())
