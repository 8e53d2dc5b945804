"""Small files claiming huge arrays are typed errors before any large allocation; deep or wide
files stay within memory proportional to what they hold (benchmarks/fuzz_readers.py, "size claims")."""

from __future__ import annotations

import io
import json
import os
import tracemalloc
import zipfile

import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFileError

NTU_BODY = "72057594037928000 0 0 0 0 0 0 0 0 2\n25\n" + "0.1 0.2 3 0 0 0 0 1 0 0 0 2\n" * 25


def _peak_of(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def _claims_fail(path, field_words, **kw):
    """The load is a SkeletonFileError naming ``field_words`` and allocates little (< 64 MiB traced)."""
    caught = []

    def load():
        with pytest.raises(SkeletonFileError) as e:
            hs.load_skeleton(path, **kw)
        caught.append(e.value)

    assert _peak_of(load) < 64 * 2**20
    assert field_words in str(caught[0]) and "HF_SKELETON_MAX_EXPANSION" in str(caught[0]), str(caught[0])


def test_ntu_frames_without_bodies(tmp_path):
    f = tmp_path / "S001C001P001R001A001.skeleton"
    f.write_text(f"300001\n1\n{NTU_BODY}" + "0\n" * 300_000)  # 600 KB claiming 1.3 GB
    _claims_fail(f, "frame count x bodies")


def test_coco_one_frame_tracks(tmp_path):
    n = 1500
    f = tmp_path / "tracks.json"
    f.write_text(json.dumps({"images": [{"id": t} for t in range(n)],
                             "annotations": [{"image_id": t, "track_id": t, "keypoints": [1, 1, 2] * 17}
                                             for t in range(n)]}))
    _claims_fail(f, "images x tracks")


def test_openpose_folder_of_distinct_person_ids(tmp_path):
    folder = tmp_path / "cam_json"
    folder.mkdir()
    for i in range(600):
        (folder / f"f{i:04d}.json").write_text(
            json.dumps({"people": [{"person_id": [i], "pose_keypoints_2d": [1, 1, 0.9] * 25}]}))
    _claims_fail(folder, "frame files x person_ids", format="openpose_folder")


def test_bvh_joints_without_channels(tmp_path):
    joints = "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\nEnd Site\n{{\nOFFSET 0 1 0\n}}\n}}\n" for i in range(1000))
    f = tmp_path / "wide.bvh"
    f.write_text("HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 1 Xposition\n" + joints
                 + "}\nMOTION\nFrames: 10000\nFrame Time: 0.033333\n" + "0\n" * 10_000)
    _claims_fail(f, "Frames x joints")


def test_npz_zip_bomb_is_refused_before_decompressing(tmp_path):
    f = tmp_path / "bomb.npz"
    with zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
        header = {"descr": "<f4", "fortran_order": False, "shape": (1_000_000, 20, 3)}  # 240 MB of zeros
        with z.open("positions.npy", "w", force_zip64=True) as member:
            np.lib.format.write_array_header_1_0(member, header)
            for _ in range(240):
                member.write(bytes(10**6))
    assert f.stat().st_size < 1e6
    _claims_fail(f, "uncompressed size", format="kinect_v1")


def test_npz_member_header_claiming_more_than_the_member(tmp_path):
    member = io.BytesIO()
    np.lib.format.write_array_header_1_0(member, {"descr": "<f4", "fortran_order": False, "shape": (10**9, 20, 3)})
    member.write(bytes(240))
    f = tmp_path / "claim.npz"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("positions.npy", member.getvalue())
    with pytest.raises(SkeletonFileError, match="positions.npy: data"):
        hs.load_skeleton(f, format="kinect_v1")


def test_a_deep_bvh_hierarchy_loads(tmp_path):
    # 20,000 nested joints: the joint-name and cycle checks used to be quadratic (11 s); now linear
    deep = 20_000
    f = tmp_path / "deep.bvh"
    f.write_text("HIERARCHY\nROOT r\n{\nOFFSET 0 0 0\nCHANNELS 3 Xposition Yposition Zposition\n"
                 + "".join(f"JOINT j{i}\n{{\nOFFSET 0 1 0\n" for i in range(deep)) + "}\n" * deep
                 + "}\nMOTION\nFrames: 1\nFrame Time: 0.033333\n0 0 0\n")
    seq = hs.load_skeleton(f, units="m")
    assert seq.num_joints == deep + 1 and seq.format.parents[-1] == deep - 1
    assert float(seq.positions[0, 0, -1, 1]) == pytest.approx(deep)


def test_a_format_cycle_is_still_found():
    with pytest.raises(hs.SkeletonFormatError, match="cycle"):
        hs.SkeletonFormat(name="loop", joints=("a", "b", "c", "d"), parents=(-1, 2, 3, 1))


def test_many_trc_markers_take_memory_proportional_to_the_file(tmp_path):
    M, T = 400, 100
    rows = ["\t".join([str(t + 1), f"{t / 30:.4f}"] + [f"{np.sin(t + k):.3f}" for k in range(3 * M)])
            for t in range(T)]
    f = tmp_path / "markers.trc"
    f.write_text("\n".join(["PathFileType\t4\t(X/Y/Z)\tmarkers.trc", "DataRate\tCameraRate\tNumFrames\tNumMarkers\tUnits",
                            f"30\t30\t{T}\t{M}\tm", "Frame#\tTime\t" + "\t\t\t".join(f"M{i}" for i in range(M)),
                            "\t\t" + "\t".join(f"X{i}\tY{i}\tZ{i}" for i in range(1, M + 1))] + rows) + "\n")
    seqs = []
    peak = _peak_of(lambda: seqs.append(hs.load_skeleton(f)))
    # the marker-distance table used to broadcast (T, M, M, 3): 384 MB here
    assert seqs[0].num_joints == M and peak < 64 * os.path.getsize(f)  # 18.6 MB for 0.8 MB


@pytest.mark.parametrize("kind", ["fifo", "dangling"])
def test_openpose_folder_with_a_special_frame_file(tmp_path, pose2sim_dir, kind):
    folder = tmp_path / "cam01_json"
    folder.mkdir()
    frames = sorted((pose2sim_dir / "pose" / "cam01_json").glob("*.json"))[:2]
    for src in frames:
        (folder / src.name).write_bytes(src.read_bytes())
    bad = folder / "zzz_000099.json"
    os.mkfifo(bad) if kind == "fifo" else bad.symlink_to(tmp_path / "missing.json")
    with pytest.raises(SkeletonFileError) as e:  # a frame is not silently dropped
        hs.load_skeleton(folder, format="openpose_folder")
    assert e.value.path == str(bad)
