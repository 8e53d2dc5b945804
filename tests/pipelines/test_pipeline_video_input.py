"""skeleton-understanding on a real video: a LLaMo that reads video receives the video's frames together with
the motion BlazePose estimated from it (only when videos= is not given), on a few frames of the Pose2Sim
demo's cam01 (BlazePose runs about 50 ms per full-HD frame)."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest
import torch
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton.pipelines.skeleton_understanding import video_frames_of
from hf_skeleton.testing import tiny_llamo
from hf_skeleton.video import iter_frames, sample_frame_indices

LABELS = ["walk around", "sit down", "stand up"]


def _save(tmp_path_factory, use_video: bool):
    torch.manual_seed(0)
    model, processor = tiny_llamo(format="blazepose33", use_video=use_video)
    path = tmp_path_factory.mktemp("llamo_video" if use_video else "llamo_motion")
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return pipeline("skeleton-understanding", model=str(path))


@pytest.fixture(scope="module")
def pipe(tmp_path_factory):
    return _save(tmp_path_factory, use_video=True)


@pytest.fixture(scope="module")
def cam01(pose2sim_dir):
    return pose2sim_dir / "videos" / "cam01.mp4"


@pytest.fixture(scope="module")
def clip(cam01):
    return hs.load_skeleton(cam01, max_frames=5, stride=2, progress=False)  # frames 0, 2, 4, 6, 8


def test_a_clip_read_from_a_video_brings_its_own_frames(pipe, clip, cam01):
    assert pipe.model.config.use_video and pipe.processor.num_video_frames == 2
    frames = pipe.preprocess(clip)["video"]
    picked = clip.meta["frame_indices"][sample_frame_indices(5, 2)]  # frames 2 and 6 of the video
    assert picked.tolist() == [2, 6]
    decoded = {i: rgb for i, _, rgb in iter_frames(cam01, max_frames=7)}
    assert frames.shape == (2, 1920, 1080, 3) and frames.dtype == np.uint8
    np.testing.assert_array_equal(frames, np.stack([decoded[2], decoded[6]]))
    # the model reads them: the same call with the frames given explicitly scores the same, other frames not
    auto = pipe(clip, candidate_labels=LABELS)
    given = pipe(clip, candidate_labels=LABELS, videos=frames)
    assert [r["label"] for r in auto] == [r["label"] for r in given]
    np.testing.assert_allclose([r["score"] for r in auto], [r["score"] for r in given], atol=1e-6)
    other = pipe(clip, candidate_labels=LABELS, videos=np.zeros_like(frames))
    scores = {r["label"]: r["score"] for r in other}
    assert max(abs(scores[r["label"]] - r["score"]) for r in auto) > 1e-6
    # videos= given by the user wins
    black = np.zeros((3, 8, 8, 3), np.uint8)
    assert pipe.preprocess(clip, videos=black)["video"] is black
    assert isinstance(pipe(clip, prompt="Describe the motion.", max_new_tokens=3)["generated_text"], str)


def test_a_video_path_input_is_estimated_and_its_frames_passed(pipe, cam01, tmp_path):
    frames = [rgb[::4, ::4].copy() for _, _, rgb in iter_frames(cam01, max_frames=8)]  # 270x480, 8 frames
    path = tmp_path / "clip.mkv"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=Fraction(60))
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for rgb in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    item = pipe.preprocess(str(path))
    assert item["sequence"].format.name == "blazepose33" and item["sequence"].num_frames == 8
    assert item["video"].shape == (2, *frames[0].shape)
    np.testing.assert_array_equal(item["video"], hs.load_video(path, indices=[2, 6]))
    assert len(pipe(str(path), candidate_labels=LABELS)) == 3


def test_no_frames_for_a_motion_only_model_or_a_clip_not_from_a_video(tmp_path_factory, clip):
    motion_only = _save(tmp_path_factory, use_video=False)
    assert motion_only.preprocess(clip)["video"] is None
    assert len(motion_only(clip, candidate_labels=LABELS)) == 3
    plain = clip.copy(meta={"source": "clip"})
    assert video_frames_of(plain, plain, 2) is None  # no frame numbers, no video file
    assert video_frames_of("walk.bvh", clip, 2) is None
