"""Readers for NTU .skeleton (round trip), TRC and OpenPose (Pose2Sim's real files) and COCO (generated)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFileError, SkeletonInputError
from hf_skeleton.skeletons.readers import read_ntu_skeleton, write_ntu_skeleton


# ---------------------------------------------------------------------- NTU .skeleton
def _ntu_sequence(T=7, P=2, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.normal(size=(T, P, 25, 3)).astype(np.float32) + np.array([0, 0, 3], np.float32)
    mask = rng.random((T, P, 25)) > 0.1
    mask[T // 2, P - 1] = False  # the last body leaves for one frame
    ori = Rotation.random(T * P * 25, random_state=seed).as_matrix().reshape(T, P, 25, 3, 3)
    return hs.SkeletonSequence(positions=pos, mask=mask, fps=30, format="kinect_v2",
                               orientations=ori.astype(np.float32))


def test_ntu_round_trip(tmp_path):
    seq = _ntu_sequence()
    f = write_ntu_skeleton(seq, tmp_path / "S001C002P003R002A013.skeleton")
    back = hs.load_skeleton(f)
    assert back.meta["reader"] == "ntu" and back.format.name == "kinect_v2" and back.fps == 30
    np.testing.assert_array_equal(back.mask, seq.mask)
    np.testing.assert_array_equal(back.positions, seq.positions)
    np.testing.assert_allclose(back.orientations[seq.mask], seq.orientations[seq.mask], atol=2e-6)
    assert (back.meta["setup"], back.meta["camera"], back.meta["performer"], back.meta["replication"],
            back.meta["label"]) == (1, 2, 3, 2, 13)
    assert back.meta["label_name"] == "tear up paper"
    # a file read back writes the same text again (tracking states, depth/colour coordinates, body ids)
    again = write_ntu_skeleton(back, tmp_path / "again.skeleton").read_text().splitlines()
    first = f.read_text().splitlines()
    assert len(again) == len(first)
    for a, b in zip(again, first):
        a, b = a.split(), b.split()
        if len(a) == 12:  # joint line: quaternion (cols 7..10) from float32 matrices, up to sign
            qa, qb = np.array(a[7:11], float), np.array(b[7:11], float)
            assert min(abs(qa - qb).max(), abs(qa + qb).max()) < 1e-6
            a, b = a[:7] + a[11:], b[:7] + b[11:]
        assert a == b


def test_ntu_official_layout_by_hand(tmp_path):
    """A hand-written file in the official layout: quaternion (w, x, y, z), tracking states, 2 bodies."""
    joint = "0.1 0.2 3.0 250.5 210.25 1000.5 500.25 {w} {x} {y} {z} {s}"
    lines = ["2"]
    q = Rotation.from_euler("z", 90, degrees=True).as_quat(scalar_first=True)
    for t in range(2):
        lines.append("2" if t == 0 else "1")
        for body in (["72057594037931101"] + (["72057594037931102"] if t == 0 else [])):
            lines.append(f"{body} 0 1 1 1 1 0 -0.2 0.1 2")
            lines.append("25")
            for j in range(25):
                s = 0 if j == 3 else (1 if j == 4 else 2)
                lines.append(joint.format(w=q[0], x=q[1], y=q[2], z=q[3], s=s) if j != 5 else
                             joint.format(w=0, x=0, y=0, z=0, s=2))
    f = tmp_path / "S017C003P020R002A060.skeleton"
    f.write_text("\r\n".join(lines) + "\r\n")
    s = hs.load_skeleton(f)
    assert s.positions.shape == (2, 2, 25, 3) and s.meta["body_ids"] == ["72057594037931101", "72057594037931102"]
    assert s.mask[0, :, 3].sum() == 0 and s.mask[0, :, 4].all() and not s.mask[1, 1].any()
    assert not hs.load_skeleton(f, min_tracking_state=2).mask[0, 0, 4]
    np.testing.assert_allclose(s.orientations[0, 0, 0], [[0, -1, 0], [1, 0, 0], [0, 0, 1]], atol=1e-6)
    np.testing.assert_array_equal(s.orientations[0, 0, 5], np.eye(3))  # zero quaternion = no orientation
    np.testing.assert_allclose(s.meta["depth_xy"][0, 0, 0], [250.5, 210.25])
    assert s.meta["label"] == 60 and s.meta["setup"] == 17
    assert s.meta["label_name"] == "walking apart from each other"
    assert hs.load_skeleton(f, max_persons=1).num_persons == 1


def test_ntu_writer_needs_kinect_v2(nucla_dir, tmp_path):
    with pytest.raises(SkeletonInputError, match="kinect_v2"):
        write_ntu_skeleton(hs.load_skeleton(nucla_dir / "a01_s01_e00_v01.json"), tmp_path / "x.skeleton")


def test_ntu_truncated_and_wrong_joint_count(tmp_path):
    f = write_ntu_skeleton(_ntu_sequence(T=2, P=1), tmp_path / "a.skeleton")
    text = f.read_text().splitlines()
    (tmp_path / "cut.skeleton").write_text("\n".join(text[:20]))
    with pytest.raises(SkeletonFileError, match="end of file"):
        read_ntu_skeleton(tmp_path / "cut.skeleton")
    text[3] = "20"
    (tmp_path / "j.skeleton").write_text("\n".join(text))
    with pytest.raises(SkeletonFileError, match=r"line 4.*25 joints"):
        read_ntu_skeleton(tmp_path / "j.skeleton")


# ---------------------------------------------------------------------- TRC (Pose2Sim 3D)
def test_trc_real_files(pose2sim_dir):
    files = sorted((pose2sim_dir / "keypoints_2d_3d" / "pose-3d").glob("*.trc"))
    assert len(files) == 3
    for f in files:
        s = hs.load_skeleton(f)
        assert s.num_frames == 100 and s.fps == 60 and s.format.units == "m" and s.mask.all()
    plain = hs.load_skeleton(files[0])
    assert plain.format.name == "pose2sim21" and plain.meta["markers"][0] == "RHip"
    # values: row 6 of the file, marker RHip = canonical right_hip
    row = files[0].read_text().splitlines()[5].split("\t")
    np.testing.assert_allclose(plain.positions[0, 0, plain.format.index("right_hip")],
                               np.array(row[2:5], float), rtol=1e-6)
    np.testing.assert_allclose(plain.meta["time"][:2], [1 / 60, 2 / 60], rtol=1e-5)
    lstm = hs.load_skeleton(next(f for f in files if "LSTM" in f.name))
    fmt = lstm.format
    assert fmt.num_joints == 64 and fmt.name.startswith("trc64_")
    parts = fmt.part_of()
    assert parts[fmt.index("right_knee_study")] == "right_leg" and parts[fmt.index("left_lwrist_study")] == "left_arm"
    assert fmt.parents[fmt.index("left_elbow")] == fmt.index("left_shoulder")  # pose2sim21's tree kept
    # the 21 shared markers convert to pose2sim21 unchanged
    conv = lstm.to_format("pose2sim21")
    assert conv.mask.all() and not conv.meta["conversion"]["missing"]


def test_trc_missing_markers_are_masked(pose2sim_dir, tmp_path):
    src = pose2sim_dir / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc"
    lines = src.read_text().splitlines()
    row = lines[7].split("\t")
    row[2:5] = ["", "", ""]  # RHip missing in frame 3
    lines[7] = "\t".join(row)
    f = tmp_path / "gap.trc"
    f.write_text("\n".join(lines) + "\n")
    s = hs.load_skeleton(f)
    j = s.format.index("right_hip")
    assert not s.mask[2, 0, j] and s.mask.sum() == s.mask.size - 1 and s.positions[2, 0, j].tolist() == [0, 0, 0]


# ---------------------------------------------------------------------- OpenPose (Pose2Sim 2D)
def test_openpose_camera_folders(pose2sim_dir):
    for cam in ("cam01", "cam02", "cam03", "cam04"):
        folder = pose2sim_dir / "keypoints_2d_3d" / "pose" / f"{cam}_json"
        s = hs.load_skeleton(folder, fps=60)
        assert s.meta["reader"] == "openpose_folder" and s.format.name == "body25b" and s.meta["model"] == "BODY_25B"
        assert s.meta["format_source"].startswith("keypoints:")  # the demo's Config.toml names another model
        assert "Body_with_feet" in s.meta["format_note"]
        assert s.num_frames == 100 and s.fps == 60 and s.meta["is_2d"] and s.meta["camera"] == cam
        assert (s.positions[..., 2] == 0).all() and s.mask[:, 0].mean() > 0.9
    first = min(folder.glob("*.json"))
    raw = np.array(json.loads(first.read_text())["people"][0]["pose_keypoints_2d"]).reshape(25, 3)
    np.testing.assert_allclose(s.positions[0, 0, :, :2], np.where(raw[:, 2:] > 0, raw[:, :2], 0), rtol=1e-6)
    np.testing.assert_allclose(s.meta["confidence"][0, 0], raw[:, 2], rtol=1e-6)


def test_openpose_single_file_padding_threshold(pose2sim_dir):
    f = pose2sim_dir / "keypoints_2d_3d" / "pose" / "cam01_json" / "cam01.0000.json"
    people = json.loads(f.read_text())["people"]
    s = hs.load_skeleton(f)
    assert s.num_frames == 1 and s.num_persons == len(people) == 2 and s.fps == 30
    conf = np.array(people[1]["pose_keypoints_2d"]).reshape(25, 3)[:, 2]
    strict = hs.load_skeleton(f, threshold=0.5)
    np.testing.assert_array_equal(strict.mask[0, 1], conf > 0.5)


def test_openpose_tracked_ids_and_empty_people(tmp_path):
    kp = lambda v: [v, v, 0.9] * 25
    (tmp_path / "f_0.json").write_text(json.dumps({"people": [{"person_id": [7], "pose_keypoints_2d": kp(1)},
                                                              {"person_id": [3], "pose_keypoints_2d": kp(2)}]}))
    (tmp_path / "f_1.json").write_text(json.dumps({"people": [{"person_id": [3], "pose_keypoints_2d": kp(4)}]}))
    (tmp_path / "f_10.json").write_text(json.dumps({"people": []}))
    s = hs.load_skeleton(tmp_path)
    assert s.num_frames == 3 and s.num_persons == 2 and s.meta["frames"] == ["f_0.json", "f_1.json", "f_10.json"]
    assert s.positions[0, 0, 0, 0] == 2 and s.positions[1, 0, 0, 0] == 4 and s.positions[0, 1, 0, 0] == 1
    assert not s.mask[1, 1].any() and not s.mask[2].any()


def _write_frames(folder, seq):
    """One OpenPose JSON file per frame of a 2D sequence (confidence 0.9 where observed, else 0)."""
    folder.mkdir(parents=True)
    for t in range(seq.num_frames):
        people = [{"person_id": [-1], "pose_keypoints_2d": np.concatenate(
            [seq.positions[t, p, :, :2], np.where(seq.mask[t, p], 0.9, 0.0)[:, None]], 1).ravel().tolist()}
            for p in range(seq.num_persons)]
        (folder / f"{folder.name[:-5]}.{t:04d}.json").write_text(json.dumps({"people": people}))
    return folder


def test_openpose_body_25_and_body_25b_are_told_apart_by_the_keypoints(pose2sim_dir, tmp_path):
    """Pose2Sim's real BODY_25B frames, and the same keypoints rewritten in BODY_25's order (no mid-hip):
    the eyes and ears next to the nose tell the layouts apart, whatever a Config.toml says."""
    real = hs.load_skeleton(pose2sim_dir / "keypoints_2d_3d" / "pose" / "cam02_json", fps=60)
    assert real.format.name == "body25b"
    assert real.format.joints[:5] == ("nose", "left_eye", "right_eye", "left_ear", "right_ear")
    assert real.format.joints[17:19] == ("neck", "head") and real.format.root == real.format.index("neck")
    nose, eyes = real.positions[:, 0, 0, :2], real.positions[:, 0, 1:3, :2]
    seen = real.mask[:, 0, 0] & real.mask[:, 0, 1:3].all(-1)
    assert np.median(np.linalg.norm(eyes - nose[:, None], axis=-1)[seen]) < 40  # pixels: a face, not a limb
    body25 = real.to_format("openpose25").frame_range(0, 20)
    folder = _write_frames(tmp_path / "trial" / "pose" / "cam02_json", body25)
    (tmp_path / "trial" / "Config.toml").write_text("[pose]\npose_model = 'BODY_25B'\n")
    with pytest.warns(UserWarning, match="laid out as BODY_25 "):
        back = hs.load_skeleton(folder, fps=60)
    assert back.format.name == "openpose25" and back.meta["format_source"].startswith("keypoints:")
    np.testing.assert_allclose(back.positions, body25.positions, atol=1e-3)
    forced = hs.load_skeleton(folder, fps=60, model="BODY_25B")  # model= and format= override everything
    assert forced.format.name == "body25b" and forced.meta["format_source"] == "model='BODY_25B'"
    assert hs.load_skeleton(folder, "body25b").format.name == "body25b"


def test_openpose_layout_from_a_pose2sim_config_when_no_face_is_seen(pose2sim_dir, tmp_path):
    real = hs.load_skeleton(pose2sim_dir / "keypoints_2d_3d" / "pose" / "cam01_json", fps=60).frame_range(0, 3)
    faceless = real.copy(mask=real.mask.copy())
    faceless.mask[..., :5] = False  # nobody's nose, eyes or ears: the keypoints cannot tell
    trial = tmp_path / "session" / "participant" / "trial"
    folder = _write_frames(trial / "pose" / "cam01_json", faceless)
    plain = hs.load_skeleton(folder)
    assert plain.format.name == "openpose25" and plain.meta["format_source"].startswith("default")
    (tmp_path / "session" / "Config.toml").write_text("[pose]\npose_model = 'BODY_25B'\n")
    s = hs.load_skeleton(folder)
    assert s.format.name == "body25b" and str(tmp_path / "session" / "Config.toml") in s.meta["format_source"]
    (trial / "Config.toml").write_text("[project]\nframe_rate = 60\n# [pose]\n# pose_model = 'BODY_25'\n")
    assert hs.load_skeleton(folder).format.name == "body25b"  # the trial's config sets no model: the session's
    (trial / "Config.toml").write_text("[pose]\npose_model = 'Body_with_feet'\n")  # the nearest level wins...
    s = hs.load_skeleton(folder)
    assert s.format.name == "openpose25" and "Body_with_feet" in s.meta["format_note"]  # ...but is not 25 points
    (trial / "Config.toml").write_text("[pose\npose_model = 'BODY_25'\n")
    with pytest.warns(UserWarning, match="ignoring a Pose2Sim config .*trial.Config.toml: expected TOML"):
        assert hs.load_skeleton(folder).format.name == "body25b"
    loose = tmp_path / "loose"  # a folder not named *_json is not a Pose2Sim camera folder: no config is read
    _write_frames(loose / "c_json", faceless).rename(loose / "frames")
    (loose.parent / "Config.toml").write_text("[pose]\npose_model = 'BODY_25B'\n")
    assert hs.load_skeleton(loose / "frames").format.name == "openpose25"


def test_openpose_other_keypoint_counts_and_bad_layout_options(tmp_path):
    folder = tmp_path / "trial" / "pose" / "cam_json"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    (folder / "f.json").write_text(json.dumps({"people": [{"pose_keypoints_2d": (rng.random(51) * 100).tolist()}]}))
    with pytest.raises(SkeletonFileError, match=r"keypoints per person: expected 25 .*format= / model=.* found 17"):
        hs.load_skeleton(folder)
    assert hs.load_skeleton(folder, model="COCO_17").format.name == "coco17"
    (tmp_path / "trial" / "Config.toml").write_text("[pose]\npose_model = 'COCO_17'\n")
    s = hs.load_skeleton(folder)
    assert s.format.name == "coco17" and s.meta["model"] == "COCO_17" and s.positions.shape == (1, 1, 17, 3)
    with pytest.raises(SkeletonInputError, match="model.*BODY_25B.*HALPE_26"):
        hs.load_skeleton(folder, model="HALPE_26")
    with pytest.raises(SkeletonInputError, match="either format= or model="):
        hs.load_skeleton(folder, "coco17", model="COCO_17")


# ---------------------------------------------------------------------- COCO (generated)
def _coco(tmp_path, tracked=True):
    rng = np.random.default_rng(1)
    images = [{"id": 100 + i, "file_name": f"frame_{i:03d}.jpg", "frame_id": i} for i in (2, 0, 1)]
    anns = []
    for frame, tracks in ((0, (5, 9)), (1, (9,)), (2, (5, 9))):
        for tid in tracks:
            kp = np.concatenate([rng.uniform(0, 640, (17, 2)), np.full((17, 1), 2.0)], 1)
            kp[3, 2] = 0 if tid == 9 else 1
            ann = {"image_id": 100 + frame, "category_id": 1, "keypoints": kp.ravel().round(2).tolist()}
            if tracked:
                ann["track_id"] = tid
            anns.append(ann)
    cats = [{"id": 1, "name": "person", "keypoints": list(hs.get_format("coco17").joints)}]
    f = tmp_path / "keypoints.json"
    f.write_text(json.dumps({"info": {}, "images": images, "annotations": anns, "categories": cats}))
    return f, anns


def test_coco_generated_file(tmp_path):
    f, anns = _coco(tmp_path)
    s = hs.load_skeleton(f)
    assert s.meta["reader"] == "coco" and s.format.name == "coco17" and s.meta["is_2d"]
    assert s.positions.shape == (3, 2, 17, 3) and s.meta["track_ids"] == [5, 9]
    assert s.meta["image_ids"] == [100, 101, 102]  # sorted by frame_id, not by list order
    first = np.array(anns[0]["keypoints"]).reshape(17, 3)  # frame 0, track 5
    np.testing.assert_allclose(s.positions[0, 0, :, :2], first[:, :2], rtol=1e-6)
    assert not s.mask[1, 0].any()  # track 5 absent in frame 1
    assert s.mask[0, 0, 3] and not s.mask[0, 1, 3]  # v = 1 kept, v = 0 masked
    assert not hs.load_skeleton(f, threshold=1).mask[0, 0, 3]


def test_coco_untracked_and_wrong_keypoint_count(tmp_path):
    f, _ = _coco(tmp_path, tracked=False)
    s = hs.load_skeleton(f)
    assert s.num_persons == 2 and "track_ids" not in s.meta
    obj = json.loads(f.read_text())
    obj["annotations"][2]["keypoints"] = obj["annotations"][2]["keypoints"][:-3]
    f.write_text(json.dumps(obj))
    with pytest.raises(SkeletonFileError, match=r"annotations\[2\]\.keypoints.*51 numbers"):
        hs.load_skeleton(f)
