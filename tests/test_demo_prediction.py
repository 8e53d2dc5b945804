"""The demo's prediction of a clip's last frames with a Superman, drawn with the truth (issue 18): the errors it
prints are the pipeline's output against the held-out frames, next to the zero-velocity baseline; without a
model, or for a clip too short, a note says why and nothing is drawn."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton import cli
from hf_skeleton.demo import predict_held_out

CLIP = "a01_s01_e00_v01.json"  # N-UCLA "pick up with one hand", 44 frames


@pytest.fixture(scope="module")
def superman_folder(tiny_superman_folder):
    return str(tiny_superman_folder)


def _gif_frames(path) -> int:
    with Image.open(path) as im:
        return im.n_frames


def test_the_last_frames_are_predicted_from_the_ones_before_and_scored_against_them(nucla_dir, tmp_path,
                                                                                       superman_folder):
    seq = hs.load_skeleton(nucla_dir / CLIP)
    lines: list[str] = []
    out = predict_held_out(seq, tmp_path, model=superman_folder, log=lines.append)
    assert out["history_frames"] == 16 and out["held_out"] == 8 and out["model"] == superman_folder
    assert _gif_frames(out["animation"]) == 16 + 8
    history, truth = seq.frame_range(20, 36), seq.frame_range(36)
    predicted = pipeline("skeleton-generation", model=superman_folder)(history, task="predict", num_frames=8)
    observed = truth.mask & predicted.mask  # the Kinect joints with no H36M-17 source are not predicted
    assert 0 < observed.sum() < truth.mask.sum()
    error = np.linalg.norm(predicted.positions - truth.positions, axis=-1)[observed].mean()
    held = np.linalg.norm(history.positions[-1:] - truth.positions, axis=-1)[observed].mean()
    assert out["mpjpe"] == pytest.approx(error, rel=1e-4)
    assert out["zero_velocity_mpjpe"] == pytest.approx(held, rel=1e-4)
    assert f"{out['mpjpe']:.4g} m" in lines[-1] and f"zero velocity: {out['zero_velocity_mpjpe']:.4g} m" in lines[-1]


def test_without_a_model_or_with_too_short_a_clip_a_note_says_why(nucla_dir, tmp_path, superman_folder,
                                                                  monkeypatch):
    seq = hs.load_skeleton(nucla_dir / CLIP)
    monkeypatch.setattr("hf_skeleton.embedded.DEFAULTS", {"skeleton-generation": ()})
    out = predict_held_out(seq, tmp_path, log=lambda _: None)
    assert out["animation"] is None and "no motion-generation (Superman) model is installed" in out["note"]
    out = predict_held_out(seq.frame_range(0, 8), tmp_path, model=superman_folder, log=lambda _: None)
    assert out["animation"] is None and "fewer than the 9 it needs" in out["note"]
    assert not (tmp_path / "prediction.gif").exists()


def test_cli_demo_with_a_generation_model_writes_the_prediction(nucla_dir, tmp_path, superman_folder, capsys):
    assert cli.main(["demo", str(nucla_dir / CLIP), "--out-dir", str(tmp_path), "--generation-model",
                     superman_folder]) == 0
    printed = capsys.readouterr().out
    assert "prediction by" in printed and "zero velocity" in printed
    assert _gif_frames(tmp_path / "prediction.gif") == 24 and f"wrote prediction: {tmp_path / 'prediction.gif'}" in printed
