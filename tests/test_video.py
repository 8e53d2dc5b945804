"""Video decoding and frame sampling on the real Pose2Sim recordings (PyAV; imageio as the peer)."""

from __future__ import annotations

import numpy as np
import pytest

import hf_skeleton as hs


@pytest.fixture(scope="module")
def cam01(pose2sim_dir):
    return pose2sim_dir / "videos" / "cam01.mp4"


def test_video_info_matches_the_recording_and_its_keypoints(cam01, pose2sim_dir):
    info = hs.video_info(cam01)
    assert info["num_frames"] == 100 and info["fps"] == pytest.approx(60.0)
    assert (info["width"], info["height"]) == (1080, 1920)
    # one OpenPose JSON per decoded frame: the 2D keypoints give the matching motion
    assert len(list((pose2sim_dir / "keypoints_2d_3d" / "pose" / "cam01_json").glob("*.json"))) == 100


def test_decoded_frames_match_imageio(cam01):
    import imageio.v3 as iio

    idx = hs.sample_frame_indices(100, 4)
    assert idx.tolist() == [12, 37, 62, 87]
    frames = hs.load_video(cam01, num_frames=4)
    assert frames.shape == (4, 1920, 1080, 3) and frames.dtype == np.uint8
    ref = iio.imread(cam01, index=37, plugin="pyav")
    assert np.array_equal(frames[1], ref)


def test_decoding_chosen_frame_numbers(cam01):
    import imageio.v3 as iio

    frames = hs.load_video(cam01, indices=[37, 5, 37])  # in the order asked, repeats allowed
    assert frames.shape == (3, 1920, 1080, 3)
    assert np.array_equal(frames[0], iio.imread(cam01, index=37, plugin="pyav")) and np.array_equal(frames[0], frames[2])
    assert np.array_equal(frames[1], iio.imread(cam01, index=5, plugin="pyav"))
    for bad in ({"indices": [1], "num_frames": 2}, {"indices": []}, {"indices": [-1]}, {"indices": [0.5]}):
        with pytest.raises(hs.SkeletonInputError, match="indices"):
            hs.load_video(cam01, **bad)
    with pytest.raises(hs.SkeletonFileError, match="below the video's 100 frames"):
        hs.load_video(cam01, indices=[100])


def _same_picture(small, full):
    """small is full downscaled: it follows PIL's box-filtered resize, and keeps the mean colour."""
    from PIL import Image

    ref = np.asarray(Image.fromarray(full).resize(small.shape[1::-1], Image.BOX), float)
    assert np.corrcoef(small.astype(float).ravel(), ref.ravel())[0, 1] > 0.97
    np.testing.assert_allclose(small.mean((0, 1)), full.mean((0, 1)), atol=2.0)


def test_resize_and_seeded_sampling(cam01):
    small = hs.load_video(cam01, num_frames=3, size=64)
    assert small.shape == (3, 114, 64, 3)
    for s, f in zip(small, hs.load_video(cam01, num_frames=3)):
        _same_picture(s, f)
    fixed = hs.load_video(cam01, num_frames=2, size=(32, 48))
    assert fixed.shape == (2, 32, 48, 3)
    for s, f in zip(fixed, hs.load_video(cam01, num_frames=2)):
        _same_picture(s, f)
    a = hs.sample_frame_indices(100, 8, seed=1)
    assert np.array_equal(a, hs.sample_frame_indices(100, 8, seed=1))
    assert not np.array_equal(a, hs.sample_frame_indices(100, 8, seed=2))
    assert np.all(np.diff(a) > 0) and np.all((a >= np.arange(8) * 12.5 - 1e-9) & (a < (np.arange(8) + 1) * 12.5))
    r1 = hs.load_video(cam01, num_frames=2, seed=1, size=32)
    r2 = hs.load_video(cam01, num_frames=2, seed=1, size=32)
    assert np.array_equal(r1, r2)


def test_short_videos_repeat_frames_and_bad_arguments():
    assert hs.sample_frame_indices(3, 6).tolist() == [0, 0, 1, 1, 2, 2]
    assert hs.sample_frame_indices(1, 4).tolist() == [0, 0, 0, 0]
    for bad in (dict(num_total=0, num_frames=2), dict(num_total=5, num_frames=0),
                dict(num_total=5, num_frames=2, mode="dense")):
        with pytest.raises(hs.SkeletonInputError):
            hs.sample_frame_indices(**bad)


def test_unreadable_files_raise_typed_errors(tmp_path, cam01):
    with pytest.raises(hs.SkeletonFileError, match="no such file"):
        hs.load_video(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"this is not a video")
    with pytest.raises(hs.SkeletonFileError, match="junk.mp4"):
        hs.load_video(junk, num_frames=2)
    with pytest.raises(hs.SkeletonInputError, match="size"):
        hs.load_video(cam01, num_frames=1, size=0)
