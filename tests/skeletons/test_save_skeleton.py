"""save_skeleton: the writer registry, atomic writes, the .npz and NTU writers, and `hf-skeleton convert-file`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton import cli
from hf_skeleton.errors import SkeletonFileError, SkeletonInputError
from hf_skeleton.skeletons.save import register_writer, writer_for


def test_registry_picks_by_extension_and_name():
    writers = hs.list_writers()
    assert writers["bvh"] == (".bvh",) and writers["npz"] == (".npz",) and writers["ntu"] == (".skeleton",)
    assert writers["humanml3d_vecs"] == (".npy",)
    assert writer_for("a/b.BVH").name == "bvh" and writer_for("x.npy").name == "humanml3d_vecs"
    assert writer_for("x.anything", "npz").name == "npz"
    with pytest.raises(SkeletonFileError, match=r"\.bvh"):
        writer_for("clip.xyz")
    with pytest.raises(SkeletonInputError, match="writer name"):
        writer_for("clip.bvh", "nope")


def test_existing_files_are_kept_unless_overwrite(nucla_dir, tmp_path):
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    target = tmp_path / "clip.npz"
    target.write_text("precious")
    with pytest.raises(SkeletonFileError, match="overwrite=True") as e:
        hs.save_skeleton(seq, target)
    assert e.value.path == str(target) and target.read_text() == "precious"
    hs.save_skeleton(seq, target, overwrite=True)
    assert hs.load_skeleton(target).num_frames == seq.num_frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.npz"]  # no temporary file left
    with pytest.raises(SkeletonFileError, match="existing folder"):
        hs.save_skeleton(seq, tmp_path / "missing" / "clip.npz")
    with pytest.raises(SkeletonInputError, match="options among"):
        hs.save_skeleton(seq, tmp_path / "x.bvh", nonsense=1)


def test_a_failing_writer_leaves_nothing_behind(nucla_dir, tmp_path):
    def half_then_fail(seq, path):
        path.write_text("half a file")
        raise RuntimeError("disk full")

    register_writer("failing_test_writer", (".failtest",), half_then_fail, overwrite=True)
    seq = hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json")
    old = tmp_path / "clip.failtest"
    old.write_text("previous version")
    with pytest.raises(RuntimeError, match="disk full"):
        hs.save_skeleton(seq, old, overwrite=True)
    assert old.read_text() == "previous version"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.failtest"]


def test_npz_round_trip_without_pickles(cmu_dir, tmp_path):
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")
    seq.meta["label"] = 3
    seq.meta["not_json"] = np.zeros(3)
    out = hs.save_skeleton(seq, tmp_path / "clip.npz")
    with np.load(out, allow_pickle=False) as raw:  # plain arrays: loads with pickles refused
        assert set(raw.files) == {"positions", "mask", "fps", "format", "meta", "orientations"}
        assert json.loads(str(raw["format"]))["joints"] == list(seq.format.joints)
    back = hs.load_skeleton(out)
    assert back.meta["reader"] == "array" and back.format == seq.format and back.fps == seq.fps
    np.testing.assert_array_equal(back.positions, seq.positions)
    np.testing.assert_array_equal(back.mask, seq.mask)
    np.testing.assert_array_equal(back.orientations, seq.orientations)
    assert back.meta["label"] == 3 and back.meta["text"] == seq.meta["text"] and "not_json" not in back.meta
    assert back.meta["source"] == str(out)
    forced = hs.load_skeleton(out, format=seq.format)  # an explicit format= still wins
    assert forced.format == seq.format


@pytest.mark.parametrize("member,value,field", [("format", np.array("{not json"), "format"),
                                                ("format", np.array('{"name": "x"}'), "format"),
                                                ("format", np.zeros(3), "format"),
                                                ("meta", np.array("[1, 2]"), "meta"),
                                                ("orientations", np.zeros((2, 1, 2, 3)), "orientations")])
def test_bad_npz_members_are_typed(tmp_path, member, value, field):
    fmt = hs.SkeletonFormat("two", ["a", "b"], [-1, 0])
    arrays = {"positions": np.zeros((2, 1, 2, 3), np.float32), "format": np.array(json.dumps(fmt.to_dict()))}
    arrays[member] = value
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(SkeletonFileError) as e:
        hs.load_skeleton(tmp_path / "bad.npz")
    assert e.value.field == field


def test_ntu_writer_is_registered(tmp_path):
    rng = np.random.default_rng(0)
    ori = Rotation.random(4 * 25, random_state=0).as_matrix().reshape(4, 1, 25, 3, 3)
    seq = hs.SkeletonSequence(positions=rng.normal(size=(4, 1, 25, 3)), fps=30, format="kinect_v2", orientations=ori)
    back = hs.load_skeleton(hs.save_skeleton(seq, tmp_path / "S001C001P001R001A001.skeleton"))
    assert back.meta["reader"] == "ntu" and back.meta["label"] == 1
    np.testing.assert_array_equal(back.positions, seq.positions)
    with pytest.raises(SkeletonInputError, match="kinect_v2"):
        hs.save_skeleton(hs.load_skeleton(hs.save_skeleton(_smpl(), tmp_path / "s.npz")), tmp_path / "x.skeleton")
    assert not (tmp_path / "x.skeleton").exists()


def _smpl():
    return hs.SkeletonSequence(positions=np.random.default_rng(0).normal(size=(3, 22, 3)), fps=20, format="smpl22")


def test_convert_file_command(nucla_dir, humanml3d_dir, tmp_path, capsys):
    src = nucla_dir / "a01_s01_e00_v01.json"
    out = tmp_path / "clip.bvh"
    assert cli.main(["convert-file", str(src), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    back = hs.load_skeleton(out)
    seq = hs.load_skeleton(src)
    idx = [back.format.joints.index(n) for n in seq.format.joints]
    assert np.abs(back.positions[:, 0, idx] - seq.positions[:, 0]).max() < 1e-4
    assert cli.main(["convert-file", str(src), str(out)]) == 2  # exists
    assert "overwrite" in capsys.readouterr().err
    assert cli.main(["convert-file", str(src), str(out), "--overwrite", "--format", "npz"]) == 0
    assert hs.load_skeleton(out, format="array").format.name == "kinect_v1"
    vecs = tmp_path / "vecs.npy"
    assert cli.main(["convert-file", str(humanml3d_dir / "new_joints" / "012314.npy"), str(vecs)]) == 0
    assert np.load(vecs).shape == (169, 263)
    assert cli.main(["convert-file", str(src), str(tmp_path / "x.unknown")]) == 2
    assert "extension" in capsys.readouterr().err
    assert not (tmp_path / "x.unknown").exists()
