import imageio.v3 as iio
import numpy as np
import pytest

import hf_skeleton as hs
from hf_skeleton.errors import SkeletonInputError
from hf_skeleton.skeletons.synthetic import synthetic_clip
from hf_skeleton.viz import project, render_frames, save_animation


def _ink(frame):
    """Share of pixels that are neither white nor near-white."""
    return float((frame.min(-1) < 200).mean())


def test_gif_reads_back_with_all_frames(tmp_path):
    seq = synthetic_clip("walk", 12)
    out = hs.save_animation(seq, tmp_path / "clip.gif")
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 12 and frames.shape[1:3] == (320, 320)
    assert all(_ink(f) > 0.005 for f in frames)
    meta = iio.immeta(out)
    assert meta["loop"] == 0 and meta["duration"] == 30  # 30 fps -> 3 hundredths of a second


def test_mp4_reads_back(tmp_path):
    seq = synthetic_clip("wave", 10)
    out = save_animation(seq, tmp_path / "clip.mp4", fps=10, size=128)
    frames = iio.imread(out, plugin="pyav")
    assert frames.shape == (10, 128, 128, 3)
    assert _ink(frames[0]) > 0.005


def test_max_frames_subsamples_and_keeps_duration(tmp_path):
    seq = synthetic_clip("squat", 40)
    out = save_animation(seq, tmp_path / "short.gif", max_frames=10, size=96)
    assert iio.imread(out, index=None).shape[0] == 10
    assert iio.immeta(out)["duration"] == 130  # 40 frames at 30 fps shown as 10 frames: 0.133 s each


def test_frames_follow_the_motion_and_persons_get_colours():
    base = synthetic_clip("walk", 6).positions
    two = np.concatenate([base, base + np.array([1.0, 0, 0], np.float32)], axis=1)
    seq = hs.SkeletonSequence(positions=two, format="kinect_v2", fps=30)
    frames = list(render_frames(seq, size=96))
    assert len(frames) == 6
    assert not np.array_equal(frames[0], frames[3])
    flat = frames[0].reshape(-1, 3).astype(int)
    blue = ((flat[:, 2] > 150) & (flat[:, 0] < 100)).sum()
    red = ((flat[:, 0] > 150) & (flat[:, 2] < 100)).sum()
    assert blue > 10 and red > 10
    one = list(render_frames(hs.SkeletonSequence(positions=base, format="kinect_v2"), size=96))
    flat1 = one[0].reshape(-1, 3).astype(int)
    assert ((flat1[:, 0] > 150) & (flat1[:, 2] < 100)).sum() == 0


def test_masked_joints_are_not_drawn():
    seq = synthetic_clip("walk", 1)
    hidden = seq.copy(mask=np.zeros_like(seq.mask))
    blank = next(render_frames(hidden, size=96, title=""))
    drawn = next(render_frames(seq, size=96, title=""))
    assert _ink(drawn) > _ink(blank)


def test_frame_grid_png(tmp_path):
    seq = synthetic_clip("squat", 30)
    out = hs.save_frame_grid(seq, tmp_path / "grid.png", num_frames=6, columns=3, panel_size=100)
    img = iio.imread(out)
    assert img.shape[:2] == (2 * 100 + 24, 300)
    assert _ink(img) > 0.01


def test_views_project_as_documented():
    seq = synthetic_clip("walk", 2)
    fmt = seq.format
    cam = project(seq, "camera")
    lh, rh = fmt.index("left_hip"), fmt.index("right_hip")
    assert cam[0, 0, lh, 0] > cam[0, 0, rh, 0]  # facing the camera: the body's left is on screen right
    side = project(seq, "side")
    assert abs(side[0, 0, lh, 0] - side[0, 0, rh, 0]) < 1e-6
    top = project(seq, "top")
    np.testing.assert_allclose(top[0, 0, :, 1], seq.positions[0, 0, :, 2], atol=1e-6)  # far side up
    np.testing.assert_allclose(project(seq, (0, 0)), cam)


def test_2d_data_is_drawn_in_image_plane():
    kp = np.random.default_rng(0).uniform(100, 400, size=(2, 1, 17, 2))
    seq = hs.SkeletonSequence(positions=kp, format="coco17")
    xy = project(seq, "side")  # ignored for 2D data
    np.testing.assert_allclose(xy[..., 0], kp[..., 0], atol=1e-4)
    np.testing.assert_allclose(xy[..., 1], -kp[..., 1], atol=1e-4)  # y down in pixels -> screen up


@pytest.mark.parametrize("kwargs,path", [({}, "clip.avi"), ({"view": "back"}, "clip.gif"),
                                         ({"view": (1, 2, 3)}, "clip.gif"), ({"size": 8}, "clip.gif"),
                                         ({"fps": -1}, "clip.gif")])
def test_bad_arguments(tmp_path, kwargs, path):
    with pytest.raises(SkeletonInputError):
        save_animation(synthetic_clip("walk", 3), tmp_path / path, **kwargs)


def test_real_nucla_clip(tmp_path, nucla_dir):
    seq = hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")
    out = save_animation(seq, tmp_path / "real.gif", size=128, max_frames=20)
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == min(20, seq.num_frames) and _ink(frames[-1]) > 0.005
