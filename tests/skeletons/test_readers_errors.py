"""Bad input gets a SkeletonFileError naming the file, the field or line, what was expected and found."""

from __future__ import annotations

import json

import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFileError


def _fails(path, match=None, **kw):
    with pytest.raises(SkeletonFileError) as e:
        hs.load_skeleton(path, **kw)
    assert e.value.path == str(path)
    if match is not None:
        assert e.value.field is not None and match in str(e.value), str(e.value)
    return e.value


@pytest.fixture
def bvh_text(cmu_dir):
    lines = (cmu_dir / "02_01.bvh").read_text().splitlines()
    m = lines.index("MOTION")
    return lines[:m + 1] + ["Frames: 3", lines[m + 2]] + lines[m + 3:m + 6]


def _write(tmp_path, name, lines):
    f = tmp_path / name
    f.write_text("\n".join(lines) + "\n")
    return f


@pytest.mark.parametrize("ext", [".json", ".bvh", ".trc", ".skeleton", ".npy", ".npz"])
def test_empty_files(tmp_path, ext):
    f = tmp_path / f"empty{ext}"
    f.write_bytes(b"")
    _fails(f, format="kinect_v2" if ext in (".npy", ".npz") else None)


def test_bvh_errors(tmp_path, bvh_text):
    ok = _write(tmp_path, "ok.bvh", bvh_text)
    assert hs.load_skeleton(ok).num_frames == 3
    m = bvh_text.index("MOTION")
    bad = [line.replace("Xrotation", "Qrotation", 1) if i == 8 else line for i, line in enumerate(bvh_text)]
    e = _fails(_write(tmp_path, "chan.bvh", bad), "line 9")
    assert e.found == "qrotation" and "zrotation" in e.expected
    _fails(_write(tmp_path, "trunc_h.bvh", bvh_text[:40]), "MOTION")           # cut inside the hierarchy
    _fails(_write(tmp_path, "trunc_m.bvh", bvh_text[:-1]), "3 frame lines")   # a frame missing
    short = bvh_text[:-1] + [" ".join(bvh_text[-1].split()[:-2])]
    _fails(_write(tmp_path, "cols.bvh", short), "numbers per frame line")
    text = bvh_text[:-1] + [bvh_text[-1].replace(bvh_text[-1].split()[5], "abc", 1)]
    e = _fails(_write(tmp_path, "text.bvh", text), "MOTION")
    assert "abc" in str(e) and f"line {m + 6}" in str(e)
    _fails(_write(tmp_path, "noframes.bvh", bvh_text[:m + 1] + bvh_text[m + 2:]), f"line {m + 2}")
    _fails(_write(tmp_path, "offset.bvh", [bvh_text[0], bvh_text[1], bvh_text[2], "  OFFSET 0 x 0"]
                  + bvh_text[4:]), "line 4")
    _fails(_write(tmp_path, "time.bvh", bvh_text[:m + 2] + ["Frame Time: 0"] + bvh_text[m + 3:]), "frame time")


def test_bvh_nan_is_masked_not_propagated_upwards(tmp_path, bvh_text):
    vals = bvh_text[-2].split()
    vals[6] = "nan"  # abdomen's first rotation channel in frame 2
    f = _write(tmp_path, "nan.bvh", bvh_text[:-2] + [" ".join(vals), bvh_text[-1]])
    s = hs.load_skeleton(f)
    j = s.format.joints
    assert s.mask[0].all() and s.mask[2].all()
    assert s.mask[1, 0, j.index("hip")] and s.mask[1, 0, j.index("lThigh")]   # not below the abdomen
    assert not s.mask[1, 0, j.index("abdomen")] and not s.mask[1, 0, j.index("lHand")]
    assert np.isfinite(s.positions).all() and np.isfinite(s.orientations).all()


def test_nucla_errors(tmp_path, nucla_dir):
    obj = json.loads((nucla_dir / "a01_s01_e00_v01.json").read_text())
    f = tmp_path / "a01_s01_e00_v01.json"
    f.write_text(json.dumps(obj)[:500])
    _fails(f, "line 1 column")  # truncated JSON
    bad = dict(obj, skeletons=[frame[:19] for frame in obj["skeletons"]])
    f.write_text(json.dumps(bad))
    e = _fails(f, "skeletons")
    assert "(T >= 1, 20, 3)" in e.expected and e.found == (44, 19, 3)
    frames = [list(map(list, fr)) for fr in obj["skeletons"]]
    frames[2][5][1] = "abc"
    f.write_text(json.dumps(dict(obj, skeletons=frames)))
    _fails(f, "skeletons")
    f.write_text(json.dumps(dict(obj, label=11)))
    _fails(f, "label")
    f.write_text(json.dumps(dict(obj, skeletons=[])))
    _fails(f, "skeletons")
    frames[2][5] = [None, float("nan"), 1.0]
    frames[3][6][0] = 1e999
    f.write_text(json.dumps(dict(obj, skeletons=frames)))
    s = hs.load_skeleton(f)
    assert not s.mask[2, 0, 5] and not s.mask[3, 0, 6] and s.mask.sum() == s.mask.size - 2
    assert np.isfinite(s.positions).all()


def test_json_without_known_keys(tmp_path):
    f = tmp_path / "other.json"
    f.write_text(json.dumps({"hello": [1, 2]}))
    e = _fails(f, "content")
    assert "hello" in str(e) and "people" in str(e)


def test_trc_errors(tmp_path, pose2sim_dir):
    lines = (pose2sim_dir / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc").read_text().splitlines()
    _fails(_write(tmp_path, "h.trc", lines[:3]), "line 4")                    # missing header rows
    _fails(_write(tmp_path, "k.trc", [lines[0], lines[0]] + lines[2:]), "line 2")
    _fails(_write(tmp_path, "n.trc", lines[:-10]), "100 frames")               # truncated
    row = lines[8].split("\t")
    _fails(_write(tmp_path, "w.trc", lines[:8] + ["\t".join(row[:-3])] + lines[9:]), "line 9")
    row[7] = "abc"
    e = _fails(_write(tmp_path, "t.trc", lines[:8] + ["\t".join(row)] + lines[9:]), "line 9")
    assert e.found == "abc"
    names = lines[3].replace("RKnee", "RHip")
    _fails(_write(tmp_path, "d.trc", lines[:3] + [names] + lines[4:]), "unique marker")
    row[7] = "inf"
    s = hs.load_skeleton(_write(tmp_path, "i.trc", lines[:8] + ["\t".join(row)] + lines[9:]))
    assert s.mask.sum() == s.mask.size - 1 and np.isfinite(s.positions).all()


def test_openpose_errors(tmp_path, pose2sim_dir):
    obj = json.loads((pose2sim_dir / "keypoints_2d_3d" / "pose" / "cam01_json" / "cam01.0000.json").read_text())
    f = tmp_path / "frame.json"
    obj["people"][1]["pose_keypoints_2d"] = obj["people"][1]["pose_keypoints_2d"][:-3]
    f.write_text(json.dumps(obj))
    e = _fails(f, "people[1].pose_keypoints_2d")
    assert "75 numbers" in e.expected
    obj["people"][1]["pose_keypoints_2d"] = "abc"
    f.write_text(json.dumps(obj))
    _fails(f, "people[1]")
    empty = tmp_path / "no_json"
    empty.mkdir()
    (empty / "a.txt").write_text("x")
    e = _fails(empty, "content")  # a folder no reader recognises
    assert "OpenPose" in e.expected
    _fails(empty, format="openpose_folder")


def test_arrays_errors(tmp_path, humanml3d_dir):
    data = (humanml3d_dir / "new_joints" / "012314.npy").read_bytes()
    (tmp_path / "new_joints").mkdir()
    f = tmp_path / "new_joints" / "012314.npy"
    f.write_bytes(data[:5000])
    e = _fails(f, "data")
    assert "truncated" in str(e)
    f.write_bytes(b"not a numpy file at all")
    _fails(f)
    np.save(f, np.zeros((5, 21, 3), np.float32))
    _fails(f, "shape")
    np.save(f, np.array(["a", "b"]))
    _fails(f, "dtype")
    g = tmp_path / "two.npz"
    np.savez(g, a=np.zeros((2, 17, 3)), b=np.zeros((2, 17, 3)))
    _fails(g, "key", format="h36m17")
    assert hs.load_skeleton(g, format="h36m17", key="b").num_frames == 2


# ---------------------------------------------------------------------- issue 16: special files, huge literals
@pytest.mark.parametrize("ext", [".json", ".bvh", ".npy", ".trc"])
def test_special_files_are_refused_without_reading(tmp_path, ext):
    import os

    fifo = tmp_path / f"pipe{ext}"
    os.mkfifo(fifo)  # opening it for reading would block forever
    err = _fails(fifo, format="kinect_v2" if ext == ".npy" else None)
    assert "regular file" in str(err) and "FIFO" in str(err)
    device = tmp_path / f"zero{ext}"
    device.symlink_to("/dev/zero")  # reading it would never end
    assert "device" in str(_fails(device, format="kinect_v2" if ext == ".npy" else None))


def test_size_limit_is_configurable(tmp_path, nucla_dir, monkeypatch):
    clip = nucla_dir / "a01_s01_e00_v01.json"
    monkeypatch.setenv("HF_SKELETON_MAX_FILE_BYTES", str(clip.stat().st_size - 1))
    err = _fails(clip)
    assert "HF_SKELETON_MAX_FILE_BYTES" in str(err) and str(clip.stat().st_size) in str(err)
    monkeypatch.setenv("HF_SKELETON_MAX_FILE_BYTES", str(clip.stat().st_size))
    assert hs.load_skeleton(clip).num_frames > 0


def test_integer_literals_beyond_pythons_digit_limit(tmp_path, nucla_dir, bvh_text):
    huge = "9" * 5000  # int() of more than 4,300 digits raises an untyped ValueError
    text = (nucla_dir / "a01_s01_e00_v01.json").read_text().replace('"label": 1', f'"label": {huge}', 1)
    assert huge in text
    f = tmp_path / "a01_s01_e00_v01.json"
    f.write_text(text)
    _fails(f)
    channels = next(i for i, line in enumerate(bvh_text) if "CHANNELS" in line)
    lines = list(bvh_text)
    lines[channels] = lines[channels].replace("CHANNELS 6", f"CHANNELS {huge}").replace("CHANNELS 3", f"CHANNELS {huge}")
    assert huge in lines[channels]
    _fails(_write(tmp_path, "channels.bvh", lines), match="channel count")
    frames = [huge if line.startswith("Frames:") else line for line in bvh_text]
    frames = [f"Frames: {huge}" if line == huge else line for line in frames]
    _fails(_write(tmp_path, "frames.bvh", frames), match="frame count")


def test_audit_array_and_keyword_findings_are_typed(tmp_path, humanml3d_dir, nucla_dir):
    """The audit's untyped errors: tokenize.TokenError from a damaged .npy header, AttributeError from an
    .npz member that is not an array, OverflowError from huge header dimensions, TypeError from
    max_persons="x"."""
    import io
    import zipfile

    (tmp_path / "new_joints").mkdir()
    f = tmp_path / "new_joints" / "012314.npy"
    data = (humanml3d_dir / "new_joints" / "012314.npy").read_bytes()
    f.write_bytes(data.replace(b"}", b" ", 1))  # the header dict never closes
    _fails(f)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (2**62, 2**62, 22, 3)})
    f.write_bytes(header.getvalue())
    _fails(f)
    np.save(f, np.zeros((4, 22, 3), np.float32))
    f.write_bytes(f.read_bytes().replace(b"'descr'", b"1234567", 1))  # a non-string key (the fuzzer's find)
    _fails(f)
    g = tmp_path / "member.npz"
    with zipfile.ZipFile(g, "w") as z:
        z.writestr("positions.npy", b"these bytes are not an array")
    _fails(g, format="kinect_v1")
    with pytest.raises(hs.HFSkeletonError, match="max_persons"):
        hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json", max_persons="x")


def test_a_long_number_in_the_nucla_file_name_field(tmp_path, nucla_dir):
    """Found by the fuzzer: a 5,000-digit action number in "file_name" reached int() (an untyped ValueError)."""
    obj = json.loads((nucla_dir / "a11_s03_e01_v03.json").read_text())
    obj["file_name"] = "a" + "9" * 5000 + "_s03_e01_v03"
    f = tmp_path / "clip.json"
    f.write_text(json.dumps(obj))
    seq = hs.load_skeleton(f, format="nucla")  # the name is ignored; the file's own stem has no pattern either
    assert "view" not in seq.meta and seq.meta["label_name"] == "throw"

