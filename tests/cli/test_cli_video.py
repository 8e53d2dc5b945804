"""hf-skeleton info | viz | render | demo on a real video (the Pose2Sim demo's cam01, 1080x1920) and info on the
multi-view trial folder, each on a few frames: --read-frames N runs BlazePose on the first N frames only."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from hf_skeleton import cli


@pytest.fixture(scope="module")
def cam01(pose2sim_dir):
    return pose2sim_dir / "videos" / "cam01.mp4"


def test_info_on_a_video_and_on_the_trial_folder(cam01, pose2sim_dir, capsys):
    assert cli.main(["info", str(cam01), "--read-frames", "3", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "blazepose33" and info["frames"] == 3 and info["fps"] == 60.0 and info["units"] == "m"
    assert cli.main(["info", str(pose2sim_dir), "--read-frames", "2", "--json"]) == 0  # 4 videos + calibration
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "blazepose33" and info["frames"] == 2 and info["masked_share"] < 0.1


def test_viz_of_a_video(cam01, tmp_path, capsys):
    gif, grid = tmp_path / "clip.gif", tmp_path / "grid.png"
    assert cli.main(["viz", str(cam01), "--read-frames", "4", "-o", str(gif), "--grid", str(grid),
                     "--grid-frames", "2", "--size", "64"]) == 0
    with Image.open(gif) as im:
        assert im.n_frames == 4 and im.size == (64, 64)
    assert grid.stat().st_size > 0 and f"wrote {gif}" in capsys.readouterr().out


def test_render_of_a_video(cam01, tmp_path):
    out = tmp_path / "render.png"
    assert cli.main(["render", str(cam01), "--read-frames", "2", "--frames", "2", "--size", "32", "-o", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size[0] >= 64 and im.size[1] >= 32


def test_demo_on_a_video(cam01, tmp_path, capsys):
    out = tmp_path / "demo"
    assert cli.main(["demo", str(cam01), "--read-frames", "6", "--num-frames", "8", "--out-dir", str(out)]) == 0
    text = capsys.readouterr().out
    assert "format: blazepose33" in text and "frames: 6" in text and "description:" in text
    assert {"clip.gif", "clip_grid.png", "clip_original.gif", "draction_frames.png"} <= {f.name for f in out.iterdir()}


def test_read_frames_cuts_other_files_too(pose2sim_dir, capsys):
    trc = pose2sim_dir / "keypoints_2d_3d" / "pose-3d" / "S00_P00_T01_BalancingTrial_0-100.trc"
    assert cli.main(["info", str(trc), "--read-frames", "7", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["frames"] == 7
