"""Dataset conversion to parquet on the real data (N-UCLA subset, CMU files, HumanML3D sample, Pose2Sim
demo) and on generated NTU .skeleton files (no real NTU sample exists)."""

import json
import runpy
import sys
from pathlib import Path

import datasets
import numpy as np
import pytest
import yaml

import hf_skeleton as hs
from hf_skeleton.dataset_tools import (
    NTU_ACTIONS,
    collate_skeletons,
    convert_dataset,
    example_to_sequence,
    load_converted,
    read_card_configs,
)
from hf_skeleton.dataset_tools.sources import NTU_TRAIN_SUBJECTS, main_bodies, ntu_groups
from hf_skeleton.errors import SkeletonFileError, SkeletonInputError
from hf_skeleton.skeletons.readers.ntu import write_ntu_skeleton
from hf_skeleton.skeletons.readers.nucla import NUCLA_ACTIONS
from hf_skeleton.skeletons.synthetic import synthetic_clip

REPO = Path(__file__).resolve().parents[1]
datasets.disable_progress_bars()


def _card_yaml(out_dir):
    text = (Path(out_dir) / "README.md").read_text()
    return yaml.safe_load(text.split("---")[1])


def _same_stream(out_dir, config=None):
    """In-memory and streaming loads of every split give the same rows in the same order."""
    mem = load_converted(out_dir, config)
    stream = load_converted(out_dir, config, streaming=True)
    for split in mem:
        rows = list(stream[split])
        assert len(rows) == len(mem[split])
        for a, b in zip(mem[split], rows):
            assert a["id"] == b["id"]
            np.testing.assert_array_equal(np.asarray(a["positions"]), np.asarray(b["positions"]))
    return mem


@pytest.fixture(scope="module")
def nucla_out(nucla_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("nucla")
    result = convert_dataset(nucla_dir, out, "nucla", limit=40, num_shards=2, num_proc=2, progress=False)
    return out, result


def test_nucla_features_splits_and_values(nucla_out, nucla_dir):
    out, result = nucla_out
    assert sum(result.num_rows["default"].values()) == 40
    assert [len(f) for f in result.data_files["default"].values()] == [2, 2]  # sharded
    ds = load_converted(out)
    feats = ds["train"].features
    assert isinstance(feats["positions"], datasets.Array3D)
    assert feats["positions"].shape == (None, 20, 3) and feats["positions"].dtype == "float32"
    assert feats["mask"].dtype == "bool" and feats["label"].names == list(NUCLA_ACTIONS)
    assert set(ds["train"]["view"]) <= {1, 2} and set(ds["test"]["view"]) == {3}
    for row in list(ds["train"].select(range(3))) + list(ds["test"].select(range(2))):
        raw = json.loads((nucla_dir / f"{row['id']}.json").read_text())
        assert row["label"] == raw["label"] - 1 and row["label_name"] == NUCLA_ACTIONS[raw["label"] - 1]
        np.testing.assert_array_equal(np.asarray(row["positions"]), np.asarray(raw["skeletons"], np.float32))
        assert row["num_frames"] == len(raw["skeletons"]) and row["fps"] == 30
        seq = example_to_sequence(row)
        assert seq.format == hs.get_format("kinect_v1") and seq.positions.shape == (len(raw["skeletons"]), 1, 20, 3)
        assert seq.meta["label_name"] == row["label_name"] and seq.meta["view"] == row["view"]


def test_nucla_streaming_matches_in_memory_and_card(nucla_out):
    out, _ = nucla_out
    mem = _same_stream(out)
    # the folder itself loads through its card's configs too
    direct = datasets.load_dataset(str(out))
    assert direct["test"]["id"] == mem["test"]["id"]
    card = _card_yaml(out)
    assert card["license"] == "other" and "video-classification" in card["task_categories"]
    assert "skeleton" in card["tags"] and card["configs"][0]["config_name"] == "default"
    assert card["hf_skeleton"]["configs"]["default"] == {"format": "kinect_v1", "num_joints": 20, "units": "m",
                                                          "fps": [30.0]}
    body = (out / "README.md").read_text()
    assert "kinect_v1" in body and "30 fps" in body and "view 3" in body
    with pytest.raises(SkeletonInputError, match="outside the raw"):
        convert_dataset(out, out / "again", "nucla")
    with pytest.raises(SkeletonFileError, match="previous conversion"):
        convert_dataset(REPO.parent / "shared" / "data" / "nw_ucla" / "all_sqe", out, "nucla", limit=2)


def test_cmu_configs_per_layout_with_text_labels(cmu_dir, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    for name in ("02_01.bvh", "05_01.bvh", "16_01.bvh", "cmu_motion_labels.csv"):
        (raw / name).symlink_to(cmu_dir / name)
    result = convert_dataset(raw, tmp_path / "out", "cmu", max_rows_per_shard=1, progress=False)
    assert result.num_rows == {"joints43": {"train": 2}, "joints31": {"train": 1}}
    assert len(result.data_files["joints43"]["train"]) == 2
    assert set(read_card_configs(tmp_path / "out")) == {"joints43", "joints31"}
    layouts = _card_yaml(tmp_path / "out")["hf_skeleton"]["configs"]
    assert layouts["joints31"]["num_joints"] == 31 and layouts["joints31"]["format"].startswith("bvh31")
    assert all(f in (30.0, 120.0) for lay in layouts.values() for f in lay["fps"])
    assert "| `joints43` |" in (tmp_path / "out" / "README.md").read_text()
    for config, J in (("joints43", 43), ("joints31", 31)):
        ds = _same_stream(tmp_path / "out", config)["train"]
        assert ds.features["positions"].shape == (None, J, 3)
        row = ds[0]
        ref = hs.load_skeleton(raw / f"{row['id']}.bvh")
        seq = example_to_sequence(ds.with_format("numpy")[0])
        assert seq.format == ref.format  # per-file BVH layout rebuilt from format_spec
        np.testing.assert_array_equal(seq.positions, ref.positions)
        assert seq.fps == pytest.approx(ref.fps, rel=1e-6)
        assert row["label_name"] == ref.meta["label_name"] and row["text"] == ref.meta["text"]
        assert row["label_name"]  # every CMU trial has a text label


def test_humanml3d_sample(humanml3d_dir, tmp_path):
    result = convert_dataset(humanml3d_dir, tmp_path / "out", "humanml3d", progress=False)
    assert result.num_rows == {"default": {"train": 1}}
    row = load_converted(tmp_path / "out", split="train")[0]
    assert row["id"] == "012314" and row["fps"] == 20 and np.asarray(row["positions"]).shape == (170, 22, 3)
    np.testing.assert_array_equal(np.asarray(row["positions"]),
                                  np.load(humanml3d_dir / "new_joints" / "012314.npy", allow_pickle=False))
    assert "train: 1 of 23384 listed motions present" in (tmp_path / "out" / "README.md").read_text()
    # the official layout with captions: texts/<id>.txt lines "caption#tokens#start#end"
    raw = tmp_path / "raw"
    (raw / "new_joints").mkdir(parents=True)
    (raw / "new_joints" / "012314.npy").symlink_to(humanml3d_dir / "new_joints" / "012314.npy")
    (raw / "texts").mkdir()
    (raw / "texts" / "012314.txt").write_text("a man walks forward.#a/DET man/NOUN#0.0#0.0\n"
                                              "someone strolls ahead.#someone/PRON#0.0#0.0\n")
    (raw / "test.txt").write_text("012314\n999999\n")
    result = convert_dataset(raw, tmp_path / "out2", "humanml3d", progress=False)
    assert result.num_rows == {"default": {"test": 1}}
    row = load_converted(tmp_path / "out2", split="test")[0]
    assert row["text"] == "a man walks forward." and row["texts"] == ["a man walks forward.", "someone strolls ahead."]


def _ntu_raw(folder):
    """Generated NTU files: name -> (setup, camera, performer, action, persons)."""
    specs = {"S001C001P001R001A001": 1, "S001C002P003R001A050": 2, "S002C003P002R002A010": 1,
             "S003C002P038R001A023": 1, "S004C001P040R002A058": 2, "S005C003P007R001A005": 1}
    folder.mkdir(parents=True)
    seqs = {}
    for i, (name, persons) in enumerate(specs.items()):
        a = synthetic_clip("walk", 8 + i, seed=i)
        pos = a.positions
        if persons == 2:
            b = synthetic_clip("wave", 8 + i, seed=10 + i)
            pos = np.concatenate([pos, b.positions + np.array([1.0, 0, 0], np.float32)], axis=1)
        seq = hs.SkeletonSequence(positions=pos, fps=30, format="kinect_v2")
        write_ntu_skeleton(seq, folder / f"{name}.skeleton")
        seqs[name] = seq
    (folder / "NTU_RGBD_samples_with_missing_skeletons.txt").write_text("S005C003P007R001A005\n")
    return seqs


def test_ntu_protocols_two_bodies_and_missing_list(tmp_path):
    seqs = _ntu_raw(tmp_path / "nturgb+d_skeletons")
    result = convert_dataset(tmp_path / "nturgb+d_skeletons", tmp_path / "out", "ntu", num_proc=2, progress=False)
    assert set(result.num_rows) == {"xsub", "xview"}  # NTU-60 ids only: no cross-setup protocol
    assert result.layouts["xsub"]["format"] == "kinect_v2" and result.layouts["xview"]["fps"] == [30.0]
    assert sum(result.num_rows["xsub"].values()) == 5  # the listed missing sample is skipped
    xsub = _same_stream(tmp_path / "out", "xsub")
    xview = load_converted(tmp_path / "out", "xview")
    assert xsub["train"].features["label"].names == list(NTU_ACTIONS[:60])
    assert sorted(xsub["train"]["performer"]) == [1, 2, 38]  # the training subjects among P001-P040
    assert sorted(xsub["test"]["performer"]) == [3, 40]
    assert set(xview["train"]["camera"]) == {2, 3} and set(xview["test"]["camera"]) == {1}
    rows = {r["id"]: r for r in xsub["train"]} | {r["id"]: r for r in xsub["test"]}
    two = rows["S001C002P003R001A050"]
    assert two["label"] == 49 and two["label_name"] == "punching/slapping other person"
    seq = example_to_sequence(two)
    assert seq.num_persons == 2
    np.testing.assert_allclose(seq.positions, seqs["S001C002P003R001A050"].positions, atol=1e-4)
    single = example_to_sequence(rows["S001C001P001R001A001"])
    assert single.num_persons == 1 and not np.asarray(rows["S001C001P001R001A001"]["mask_2"]).any()


def test_ntu_protocol_rules():
    assert ntu_groups(2, 1, 1) == {"xsub": "train", "xview": "test", "xset": "train"}
    assert ntu_groups(3, 2, 3) == {"xsub": "test", "xview": "train", "xset": "test"}
    assert 103 in NTU_TRAIN_SUBJECTS and 40 not in NTU_TRAIN_SUBJECTS and len(NTU_TRAIN_SUBJECTS) == 53
    assert len(NTU_ACTIONS) == 120
    # DESIGN.md: the NTU-60 55/5 unseen classes 11, 12, 20, 27, 57
    assert [NTU_ACTIONS[i - 1] for i in (11, 12, 20, 27, 57)] == [
        "reading", "writing", "put on a hat/cap", "jump up", "touch other person's pocket"]
    pos = np.zeros((5, 3, 2, 3))
    mask = np.ones((5, 3, 2), bool)
    pos[:, 1] = np.random.default_rng(0).normal(size=(5, 2, 3))  # body 1 moves
    pos[:, 2] = np.random.default_rng(1).normal(size=(5, 2, 3)) * 2  # body 2 moves most
    assert main_bodies(pos, mask) == [1, 2]


def test_pose2sim_trial(pose2sim_dir, tmp_path):
    result = convert_dataset(pose2sim_dir, tmp_path / "out", "pose2sim", progress=False)
    assert result.num_rows == {"markers21": {"train": 2}, "markers64": {"train": 1}}
    ds = load_converted(tmp_path / "out", "markers21", split="train")
    row = ds[0]
    assert ds.features["keypoints_2d"].shape == (None, 4, 25, 2)
    assert np.asarray(row["keypoints_2d"]).shape == (100, 4, 25, 2)
    assert row["cameras"] == ["cam01", "cam02", "cam03", "cam04"]
    assert all((pose2sim_dir / v).is_file() for v in row["videos"]) and len(row["videos"]) == 4
    assert (pose2sim_dir / row["calibration"]).is_file()
    seq = example_to_sequence(row)
    assert seq.format.name == "pose2sim21" and seq.num_frames == 100 and seq.fps == 60
    cam = hs.load_skeleton(pose2sim_dir / "keypoints_2d_3d" / "pose" / "cam02_json", format="openpose", fps=60)
    np.testing.assert_allclose(np.asarray(row["keypoints_2d"])[:, 1], cam.positions[:, 0, :, :2])


def test_bad_inputs(tmp_path, nucla_dir):
    with pytest.raises(SkeletonInputError, match="dataset"):
        convert_dataset(tmp_path, tmp_path / "o", "kinetics")
    with pytest.raises(SkeletonInputError, match="num_proc"):
        convert_dataset(nucla_dir, tmp_path / "o", "nucla", num_proc=0)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(SkeletonFileError, match="N-UCLA"):
        convert_dataset(empty, tmp_path / "o", "nucla")
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a01_s01_e00_v01.json").symlink_to(nucla_dir / "a01_s01_e00_v01.json")
    (raw / "a02_s01_e00_v03.json").write_text('{"skeletons": [[1, 2]], "label": 2}')
    with pytest.raises(SkeletonFileError, match="a02_s01_e00_v03"):
        convert_dataset(raw, tmp_path / "o1", "nucla", progress=False)
    result = convert_dataset(raw, tmp_path / "o2", "nucla", on_error="skip", progress=False)
    assert result.num_rows == {"default": {"train": 1}} and result.skipped[0][0] == "a02_s01_e00_v03"
    assert "a02\\_s01\\_e00\\_v03" in (tmp_path / "o2" / "README.md").read_text()  # markdown-escaped
    with pytest.raises(SkeletonInputError):
        example_to_sequence({"positions": np.zeros((2, 5, 3)), "format": "kinect_v1"})


def test_collate_pads_and_reports_lengths():
    rows = [{"positions": np.ones((n, 20, 3), np.float32), "mask": np.ones((n, 20), bool), "label": n}
            for n in (3, 1, 5)]
    batch = collate_skeletons(rows)
    assert batch["positions"].shape == (3, 5, 20, 3) and batch["lengths"].tolist() == [3, 1, 5]
    assert batch["mask"][1, 1:].sum() == 0 and batch["mask"][1, 0].all() and batch["label"].tolist() == [3, 1, 5]
    assert not batch["positions"][1, 1:].any() and batch["positions"][2].all()  # zero padding after each clip
    cut = collate_skeletons(rows, max_frames=2)
    assert cut["positions"].shape == (3, 2, 20, 3) and cut["lengths"].tolist() == [2, 1, 2]
    assert cut["mask"][[0, 2]].all() and not cut["mask"][1, 1].any()
    with pytest.raises(SkeletonInputError):
        collate_skeletons([rows[0], {"positions": np.ones((2, 17, 3)), "mask": np.ones((2, 17), bool)}])


def test_thin_script_runs(humanml3d_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["convert_humanml3d.py", str(humanml3d_dir), str(tmp_path / "out")])
    with pytest.raises(SystemExit) as done:
        runpy.run_path(str(REPO / "dataset_scripts" / "convert_humanml3d.py"), run_name="__main__")
    assert done.value.code == 0
    assert "default/train: 1 rows" in capsys.readouterr().out
    assert (tmp_path / "out" / "data" / "default" / "train-00000-of-00001.parquet").is_file()
