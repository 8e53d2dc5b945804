"""The app's work without a browser (#20): ``hf_skeleton.app.analyze`` shows what the pipelines say on a real
N-UCLA clip, a generated sample (no real data needed) and a video; the continuation with a (tiny) Superman
model and the note without one; ``import hf_skeleton.app`` loads no gradio, and a missing gradio is a
typed error naming the install line. The page itself is driven in ``test_app_browser.py``."""

from __future__ import annotations

import sys
from fractions import Fraction

import numpy as np
import pytest
from PIL import Image
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton import app, embedded
from hf_skeleton.data import action_labels
from hf_skeleton.embedded import default_model_for
from hf_skeleton.skeletons.synthetic import synthetic_clip

CLIP = "a01_s01_e00_v01.json"  # N-UCLA "pick up with one hand", 44 frames


@pytest.fixture(autouse=True)
def _no_generation_default(monkeypatch):
    """The page without the embedded Superman (about 7 s a prediction on 2 cores): the continuation with a model is
    test_continuation_with_a_generation_model's job (a tiny Superman), the embedded one tests/test_embedded.py's."""
    monkeypatch.setitem(embedded.DEFAULTS, "skeleton-generation", ())


@pytest.fixture(scope="module")
def understanding():
    return pipeline("skeleton-understanding", model=default_model_for("skeleton-understanding"))


def _reference(pipe, seq):
    """What the embedded model says about ``seq``, asked directly."""
    ranked = pipe(seq, candidate_labels=list(action_labels("nucla").values()))
    text = pipe(seq, prompt="Describe the motion.", max_new_tokens=24)["generated_text"]
    return ranked[:5], text


def _frames(path) -> int:
    with Image.open(path) as im:
        return getattr(im, "n_frames", 1)


def test_a_real_clip_shows_what_the_pipeline_says(nucla_dir, tmp_path, understanding):
    result = app.analyze(str(nucla_dir / CLIP), tmp_path)
    top, text = _reference(understanding, hs.load_skeleton(nucla_dir / CLIP))
    assert [r["label"] for r in result["top_actions"]] == [r["label"] for r in top]
    np.testing.assert_allclose([r["score"] for r in result["top_actions"]], [r["score"] for r in top],
                               atol=1e-6)
    assert result["description"] == text and text.strip()
    assert result["kind"] == "file" and result["info"]["frames"] == 44
    assert result["info"]["label_name"] == "pick up with one hand"
    files = result["files"]
    assert _frames(files["original_animation"]) > 10 and _frames(files["animation"]) > 10  # animated GIFs
    with Image.open(files["draction_frames"]) as im:
        assert im.format == "PNG" and im.width > 300
    animation, frames, scores, description, summary, continuation, note = app.gradio_outputs(result)
    assert (animation, frames) == (files["original_animation"], files["draction_frames"])
    assert list(scores) == [r["label"] for r in top] and description == text
    assert CLIP in summary and "pick up with one hand" in summary and "kinect_v1" in summary
    assert app.generation_model_folder() is None  # the fixture above: no generation default
    assert continuation is None and "No continuation" in note and "--generation-model" in note


def test_a_generated_sample_needs_no_real_data(tmp_path, monkeypatch, understanding):
    monkeypatch.setattr("hf_skeleton.data.discovery.find_demo_clip", lambda start=None: None)
    samples = app.bundled_samples()
    assert list(samples) == [f"synthetic {action} (generated)" for action in ("walk", "wave", "squat")]
    result = app.analyze("synthetic wave (generated)", tmp_path)
    top, text = _reference(understanding, synthetic_clip("wave", 60, seed=0))
    assert result["kind"] == "synthetic" and result["info"]["synthetic"] is True
    assert [r["label"] for r in result["top_actions"]] == [r["label"] for r in top]
    assert result["description"] == text
    assert "SYNTHETIC" in app.summary_markdown(result)


def test_real_samples_when_the_data_is_there(nucla_dir, monkeypatch):
    demo = nucla_dir / "a04_s01_e00_v01.json"
    monkeypatch.setattr("hf_skeleton.data.discovery.find_demo_clip", lambda start=None: demo)
    samples = app.bundled_samples()
    assert list(samples)[:3] == ["N-UCLA a04_s01_e00_v01 (walk around)",
                                 "N-UCLA a01_s01_e00_v01 (pick up with one hand)",
                                 "N-UCLA a09_s01_e00_v01 (throw)"]
    assert samples["N-UCLA a09_s01_e00_v01 (throw)"]() == nucla_dir / "a09_s01_e00_v01.json"


def test_a_video_is_read_once_into_a_blazepose_skeleton(pose2sim_dir, tmp_path, understanding):
    import av

    video = tmp_path / "cam01_first12.mp4"  # the first 12 frames of a real recording
    with av.open(str(pose2sim_dir / "videos" / "cam01.mp4")) as src, av.open(str(video), "w") as out:
        stream = out.add_stream("mpeg4", rate=Fraction(30))
        for i, frame in enumerate(src.decode(video=0)):
            if i == 12:
                break
            if i == 0:
                stream.height, stream.width, stream.pix_fmt = frame.height, frame.width, "yuv420p"
            rgb = av.VideoFrame.from_ndarray(frame.to_ndarray(format="rgb24"), format="rgb24")
            for packet in stream.encode(rgb):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    result = app.analyze(video, tmp_path / "out")
    seq = hs.load_skeleton(video)
    assert result["info"]["format"] == "blazepose33" and result["info"]["frames"] == seq.num_frames == 12
    top, text = _reference(understanding, seq)
    assert [r["label"] for r in result["top_actions"]] == [r["label"] for r in top]
    assert result["description"] == text


@pytest.fixture(scope="module")
def superman_folder(tiny_superman_folder):
    return str(tiny_superman_folder)


def test_continuation_with_a_generation_model(nucla_dir, tmp_path, superman_folder):
    seq = hs.load_skeleton(nucla_dir / CLIP)  # 44 frames: the last 32 are the history
    cache: dict = {}
    gif, note = app.predict_continuation(seq, tmp_path, model=superman_folder, num_frames=16, pipelines=cache)
    assert gif == tmp_path / "continuation.gif" and _frames(gif) == 32 + 16
    assert "32 observed" in note and "16 predicted" in note
    expected = pipeline("skeleton-generation", model=superman_folder)(seq.frame_range(-32), task="predict",
                                                                       num_frames=16)
    again = cache[superman_folder](seq.frame_range(-32), task="predict", num_frames=16)  # the cached pipeline
    np.testing.assert_allclose(again.positions, expected.positions, atol=1e-5)


def test_a_clip_the_model_cannot_continue_gets_a_note(nucla_dir, tmp_path, superman_folder):
    seq = hs.load_skeleton(nucla_dir / CLIP)
    mask = seq.mask.copy()
    mask[-1] = False  # nobody observed in the last history frame
    gif, note = app.predict_continuation(seq.copy(mask=mask), tmp_path, model=superman_folder)
    assert gif is None and note.startswith("No continuation for this clip") and "unobserved in frame" in note


def test_import_loads_no_gradio_and_a_missing_gradio_names_the_extra(monkeypatch, capsys):
    import subprocess

    code = ("import sys, hf_skeleton.app, hf_skeleton.cli; "
            "print(sorted(m for m in ('gradio', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         check=False)
    assert out.returncode == 0 and out.stdout.strip() == "[]", out.stderr[-2000:]
    monkeypatch.setitem(sys.modules, "gradio", None)  # import gradio -> ModuleNotFoundError
    with pytest.raises(app.GradioNotInstalledError, match=r"pip install 'hf_skeleton\[app\]'") as info:
        app.build_app()
    assert isinstance(info.value, (hs.HFSkeletonError, ImportError))
    from hf_skeleton.cli import main

    assert main(["app", "--port", "7861"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [("hf-skeleton app: error: hf-skeleton's app needs gradio, which is not installed; "
                    "install it with: pip install 'hf_skeleton[app]'")]
