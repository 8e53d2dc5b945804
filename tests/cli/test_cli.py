import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import imageio.v3 as iio
import pytest

from hf_skeleton import cli, embedded

REPO = Path(__file__).resolve().parents[2]


def test_every_subcommand_has_help(capsys):
    for command in ("demo", "info", "viz", "convert"):
        with pytest.raises(SystemExit) as done:
            cli.main([command, "--help"])
        assert done.value.code == 0
        assert "usage: hf-skeleton " + command in capsys.readouterr().out


def test_info_table_and_json(nucla_dir, capsys):
    assert cli.main(["info", str(nucla_dir / "a01_s01_e00_v01.json"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["format"] == "kinect_v1" and info["frames"] == 44 and info["joints"] == 20
    assert info["label_name"] == "pick up with one hand" and info["duration_s"] == pytest.approx(44 / 30, abs=1e-3)
    assert info["masked_share"] == 0.0 and info["view"] == 1
    assert cli.main(["info", str(nucla_dir / "a01_s01_e00_v01.json")]) == 0
    out = capsys.readouterr().out
    assert "kinect_v1" in out and "pick up with one hand" in out


def test_info_cmu_text_label(cmu_dir, capsys):
    assert cli.main(["info", str(cmu_dir / "16_01.bvh"), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["joints"] == 31 and info["label_name"] == "run" and info["text"] == "jump"  # cmu_motion_labels.csv, as written


@pytest.mark.parametrize("argv,needle", [
    (["info", "missing.json"], "missing.json"),
    (["viz", "missing.bvh", "-o", "x.gif"], "missing.bvh"),
    (["convert", "missing_dir", "out", "--dataset", "nucla"], "missing_dir"),
])
def test_bad_input_is_one_line_and_exit_2(argv, needle, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hf-skeleton {argv[0]}: error:") and needle in err
    assert "\n" not in err and "Traceback" not in err


def test_viz_writes_gif_and_grid(nucla_dir, tmp_path, capsys):
    gif, grid = tmp_path / "a.gif", tmp_path / "a.png"
    assert cli.main(["viz", str(nucla_dir / "a05_s02_e01_v02.json"), "-o", str(gif), "--normalize", "--size", "96",
                     "--max-frames", "12", "--grid", str(grid), "--view", "20,10"]) == 0
    assert iio.imread(gif, index=None).shape[0] == 12 and iio.imread(grid).ndim == 3
    assert str(gif) in capsys.readouterr().out
    assert cli.main(["viz", str(nucla_dir / "a05_s02_e01_v02.json"), "-o", str(tmp_path / "a.webm")]) == 2


def test_convert_command(humanml3d_dir, tmp_path, capsys):
    assert cli.main(["convert", str(humanml3d_dir), str(tmp_path / "out"), "--dataset", "humanml3d"]) == 0
    out = capsys.readouterr().out
    assert "default/train: 1 rows in 1 shard(s)" in out
    assert cli.main(["convert", str(humanml3d_dir), str(tmp_path / "out"), "--dataset", "humanml3d"]) == 2
    assert "--overwrite" in capsys.readouterr().err


@pytest.fixture()
def no_generation_default(monkeypatch):
    """The demo without the embedded Superman's prediction (about 7 s on 2 cores; tests/test_embedded.py runs it)."""
    monkeypatch.setitem(embedded.DEFAULTS, "skeleton-generation", ())


def test_demo_on_real_clip_from_repo_root(tmp_path, monkeypatch, capsys, no_generation_default):
    monkeypatch.chdir(REPO)
    monkeypatch.delenv("HF_SKELETON_DATA", raising=False)
    result = cli.run_demo(out_dir=tmp_path / "demo", num_frames=12)
    assert result["kind"] == "real" and result["clip"].endswith(cli.DEMO_CLIP)
    frames = iio.imread(result["files"]["animation"], index=None)
    assert frames.shape[0] == 12
    assert iio.imread(result["files"]["frame_grid"]).shape[2] == 3
    out = capsys.readouterr().out
    assert "walk around" in out and str(tmp_path / "demo") in out


def test_demo_with_path_and_synthetic_fallback(cmu_dir, tmp_path, monkeypatch, capsys, no_generation_default):
    assert cli.main(["demo", str(cmu_dir / "02_01.bvh"), "--out-dir", str(tmp_path / "d1"), "--num-frames", "8"]) == 0
    assert (tmp_path / "d1" / "clip.gif").is_file()
    from hf_skeleton import demo

    monkeypatch.setattr(demo, "find_demo_clip", lambda start=None: None)
    result = cli.run_demo(out_dir=tmp_path / "d2", num_frames=8)
    assert result["kind"] == "synthetic" and result["info"]["synthetic"]
    assert "SYNTHETIC" in capsys.readouterr().out


def test_find_demo_clip_uses_env(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("HF_SKELETON_DATA", str(data_dir))
    assert cli.find_demo_clip(tmp_path) == data_dir / "nw_ucla" / "all_sqe" / cli.DEMO_CLIP


def test_console_entry_point_exits_cleanly(tmp_path):
    exe = shutil.which("hf-skeleton")
    cmd = [exe] if exe else [sys.executable, "-m", "hf_skeleton.cli"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.run(cmd + ["info", str(tmp_path / "nope.trc")], capture_output=True, text=True, env=env,
                          timeout=120, check=False)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "Traceback" not in proc.stderr and "nope.trc" in proc.stderr


@pytest.mark.parametrize("view", ["nan,nan", "1e999,5"])
def test_viz_refuses_a_non_finite_view(nucla_dir, tmp_path, capsys, view):
    assert cli.main(["viz", str(nucla_dir / "a01_s01_e00_v01.json"), "-o", str(tmp_path / "a.gif"),
                     "--view", view]) == 2
    err = capsys.readouterr().err.strip()
    assert "field view" in err and "finite" in err and "\n" not in err


@pytest.mark.parametrize("command", ["render", "evaluate"])
def test_a_folder_of_an_unknown_model_type_is_one_line(nucla_dir, tmp_path, capsys, command):
    folder = tmp_path / "weird"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "weird", "auto_map": {"AutoModel": "m.Weird"}}))
    argv = (["render", str(nucla_dir / "a01_s01_e00_v01.json"), "--model", str(folder), "-o", str(tmp_path / "r.png")]
            if command == "render" else ["evaluate", str(folder), "--limit", "2"])
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"hf-skeleton {command}: error: {folder}") and "weird" in err and "\n" not in err
