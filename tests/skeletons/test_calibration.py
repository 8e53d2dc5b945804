"""Camera calibrations for triangulation: the Pose2Sim demo's Qualisys file, Pose2Sim/anipose TOML, the lens
model against OpenCV, and typed errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonFileError, SkeletonInputError
from hf_skeleton.skeletons.calibration import Calibration, find_calibration, load_calibration, rodrigues

cv2 = pytest.importorskip("cv2")

QCA = "calibration/Calib.qca.txt"
TRC = "keypoints_2d_3d/pose-3d/S00_P00_T01_BalancingTrial_0-100.trc"


def trc_world(trc) -> np.ndarray:
    """Pose2Sim writes TRC files y up as (Y, Z, X) of its z-up world frame: back to the calibration's frame."""
    return trc.positions[:, 0].astype(np.float64)[..., [2, 0, 1]]


@pytest.fixture(scope="module")
def calib(pose2sim_dir):
    return load_calibration(pose2sim_dir / QCA)


def test_qualisys_file_reads_the_four_cameras(calib, pose2sim_dir):
    assert isinstance(calib, Calibration) and calib.names == ["cam01", "cam02", "cam03", "cam04"]
    assert calib.source == str(pose2sim_dir / QCA) and find_calibration(pose2sim_dir) == pose2sim_dir / QCA
    cam = calib["cam01"]
    # QTM's intrinsics are in 1/64 pixel; fov_video starts at (0, 0) and is 1088 x 1920
    np.testing.assert_allclose(cam.matrix, [[107599.671875 / 64, 0, 34110.316406 / 64],
                                            [0, 107588.828125 / 64, 60680.792969 / 64], [0, 0, 1]])
    assert cam.size == (1088.0, 1920.0)
    np.testing.assert_allclose(cam.distortion, [-0.046183, 0.139983, 0.000608, 0.00069, 0.0])
    np.testing.assert_allclose(cam.center, [1.4602323709212087, -1.9091590482454608, 1.8965058524092062])  # x,y,z mm
    for c in calib:
        np.testing.assert_allclose(c.rotation @ c.rotation.T, np.eye(3), atol=1e-9)
        assert np.linalg.det(c.rotation) == pytest.approx(1.0)


def test_the_triangulated_markers_project_onto_the_2d_keypoints_pose2sim_triangulated(calib, pose2sim_dir):
    """The camera convention (Pose2Sim's calib_qca_to_toml) is right: the TRC markers land on the OpenPose
    keypoints they were triangulated from (measured medians 8-18 px per camera; a transposed rotation or
    a sign error puts them hundreds of pixels away or behind the camera)."""
    trc = hs.load_skeleton(pose2sim_dir / TRC)
    world = trc_world(trc)
    for cam in calib:
        assert (cam.to_camera(world)[..., 2] > 2.0).all()  # in front of the camera, 2-5 m away
        op = hs.load_skeleton(pose2sim_dir / "keypoints_2d_3d" / "pose" / f"{cam.name}_json", fps=60)
        order = [op.format.index(n) for n in trc.format.joints]  # the demo's OpenPose BODY_25B, by name
        uv = cam.project(world)  # (T, 21, 2)
        kp = op.positions[..., :2][:, :, order]  # (T, P, 21, 2); two persons per frame: the nearer one
        dist = np.where(op.mask[:, :, order], np.linalg.norm(kp - uv[:, None], axis=-1), np.inf)
        best = np.median(dist, axis=-1).min(1)  # a padded or mostly unseen person: inf
        assert np.median(best) < 25, (cam.name, np.median(best))


def test_projection_and_undistortion_match_opencv(calib):
    rng = np.random.default_rng(0)
    world = rng.uniform([-1.0, -1.0, 0.0], [1.0, 1.0, 2.0], (200, 3))
    for cam in calib:
        rvec = cv2.Rodrigues(cam.rotation)[0]
        ref = cv2.projectPoints(world, rvec, cam.translation, cam.matrix, cam.distortion)[0][:, 0]
        np.testing.assert_allclose(cam.project(world), ref, atol=1e-6)
        np.testing.assert_allclose(rodrigues(rvec[:, 0]), cam.rotation, atol=1e-12)
        pixels = rng.uniform([0, 0], cam.size, (200, 2))
        ref = cv2.undistortPoints(pixels[:, None], cam.matrix, cam.distortion, None, None, cam.matrix,
                                      (cv2.TERM_CRITERIA_COUNT, 20, 0))[:, 0]
        np.testing.assert_allclose(cam.undistort(pixels), ref, atol=1e-6)
        ideal = world @ cam.projection_matrix()[:, :3].T + cam.projection_matrix()[:, 3]
        ideal = ideal[:, :2] / ideal[:, 2:]
        np.testing.assert_allclose(cam.undistort(cam.project(world)), ideal, atol=1e-4)  # round trip


def _toml(calib: Calibration, distortions: str | None = None, extra: str = "") -> str:
    """A calibration written the way Pose2Sim's calib_qca_to_toml writes one."""
    out = []
    for i, cam in enumerate(calib):
        K, r = cam.matrix, cv2.Rodrigues(cam.rotation)[0][:, 0]
        d = distortions or ", ".join(repr(float(x)) for x in cam.distortion[:4])
        out.append(f"[cam_{i + 1}]\nname = \"{cam.name}\"\nsize = [ {cam.size[0]}, {cam.size[1]},]\n"
                   f"matrix = [ [ {K[0, 0]}, 0.0, {K[0, 2]},], [ 0.0, {K[1, 1]}, {K[1, 2]},], [ 0.0, 0.0, 1.0,],]\n"
                   f"distortions = [ {d},]\nrotation = [ {r[0]}, {r[1]}, {r[2]},]\n"
                   f"translation = [ {cam.translation[0]}, {cam.translation[1]}, {cam.translation[2]},]\n"
                   f"fisheye = false\n{extra}\n")
    return "".join(out) + "[metadata]\nadjusted = false\nerror = 0.0\n"


def test_pose2sim_toml_reads_the_same_cameras(calib, tmp_path):
    path = tmp_path / "Calib.toml"
    path.write_text(_toml(calib))
    again = load_calibration(path)
    assert again.names == calib.names
    world = np.random.default_rng(1).uniform(-1, 1, (50, 3))
    for a, b in zip(calib, again):
        np.testing.assert_allclose(b.rotation, a.rotation, atol=1e-12)
        np.testing.assert_allclose(b.translation, a.translation, atol=1e-12)
        np.testing.assert_allclose(b.project(world), a.project(world), atol=1e-6)
    assert find_calibration(tmp_path) == path and load_calibration(tmp_path).names == calib.names


def test_bad_calibration_files_are_typed_errors_naming_file_and_field(calib, pose2sim_dir, tmp_path):
    good = _toml(calib)
    cases = {
        "missing.toml": (good.replace("translation = ", "translat = ", 1), r"\[cam_1\]\.translation"),
        "fisheye.toml": (good.replace("fisheye = false", "fisheye = true", 1), r"\[cam_1\]\.fisheye"),
        "matrix.toml": (good.replace("matrix = [ [", "matrix = [ [ 1.0, 2.0,], [", 1), r"\[cam_1\]\.matrix"),
        "dist.toml": (_toml(calib, distortions="0.1, 0.2"), r"\[cam_1\]\.distortions"),
        "nan.toml": (good.replace("rotation = [ ", "rotation = [ nan, ", 1), r"\[cam_1\]\.rotation"),
        "syntax.toml": (good.replace("]\n", "\n", 1), "TOML"),
        "config.toml": ("[project]\nframe_rate = 60\n", "camera tables"),
        # found by benchmarks/fuzz_readers.py: Python's int() limit and deep nesting inside tomllib
        "longint.toml": (good.replace("fisheye = false", "fisheye = " + "9" * 5000, 1), "numbers of ordinary size"),
        "deep.toml": ("a = " + "[" * 100_000, "nested less than"),
    }
    for name, (text, field) in cases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SkeletonFileError, match=field) as info:
            load_calibration(path)
        assert name in str(info.value)
    qca = (pose2sim_dir / QCA).read_text()
    qcases = {
        "broken.qca.txt": (qca.replace("</cameras>", ""), "well-formed XML"),
        "nor11.qca.txt": (qca.replace('r11="0.5536380477336265" ', "", 1), "camera 'cam01' <transform> r11"),
        "word.qca.txt": (qca.replace('focalLengthU="107599.671875"', 'focalLengthU="wide"', 1), "focalLengthU"),
        "entity.qca.txt": ('<!DOCTYPE c [<!ENTITY a "aaaa">]>' + qca.split("?>", 1)[1], "DOCTYPE"),
        "none.qca.txt": ("<calibration/>", "cameras/camera"),
        # found by benchmarks/fuzz_readers.py: an unparsed skew, finite numbers whose difference overflows
        "skew.qca.txt": (qca.replace('skew="0.000000"', 'skew="0.000g000"', 1), "camera 'cam01' <intrinsic> skew"),
        "nanskew.qca.txt": (qca.replace('skew="0.000000"', 'skew="nan"', 1), "camera 'cam01' <intrinsic> skew"),
        "overflow.qca.txt": (qca.replace('<fov_video bottom="1919" left="0" right="1087"',
                                         '<fov_video bottom="1919" left="-1e308" right="1e308"', 1), r"camera 'cam01'\.size"),
    }
    long_serial = qca.replace('serial="cam01"', 'serial="cam' + "1" * 5000 + '"', 1)  # more digits than int() takes
    (tmp_path / "serial.qca.txt").write_text(long_serial)
    names = load_calibration(tmp_path / "serial.qca.txt").names  # natural order: the longest number last
    assert names[:3] == ["cam02", "cam03", "cam04"] and names[3] == "cam" + "1" * 5000
    for name, (text, field) in qcases.items():
        path = tmp_path / name
        path.write_text(text)
        with pytest.raises(SkeletonFileError, match=field) as info:
            load_calibration(path)
        assert name in str(info.value)
    (tmp_path / "calib.yml").write_text("cam: 1\n")
    with pytest.raises(SkeletonFileError, match="extension"):
        load_calibration(tmp_path / "calib.yml")
    (tmp_path / "empty").mkdir()
    with pytest.raises(SkeletonFileError, match="calibration file"):
        load_calibration(tmp_path / "empty")
    with pytest.raises(SkeletonInputError, match="cam09"):
        calib["cam09"]
