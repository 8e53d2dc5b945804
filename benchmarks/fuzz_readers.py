"""Fuzz every reader with mutated real files; only typed errors may escape.

Each reader gets base inputs made from the real recordings in ../shared/data (cut short where the
file is long, so that many thousands of inputs run in minutes): an N-UCLA clip, CMU BVH files of both
hierarchy styles, the HumanML3D sample (joints and 263-d vectors), a Pose2Sim TRC, a Pose2Sim OpenPose
frame and folder, the Pose2Sim trial's ``Config.toml`` beside its OpenPose folder, the Pose2Sim and
Sports2D videos cut to 3 and 4 frames (read through BlazePose), a Pose2Sim trial folder of two 2-frame videos
and the Qualisys calibration (one base mutates the calibration, one a video), the two real calibration
files (Qualisys ``.qca.txt``, Sports2D's TOML; read with ``load_calibration``), and NTU / COCO / .npz
files written from real motion (no real NTU or COCO file exists here). Mutations:
truncate, overwrite bytes, insert bytes, delete / duplicate / swap lines, replace a number by text
(``abc``, ``nan``, ``1e999``, ``null``, 5,000-digit integers...), and structure-aware edits: replace any
token, replace a JSON node by another type, duplicate or drop a ``{...}`` block, multiply a count
(a size claim), edit a ``.npy`` header's shape / dtype / order, set a 32-bit field of an MP4 box (its
size, a sample count, a dimension) to 0, 1, a huge value or 1,000 times its value. An input is
*accepted* (a valid SkeletonSequence, or a Calibration of finite cameras, came back), a *typed* error (an
``HFSkeletonError``), *other* (anything else: a bug; must be 0) or a *hang* (no answer within
``--timeout`` seconds; must be 0). The video readers run BlazePose on every input (about 0.4 s each), so
they get ``--n-video`` inputs instead of ``--n``.

Two more families run once per reader: *special files* (a FIFO, a symlink to /dev/zero, a folder, a
dangling symlink, a symlink loop in place of the file) and *size claims* (small files claiming huge
arrays: frames without bodies, thousands of one-frame tracks or person ids, joints without channels,
deep hierarchies, thousands of markers, zip bombs, huge ``.npy`` shapes). Every input's peak traced
memory (``tracemalloc``: numpy reports its buffers there) must stay within 64 MiB + 64 x the input
size, the readers' own bound (``--no-trace-memory`` skips it for the mutated inputs).

    python benchmarks/fuzz_readers.py --n 10000          # every reader, 10,000 inputs each (video: 500) + the families
    python benchmarks/fuzz_readers.py --n 500 --readers bvh trc
    python benchmarks/fuzz_readers.py --n-video 50 --readers video multiview

The mutation code is shared with tests/skeletons/test_fuzz_readers.py (hypothesis draws the same operations).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("HF_SKELETON_DATA", REPO.parent / "shared" / "data"))

LONG_INT = b"9" * 5000  # over Python's 4,300-digit int() limit
TEXTS = [b"abc", b"nan", b"inf", b"-inf", b"", b"1e999", b"-", b"{", b"}", b"null", b"1e-320",
         b"99999999999999999999999", b"0", b"-1", b'"x"', b"[]", b"\xff\xfe", b"1.5.5", b"\t\t", LONG_INT,
         b"-" + LONG_INT]
OPS = ("truncate", "flip", "insert", "delete_line", "duplicate_line", "swap_lines", "number",
       "token", "json_node", "block", "count", "npy_header", "mp4_box")
VIDEO_READERS = ("video", "multiview")  # BlazePose runs on every input: fewer inputs (--n-video)
MP4_CONTAINERS = {b"moov", b"trak", b"mdia", b"minf", b"stbl", b"dinf", b"edts", b"udta", b"mvex"}
MP4_VALUES = (0, 1, 0x7FFFFFFF, 0xFFFFFFFF)
_NUMBER = re.compile(rb"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(rb"[^\s,:\[\]{}]+")
_COUNT = re.compile(rb"(?<![\d.])\d{1,6}(?![\d.])")
JSON_VALUES = [None, -1, 0, 10**18, 1e308, -1e308, "x", "", [], {}, [[]], True, {"a": 1}, [None] * 3, 0.5]
NPY_EDITS = [(rb"'shape': \([^)]*\)", [b"'shape': (1000000000000, 25, 3)", b"'shape': (-1, 3)", b"'shape': ()",
                                      b"'shape': (0, 20, 3)", b"'shape': (5, 20, 3, 1, 1)", b"'shape': (2**70,)"]),
             (rb"'descr': '[^']*'", [b"'descr': '|O'", b"'descr': '<U5'", b"'descr': '>f8'", b"'descr': 'V12'",
                                     b"'descr': '<c16'", b"'descr': 'x'", b"'descr': '|b1'"]),
             (rb"'fortran_order': \w+", [b"'fortran_order': True", b"'fortran_order': 1", b"'fortran_order': x"])]


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
        elif kind in ("number", "token"):
            spans = [m.span() for m in (_NUMBER if kind == "number" else _TOKEN).finditer(data)]
            if spans:
                s, e = spans[int(a * len(spans))]
                data = data[:s] + payload + data[e:]
        elif kind == "json_node":
            data = _replace_json_node(data, a, b)
        elif kind == "block":
            data = _edit_block(data, a, b)
        elif kind == "count":  # a size claim: a small integer made up to 10^6 times larger
            spans = [m.span() for m in _COUNT.finditer(data)]
            if spans:
                s, e = spans[int(a * len(spans))]
                data = data[:s] + str(int(data[s:e]) * 10 ** int(1 + b * 6) + 1).encode() + data[e:]
        elif kind == "npy_header":
            pattern, edits = NPY_EDITS[int(a * len(NPY_EDITS))]
            data = re.sub(pattern, edits[int(b * len(edits))], data, count=1)
        elif kind == "mp4_box":
            data = _edit_mp4_box(data, a, b)
    return data


def mp4_boxes(data: bytes, start: int = 0, end: int | None = None, depth: int = 0) -> list[tuple[int, bytes, int]]:
    """(offset, type, size) of every ISO-BMFF box (MP4, MOV), descending into the container boxes (moov, trak,
    ...); stops at the first box whose size does not fit (a damaged file has fewer boxes)."""
    end = len(data) if end is None else end
    out, i = [], start
    while i + 8 <= end and depth < 8:
        size, kind = int.from_bytes(data[i:i + 4], "big"), data[i + 4:i + 8]
        if size == 1 and i + 16 <= end:
            size = int.from_bytes(data[i + 8:i + 16], "big")
        elif size == 0:
            size = end - i
        if size < 8 or i + size > end:
            break
        out.append((i, kind, size))
        if kind in MP4_CONTAINERS:
            out += mp4_boxes(data, i + 8, i + size, depth + 1)
        i += size
    return out


def _edit_mp4_box(data: bytes, a: float, b: float) -> bytes:
    """Set one 32-bit big-endian field among the first 8 of a box (its size, version/flags, counts, sizes...)
    to 0, 1, a huge value or 1,000 times its value; ``a`` picks the box and the field, ``b`` the value."""
    boxes = mp4_boxes(data)
    if not boxes:
        return data
    k = int(a * len(boxes))
    offset, _, size = boxes[k]
    field = offset + 4 * int((a * len(boxes) - k) * min(8, size // 4))
    old = int.from_bytes(data[field:field + 4], "big")
    choices = (*MP4_VALUES, min(old * 1000, 0xFFFFFFFF))
    value = choices[int(b * len(choices))]
    return data[:field] + value.to_bytes(4, "big") + data[field + 4:]


def _replace_json_node(data: bytes, a: float, b: float) -> bytes:
    """Parse ``data`` as JSON and replace its int(a * n)-th node (depth-first) by a value of another type."""
    try:
        obj = json.loads(data)
    except (ValueError, RecursionError):
        return data
    slots: list[tuple[Any, Any]] = []  # (container, key) of every node below the top
    stack = [obj]
    while stack and len(slots) < 100_000:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
        for key, child in items:
            slots.append((node, key))
            stack.append(child)
    if not slots:
        return data
    node, key = slots[int(a * len(slots))]
    node[key] = JSON_VALUES[int(b * len(JSON_VALUES))]
    return json.dumps(obj).encode()


def _edit_block(data: bytes, a: float, b: float) -> bytes:
    """Duplicate (b < 0.5) or drop a balanced ``{...}`` block (a BVH joint, a JSON object)."""
    opens = [i for i, c in enumerate(data) if c == ord("{")]
    if not opens:
        return data
    start = opens[int(a * len(opens))]
    depth = 0
    for end in range(start, len(data)):
        depth += {ord("{"): 1, ord("}"): -1}.get(data[end], 0)
        if depth == 0:
            block = data[start:end + 1]
            return data[:start] + (block + b"\n" + block if b < 0.5 else b"") + data[end + 1:]
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


def cut_video(path: Path, frames: int) -> bytes:
    """The first ``frames`` packets of a real video's first stream, remuxed into an MP4 without re-encoding
    (the real bitstream, cut short)."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(str(path)) as src, av.open(buf, "w", format="mp4") as dst:
        stream = src.streams.video[0]
        out = dst.add_stream_from_template(stream)
        n = 0
        for packet in src.demux(stream):
            if packet.dts is None:  # the demuxer's flush packet
                continue
            if n >= frames:
                break
            packet.stream = out
            dst.mux(packet)
            n += 1
    return buf.getvalue()


def _cut_npy(path: Path, frames: int) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, np.load(path, allow_pickle=False)[:frames])
    return buf.getvalue()


def base_inputs(data_dir: Path = DATA) -> dict[str, list[tuple[str, bytes, dict]]]:
    """reader -> [(relative file name, bytes, kwargs)], made from the real files. The kwargs go to
    ``load_skeleton`` except the keys starting with ``_`` (see :func:`run_one`)."""
    import hf_skeleton as hs
    from hf_skeleton.skeletons.readers import write_ntu_skeleton

    nucla = data_dir / "nw_ucla" / "all_sqe"
    cmu = data_dir / "cmu_mocap_bvh"
    demo = data_dir / "pose2sim_demo"
    p2s = demo / "keypoints_2d_3d"
    cam = p2s / "pose" / "cam01_json"
    qca = demo / "calibration" / "Calib.qca.txt"
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
    # the trial's Config.toml beside an OpenPose camera folder: the reader reads its [pose] pose_model
    out["openpose_trial"] = [("trial/Config.toml", (demo / "Config.toml").read_bytes(),
                              {"format": "openpose_folder", "_load": "trial/pose/cam01_json", "_optional": True,
                               "_files": [(f"trial/pose/cam01_json/{f.name}", f.read_bytes()) for f in frames[:2]]})]
    out["humanml3d_vecs"] = [("new_joint_vecs/012314.npy",
                              _cut_npy(data_dir / "humanml3d_sample" / "new_joint_vecs" / "012314.npy", 8),
                              {"format": "humanml3d_vecs"})]
    video = {"format": "video_pose", "progress": False}
    out["video"] = [("cam01.mp4", cut_video(demo / "videos" / "cam01.mp4", 3), video),
                    ("demo.mp4", cut_video(data_dir / "sports2d_demo" / "demo.mp4", 4), video)]  # detected from frame 3
    trial = {"format": "multiview", "progress": False, "_load": "trial"}
    views = [(f"trial/videos/{c}.mp4", cut_video(demo / "videos" / f"{c}.mp4", 2)) for c in ("cam01", "cam02")]
    out["multiview"] = [("trial/calibration/Calib.qca.txt", qca.read_bytes(), {**trial, "_files": views}),
                        (views[1][0], views[1][1], {**trial, "_files": [views[0], ("trial/calibration/Calib.qca.txt",
                                                                                   qca.read_bytes())]})]
    calibration = {"_loader": "calibration"}
    out["calibration"] = [("Calib.qca.txt", qca.read_bytes(), calibration),
                          ("Calib_demo.toml", (data_dir / "sports2d_demo" / "Calib_demo.toml").read_bytes(), calibration)]
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


def check_calibration(calib) -> str | None:
    """Why a returned calibration is not one of finite cameras, or None."""
    from hf_skeleton.skeletons.calibration import Calibration

    if not isinstance(calib, Calibration) or not len(calib):
        return f"returned {type(calib).__name__}"
    for cam in calib:
        arrays = (cam.matrix, cam.distortion, cam.rotation, cam.translation, np.asarray(cam.size))
        if not all(np.isfinite(a).all() for a in arrays):
            return f"camera {cam.name!r} has non-finite values"
    return None


def input_size(data: bytes, kwargs: dict) -> int:
    """Bytes of one input: the mutated file and every file written beside it."""
    return len(data) + sum(len(d) for _, d in (*kwargs.get("_siblings", []), *kwargs.get("_files", [])))


class _Hang(BaseException):
    """Raised by the alarm when one input runs past the time limit (a BaseException: no reader catches it)."""


def _on_alarm(signum, frame):
    raise _Hang


def run_one(workdir: Path, name: str, data: bytes, kwargs: dict, *, timeout: float = 0,
            measure: dict | None = None, special: str | None = None) -> tuple[str, str]:
    """Write ``data`` as ``workdir/name`` (or make it a ``special`` file: see SPECIAL_KINDS) and load it:
    ('accepted' | 'typed' | 'other' | 'hang', detail). With ``timeout`` > 0 an alarm ends a hang; a
    ``measure`` dict receives the peak traced memory (bytes) and the seconds.

    ``kwargs`` go to ``load_skeleton`` but for: ``_siblings`` [(name beside the file, bytes)] and ``_files``
    [(path under workdir, bytes)] written first; ``_load`` the path under workdir to load (default: the file,
    or its folder for ``format="openpose_folder"``); ``_loader="calibration"`` reads with ``load_calibration``;
    ``_optional`` marks a side file the reader may skip (only for :func:`main`'s special-file check)."""
    import tracemalloc

    import hf_skeleton as hs
    from hf_skeleton.errors import HFSkeletonError
    from hf_skeleton.skeletons.calibration import load_calibration

    if workdir.exists():
        shutil.rmtree(workdir)
    target = workdir / name
    target.parent.mkdir(parents=True)
    kwargs = dict(kwargs)
    for sib, sib_data in kwargs.pop("_siblings", []):
        (target.parent / sib).write_bytes(sib_data)
    for rel, file_data in kwargs.pop("_files", []):
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_bytes(file_data)
    if special:
        _make_special(target, special)
    else:
        target.write_bytes(data)
    load, loader = kwargs.pop("_load", None), kwargs.pop("_loader", None)
    kwargs.pop("_optional", None)
    path = workdir / load if load else target.parent if kwargs.get("format") == "openpose_folder" else target
    if measure is not None:
        tracemalloc.start()
    previous = signal.signal(signal.SIGALRM, _on_alarm) if timeout else None
    start = time.perf_counter()
    try:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, timeout)
        seq = load_calibration(path) if loader == "calibration" else hs.load_skeleton(path, **kwargs)
    except _Hang:
        return "hang", f"no answer within {timeout} s"
    except HFSkeletonError as e:
        return "typed", type(e).__name__
    except Exception as e:  # noqa: BLE001 - the point of fuzzing: report anything untyped
        return "other", "".join(traceback.format_exception_only(type(e), e)).strip()[:300]
    finally:
        if timeout:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        if measure is not None:
            measure.update(peak=tracemalloc.get_traced_memory()[1], seconds=time.perf_counter() - start)
            tracemalloc.stop()
    bad = check_calibration(seq) if loader == "calibration" else check_sequence(seq)
    return ("other", f"invalid result: {bad}") if bad else ("accepted", "")


# ---------------------------------------------------------------------- special files
SPECIAL_KINDS = ("fifo", "dev_zero", "folder", "dangling_symlink", "symlink_loop")


def _make_special(target: Path, kind: str) -> None:
    if kind == "fifo":
        os.mkfifo(target)
    elif kind == "dev_zero":
        target.symlink_to("/dev/zero")
    elif kind == "folder":
        target.mkdir()
    elif kind == "dangling_symlink":
        target.symlink_to(target.parent / "missing")
    elif kind == "symlink_loop":
        target.symlink_to(target)
    else:
        raise ValueError(kind)


# ---------------------------------------------------------------------- size claims
def size_claims() -> list[tuple[str, str, str, bytes, dict]]:
    """(reader, case, file name, bytes, kwargs): small files that claim large arrays, and the audit's
    crafted array files (a header that never closes, huge dimensions, an .npz member of raw bytes)."""
    import io
    import zipfile

    ntu_body = ("72057594037928000 0 0 0 0 0 0 0 0 2\n25\n" + "0.1 0.2 3 0 0 0 0 1 0 0 0 2\n" * 25)
    bvh_joints = "".join(f"  JOINT j{i}\n  {{\n    OFFSET 0 1 0\n    End Site\n    {{\n      OFFSET 0 1 0\n    }}\n  }}\n"
                         for i in range(1000))
    deep = 60_000
    bvh_deep = ("HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n"
                + "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\n" for i in range(deep)) + "}\n" * deep
                + "}\nMOTION\nFrames: 1\nFrame Time: 0.033333\n0 0 0\n")
    markers = [f"M{i}" for i in range(800)]
    trc = ["PathFileType\t4\t(X/Y/Z)\tclaims.trc", "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits",
           f"30\t30\t200\t{len(markers)}\tm", "Frame#\tTime\t" + "\t\t\t".join(markers),
           "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, 801))]
    trc += ["\t".join([str(t + 1), f"{t / 30:.4f}"] + ["0.5"] * 2400) for t in range(200)]
    coco = {"images": [{"id": t, "frame_id": t} for t in range(4000)],
            "annotations": [{"image_id": t, "track_id": t, "keypoints": [1, 1, 2] * 17} for t in range(4000)]}
    person = lambda i: json.dumps({"people": [{"person_id": [i], "pose_keypoints_2d": [1, 1, 0.9] * 25}]}).encode()
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 20, 3), np.float32))
        header["shape"] = (2_000_000, 20, 3)  # 480 MB of zeros, about 0.5 MB deflated
        with z.open("positions.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            chunk = bytes(2**24)
            for _ in range(480_000_000 // len(chunk)):
                member.write(chunk)
            member.write(bytes(480_000_000 % len(chunk)))
    npy = io.BytesIO()
    np.lib.format.write_array_header_1_0(npy, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 22, 3)})
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(huge, {"descr": "<f4", "fortran_order": False, "shape": (2**62, 2**62, 22, 3)})
    unclosed = io.BytesIO()
    np.save(unclosed, np.zeros((4, 22, 3), np.float32))
    raw_member = io.BytesIO()
    with zipfile.ZipFile(raw_member, "w") as z:
        z.writestr("positions.npy", b"these bytes are not an array")
    vecs = io.BytesIO()
    np.lib.format.write_array_header_1_0(vecs, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 263)})
    return [
        ("ntu", "10^6 frames, no bodies", "S001C001P001R001A001.skeleton", b"1000000\n" + b"0\n" * 10**6, {"format": "ntu"}),
        ("ntu", "1 body, then 10^5 empty frames", "S001C001P001R001A001.skeleton",
         f"100001\n1\n{ntu_body}".encode() + b"0\n" * 10**5, {"format": "ntu"}),
        ("coco", "4,000 one-frame tracks", "coco.json", json.dumps(coco).encode(), {"format": "coco"}),
        ("openpose_folder", "1,000 files, distinct person_id", "cam_json/f999.json", person(999),
         {"format": "openpose_folder", "_siblings": [(f"f{i}.json", person(i)) for i in range(999)]}),
        ("bvh", "1,000 channel-less joints x 10^4 frames", "clip.bvh",
         ("HIERARCHY\nROOT r\n{\n  OFFSET 0 0 0\n  CHANNELS 1 Xposition\n" + bvh_joints
          + "}\nMOTION\nFrames: 10000\nFrame Time: 0.033333\n" + "0\n" * 10_000).encode(), {"format": "bvh"}),
        ("bvh", f"{deep:,} nested joints", "clip.bvh", bvh_deep.encode(), {"format": "bvh"}),
        ("trc", "800 markers x 200 rows", "claims.trc", ("\n".join(trc) + "\n").encode(), {"format": "trc"}),
        ("array", "zip bomb (480 MB of zeros)", "clip.npz", bomb.getvalue(), {"format": "kinect_v1"}),
        ("humanml3d", "header shape (10^9, 22, 3)", "new_joints/000001.npy", npy.getvalue(), {"format": "humanml3d"}),
        ("humanml3d", "header shape (2^62, 2^62, 22, 3)", "new_joints/000001.npy", huge.getvalue(),
         {"format": "humanml3d"}),
        ("humanml3d", "header dict never closed", "new_joints/000001.npy",
         unclosed.getvalue().replace(b"}", b" ", 1), {"format": "humanml3d"}),
        ("array", ".npz member that is not an array", "clip.npz", raw_member.getvalue(), {"format": "kinect_v1"}),
        ("humanml3d_vecs", "header shape (10^9, 263)", "new_joint_vecs/000001.npy", vecs.getvalue(),
         {"format": "humanml3d_vecs"}),
        ("video", "3 frames, sample table claims 10^9", "cam01.mp4", video_claim(), {"format": "video_pose",
                                                                                   "progress": False}),
    ]


def video_claim(data_dir: Path = DATA) -> bytes:
    """The demo's cam01 cut to 3 frames, its ``stts`` (time-to-sample) entry claiming 10^9 frames."""
    data = bytearray(cut_video(data_dir / "pose2sim_demo" / "videos" / "cam01.mp4", 3))
    offset = next(o for o, kind, _ in mp4_boxes(bytes(data)) if kind == b"stts")
    data[offset + 16:offset + 20] = (10**9).to_bytes(4, "big")  # size, type, version/flags, entries, count
    return bytes(data)


def memory_bound(input_bytes: int) -> int:
    """The readers' own allowance (``check_dense_size``): 64 MiB + 64 x the input."""
    return 64 * 2**20 + 64 * input_bytes


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000, help="mutated inputs per reader")
    ap.add_argument("--n-video", type=int, default=500,
                    help=f"mutated inputs for the readers that run BlazePose ({', '.join(VIDEO_READERS)})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--readers", nargs="*", default=None)
    ap.add_argument("--timeout", type=float, default=20.0, help="seconds before an input counts as a hang")
    ap.add_argument("--no-trace-memory", dest="trace_memory", action="store_false",
                    help="skip tracemalloc on the mutated inputs (about 2x faster; size claims are always traced)")
    ap.add_argument("--families", nargs="*", default=["mutations", "special", "claims"],
                    choices=["mutations", "special", "claims"])
    args = ap.parse_args(argv)
    import warnings

    warnings.simplefilter("ignore")
    bases = base_inputs()
    names = args.readers or sorted(bases)
    rng = np.random.default_rng(args.seed)
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp) / "w"
        if "mutations" in args.families:
            print(f"{'reader':16s} {'inputs':>7s} {'accepted':>9s} {'typed':>7s} {'other':>6s} {'hang':>5s} "
                  f"{'peak MB':>8s} {'over bound':>10s} {'seconds':>8s}")
            for reader in names:
                counts = {"accepted": 0, "typed": 0, "other": 0, "hang": 0}
                examples: list[str] = []
                start, peak, over = time.perf_counter(), 0, 0
                n = args.n_video if reader in VIDEO_READERS else args.n
                for i in range(n):
                    fname, data, kwargs = bases[reader][i % len(bases[reader])]
                    data, m = mutate(data, random_ops(rng)), {}
                    outcome, detail = run_one(work, fname, data, kwargs, timeout=args.timeout,
                                              measure=m if args.trace_memory else None)
                    counts[outcome] += 1
                    if m:
                        peak, over = max(peak, m["peak"]), over + (m["peak"] > memory_bound(input_size(data, kwargs)))
                    if outcome in ("other", "hang") and len(examples) < 5:
                        examples.append(detail)
                failures += counts["other"] + counts["hang"] + over
                print(f"{reader:16s} {n:7d} {counts['accepted']:9d} {counts['typed']:7d} {counts['other']:6d} "
                      f"{counts['hang']:5d} {peak / 1e6 if args.trace_memory else float('nan'):8.1f} {over:10d} "
                      f"{time.perf_counter() - start:8.1f}", flush=True)
                for ex in examples:
                    print("    other:", ex)
        if "special" in args.families:
            print("\nspecial files in place of the input (every reader x " + ", ".join(SPECIAL_KINDS) + "):")
            for reader in names:
                fname, data, kwargs = bases[reader][0]
                outcomes = [run_one(work, fname, data, kwargs, timeout=args.timeout, special=kind)
                            for kind in SPECIAL_KINDS]
                # a special file is refused (typed); an optional side file (a Config.toml) may be skipped instead
                fine = ("typed", "accepted") if kwargs.get("_optional") else ("typed",)
                bad = [(k, o) for k, o in zip(SPECIAL_KINDS, outcomes) if o[0] not in fine]
                failures += len(bad)
                what = "typed errors" if len(fine) == 1 else "typed errors or skipped"
                print(f"  {reader:16s} {len(SPECIAL_KINDS)} {what}" if not bad else f"  {reader:16s} {bad}",
                      flush=True)
        if "claims" in args.families:
            print(f"\n{'size claim':42s} {'reader':16s} {'input':>9s} {'outcome':>8s} {'peak MB':>8s} {'bound MB':>9s} "
                  f"{'seconds':>8s}")
            for reader, case, fname, data, kwargs in size_claims():
                if reader not in names:
                    continue
                size = input_size(data, kwargs)
                m: dict = {}
                outcome, detail = run_one(work, fname, data, kwargs, timeout=args.timeout, measure=m)
                ok = outcome in ("typed", "accepted") and m["peak"] <= memory_bound(size)
                failures += not ok
                print(f"{case:42s} {reader:16s} {size / 1e3:8.0f}K {outcome:>8s} {m['peak'] / 1e6:8.1f} "
                      f"{memory_bound(size) / 1e6:9.0f} {m['seconds']:8.2f}{'' if ok else '  FAIL ' + detail}",
                      flush=True)
    print("other errors, hangs and unbounded claims in total:", failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
