"""Writers on real clips (issue 20): HumanML3D vectors against the released files, and BVH round trips.

    OMP_NUM_THREADS=1 python benchmarks/writers_roundtrip.py --nucla 1484 --cmu 58

Prints Markdown tables:
- HumanML3D: ``recover_from_ric`` of the released ``new_joint_vecs`` against the released ``new_joints``;
  the vectors our writer computes from ``new_joints`` (plus the one frame it drops, rebuilt from the last
  local velocity) against the released vectors, per part of the 263 dims.
- BVH: each clip written with ``hs.save_skeleton(seq, "x.bvh")`` (``exact=True``: position channels where
  rotations cannot reproduce a joint) and ``exact=False`` (rotations only), read back with our BVH reader,
  joints matched by name; the largest joint distance over the clip, in the clip's own units.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))
PARTS = {"root 0:4": (0, 4), "ric 4:67": (4, 67), "rot6d 67:193": (67, 193), "velocity 193:259": (193, 259),
         "feet 259:263": (259, 263)}


def humanml3d() -> None:
    from hf_skeleton.skeletons.readers.humanml3d_vecs import (
        qinv,
        qrot,
        recover_from_ric,
        recover_root_rot_pos,
    )
    from hf_skeleton.skeletons.writers.humanml3d_vecs import humanml3d_vectors

    folder = DATA / "humanml3d_sample"
    vecs = np.load(folder / "new_joint_vecs" / "012314.npy")
    joints = np.load(folder / "new_joints" / "012314.npy")
    err = np.linalg.norm(recover_from_ric(vecs) - joints, axis=-1)
    print(f"\nHumanML3D 012314 ({len(vecs)} frames): recover_from_ric vs new_joints: max {err.max():.2e} m, "
          f"mean {err.mean():.2e} m\n")
    quat, _ = recover_root_rot_pos(vecs)
    last = joints[-1] + qrot(np.broadcast_to(qinv(quat[-1]), (22, 4)), vecs[-1, 193:259].reshape(22, 3))
    full = np.concatenate([joints, last[None]])
    print("| dims | our writer vs released, max abs | from new_joints only (169 rows), max abs | rows 0-99 |")
    print("|---|---|---|---|")
    ours, short = humanml3d_vectors(full), humanml3d_vectors(joints)
    for name, (a, b) in PARTS.items():
        d_full = np.abs(ours[:, a:b] - vecs[:, a:b]).max()
        d_short = np.abs(short[:, a:b] - vecs[:-1, a:b])
        print(f"| {name} | {d_full:.1e} | {d_short.max():.1e} | {d_short[:100].max():.1e} |")


def bvh_rows(name: str, files: list[Path], tmp: Path, units: str) -> None:
    import hf_skeleton as hs

    exact_err, rigid_err, stretched, cpu, frames, joints = [], [], [], [], 0, set()
    for f in files:
        seq = hs.load_skeleton(f)
        frames += seq.num_frames
        joints.add(seq.num_joints)
        for exact, sink in ((True, exact_err), (False, rigid_err)):
            out = tmp / f"{f.stem}_{exact}.bvh"
            start = time.process_time()
            hs.save_skeleton(seq, out, exact=exact, overwrite=True)
            if exact:
                cpu.append(time.process_time() - start)
                header = out.read_text().split("MOTION")[0]
                stretched.append(header.count("Xposition") - 1)
            back = hs.load_skeleton(out)
            idx = [back.format.joints.index(n) for n in seq.format.joints]
            sink.append(float(np.linalg.norm(back.positions[:, 0, idx] - seq.positions[:, 0], axis=-1).max()))
    print(f"| {name} | {len(files)} | {frames} | {'/'.join(map(str, sorted(joints)))} | "
          f"{max(exact_err):.1e} {units} | {statistics.median(rigid_err):.2g} / {max(rigid_err):.2g} {units} | "
          f"{statistics.mean(stretched):.1f} | {1000 * statistics.median(cpu):.0f} ms |")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nucla", type=int, default=60, help="N-UCLA clips (evenly spread over the sorted list)")
    ap.add_argument("--cmu", type=int, default=6, help="CMU BVH files (evenly spread)")
    args = ap.parse_args()
    import hf_skeleton as hs

    print(f"{platform.machine()} {platform.python_version()}, numpy {np.__version__}, hf_skeleton {hs.__version__}")
    humanml3d()

    def spread(files: list[Path], n: int) -> list[Path]:
        return [files[i] for i in np.linspace(0, len(files) - 1, min(n, len(files))).round().astype(int)]

    print("\n| clips | files | frames | joints | exact=True: max error | exact=False: median / max of per-clip max "
          "| joints with position channels (mean) | write CPU per clip (median) |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        bvh_rows("HumanML3D new_joints (smpl22)", [DATA / "humanml3d_sample" / "new_joints" / "012314.npy"], Path(tmp),
                 "m")
        bvh_rows("CMU BVH", spread(sorted((DATA / "cmu_mocap_bvh").glob("*.bvh")), args.cmu), Path(tmp),
                 "cm")
        bvh_rows("N-UCLA Kinect v1 JSON", spread(sorted((DATA / "nw_ucla" / "all_sqe").glob("*.json")),
                                                     args.nucla), Path(tmp), "m")


if __name__ == "__main__":
    main()
