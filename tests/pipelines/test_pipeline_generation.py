"""pipeline("skeleton-generation") on a tiny saved Superman: predict, inbetween, estimate, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from transformers import pipeline

import hf_skeleton as hs
from hf_skeleton.models.superman import MotionParseError
from hf_skeleton.pipelines.skeleton_generation import MAX_FRAMES


@pytest.fixture(scope="module")
def folder(tiny_superman_folder):
    return tiny_superman_folder


@pytest.fixture(scope="module")
def pipe(folder):
    return pipeline("skeleton-generation", model=str(folder))


def _seq(T=8, fmt="h36m17", persons=1):
    J = hs.get_format(fmt).num_joints
    pos = np.random.default_rng(0).normal(scale=0.05, size=(T, persons, J, 3)).cumsum(0) + np.array(
        [0, 1.0, 3.0]
    )
    return hs.SkeletonSequence(pos.astype(np.float32), fps=50, format=fmt)


def test_predict_returns_future_in_input_coordinates(pipe):
    seq = _seq(8, persons=2)
    out = pipe(seq, task="predict", num_frames=6)
    assert isinstance(out, hs.SkeletonSequence)
    assert out.positions.shape == (6, 2, 17, 3) and out.fps == 50 and out.format == seq.format
    assert out.meta["task"] == "predict" and out.meta["motion_codes"][0].shape == (3, 17)
    # mapped back from [-1, 1] with the history's box: moving the history moves the future by as much
    shift = np.array([0.7, -0.3, 2.0], dtype=np.float32)
    moved = pipe(seq.copy(positions=seq.positions + shift), task="predict", num_frames=6)
    np.testing.assert_array_equal(moved.meta["motion_codes"][0], out.meta["motion_codes"][0])
    np.testing.assert_allclose(moved.positions, out.positions + shift, atol=1e-4)


def test_inbetween_and_history_frames(pipe):
    seq = _seq(12)
    out = pipe(seq, task="inbetween", num_frames=12)
    assert out.positions.shape == (12, 1, 17, 3) and out.meta["task"] == "inbetween"
    out = pipe(seq, task="predict", num_frames=4, history_frames=4)
    last4 = pipe(seq.frame_range(-4), task="predict", num_frames=4)
    assert out.num_frames == 4
    np.testing.assert_array_equal(out.positions, last4.positions)  # the history is the last 4 frames


def test_estimate_from_video_frames_and_file(pipe, data_dir):
    frames = np.random.default_rng(1).integers(0, 255, (4, 56, 56, 3), dtype=np.uint8)
    out = pipe(frames, task="estimate")
    assert out.positions.shape == (4, 1, 17, 3) and out.meta["units"] == "normalized"
    video = min((data_dir / "sports2d_demo").glob("*.mp4"))
    out = pipe(str(video), task="estimate", num_frames=4, frame_size=56)
    assert out.positions.shape == (4, 1, 17, 3) and out.fps > 0


def test_other_format_is_converted_and_returned_in_it(pipe):
    seq = _seq(8, fmt="kinect_v2")
    out = pipe(seq, task="predict", num_frames=4)
    assert out.format.name == "kinect_v2" and out.positions.shape == (4, 1, 25, 3)
    # joints without an h36m source are masked, the others filled
    has_source = seq.to_format("h36m17").to_format("kinect_v2").mask[0, 0]
    assert 0 < has_source.sum() < 25
    np.testing.assert_array_equal(out.mask, np.broadcast_to(has_source, out.mask.shape))


def test_unconstrained_output_is_parsed_strictly(pipe):
    with pytest.raises(MotionParseError):
        pipe(_seq(8), task="predict", num_frames=4, constrained=False)


def test_bad_inputs(pipe):
    with pytest.raises(hs.SkeletonInputError, match="task"):
        pipe(_seq(8), task="dance")
    with pytest.raises(hs.SkeletonInputError, match="keyframes"):
        pipe(_seq(2), task="inbetween", num_frames=16)
    with pytest.raises(hs.SkeletonInputError, match="video"):
        pipe(_seq(8), task="estimate")
    with pytest.raises(hs.SkeletonInputError, match="inputs"):
        pipe(12345, task="predict")
    with pytest.raises(hs.SkeletonInputError, match="arguments"):
        pipe(_seq(8), task="predict", bogus=1)


@pytest.mark.parametrize("kwargs, field", [
    ({"num_frames": 0}, "num_frames"), ({"num_frames": -4}, "num_frames"), ({"num_frames": 10_000}, "num_frames"),
    ({"num_frames": 2.5}, "num_frames"), ({"history_frames": -3}, "history_frames"), ({"keyframes": -2}, "keyframes"),
    ({"max_new_tokens": -1, "constrained": False}, "max_new_tokens"), ({"frame_size": 0}, "frame_size"),
    ({"task": "inbetween", "num_frames": 8, "keyframes": 4}, "frames (2 x 4 keyframes)"),
])
def test_arguments_are_bounded(pipe, kwargs, field):
    kwargs = {"task": "predict", **kwargs}
    with pytest.raises(hs.SkeletonInputError, match=field.replace("(", r"\(").replace(")", r"\)")):
        pipe(_seq(12), **kwargs)


def test_long_histories_and_unobserved_frames_are_refused(pipe):
    long = _seq(MAX_FRAMES + 1)
    with pytest.raises(hs.SkeletonInputError, match="history_frames"):  # before tokenising 1,025 frames
        pipe(long, task="predict", num_frames=4)
    assert pipe(long, task="predict", num_frames=4, history_frames=8).num_frames == 4
    with pytest.raises(hs.SkeletonInputError, match="context"):  # 512 steps x 17 codes > the 4,096-token context
        pipe(long, task="predict", num_frames=4, history_frames=MAX_FRAMES)
    seq = _seq(8)
    empty = seq.copy(positions=np.full_like(seq.positions, np.nan))  # all-NaN: nothing observed
    with pytest.raises(hs.SkeletonInputError, match="observed joint"):
        pipe(empty, task="predict", num_frames=4)
    gap = seq.copy(mask=seq.mask.copy())
    gap.mask[5] = False
    with pytest.raises(hs.SkeletonInputError, match="frame 5"):
        pipe(gap, task="inbetween", num_frames=8, keyframes=3)  # frame 5 is an end keyframe
    assert pipe(gap, task="predict", num_frames=4, history_frames=2).num_frames == 4  # frames 6-7 only


def test_generation_pipeline_without_a_model_says_what_to_pass(monkeypatch):
    from transformers import pipeline

    monkeypatch.setattr("hf_skeleton.embedded.DEFAULTS", {"skeleton-generation": ()})  # as with none installed
    with pytest.raises(hs.NoDefaultModelError) as err:
        pipeline("skeleton-generation")
    assert err.value.task == "skeleton-generation" and "model=" in str(err.value)
    assert "hf-skeleton train superman" in str(err.value)


def test_arrays_and_dataset_rows_read_by_the_skeleton_processor(pipe):
    from hf_skeleton.dataset_tools import sequence_to_example

    seq = _seq(8)
    assert pipe.processor.skeleton_processor.normalization == "box"
    ref = pipe(seq, task="predict", num_frames=4)
    for inputs, kw in [(seq.positions, {"skeleton_format": "h36m17"}), (sequence_to_example(seq, id="x"), {})]:
        out = pipe(inputs, task="predict", num_frames=4, **kw)
        np.testing.assert_array_equal(out.positions, ref.positions)
    with pytest.raises(hs.SkeletonInputError, match="skeleton_format"):
        pipe(seq.positions, task="predict", num_frames=4)


def test_lists_generators_and_batch_size_give_the_single_call_results(pipe, cmu_dir):
    """Transformers' batching machinery (issue 20): a list with batch_size=2 used to fail; a generator
    and a list give what one call per clip gives, and the pipeline's own batch size is not changed."""
    from hf_skeleton.training.superman_tasks import cmu_to_h36m

    real = cmu_to_h36m(hs.load_skeleton(cmu_dir / "02_01.bvh"))
    clips = [real.frame_range(s, s + 8) for s in (0, 40, 80)]
    single = [pipe(c, task="predict", num_frames=6) for c in clips]
    batch_size_before = pipe._batch_size
    for got in (pipe(clips, task="predict", num_frames=6, batch_size=2),
                list(pipe((c for c in clips), task="predict", num_frames=6, batch_size=2))):
        assert len(got) == 3
        for a, b in zip(got, single):
            np.testing.assert_array_equal(a.meta["motion_codes"][0], b.meta["motion_codes"][0])
            np.testing.assert_allclose(a.positions, b.positions, atol=1e-6)
    assert pipe._batch_size == batch_size_before


def test_sampling_arguments_reach_generate(pipe, monkeypatch):
    seen = []
    generate = pipe.model.generate

    def spy(*args, **kwargs):
        seen.append({k: kwargs.get(k) for k in ("do_sample", "temperature", "top_p")})
        return generate(*args, **kwargs)

    monkeypatch.setattr(pipe.model, "generate", spy)
    pipe(_seq(8), task="predict", num_frames=4)
    assert seen == []  # greedy constrained decoding: constrained_generate's forward per code slot
    torch.manual_seed(0)
    a = pipe(_seq(8), task="predict", num_frames=4, do_sample=True, temperature=1.5, top_p=0.9)
    torch.manual_seed(0)
    b = pipe(_seq(8), task="predict", num_frames=4, do_sample=True, temperature=1.5, top_p=0.9)
    assert seen == [{"do_sample": True, "temperature": 1.5, "top_p": 0.9}] * 2
    np.testing.assert_array_equal(a.meta["motion_codes"][0], b.meta["motion_codes"][0])  # seeded
    for bad in ({"temperature": 0}, {"top_p": 1.5}, {"temperature": "hot"}):
        with pytest.raises(hs.SkeletonInputError):
            pipe(_seq(8), task="predict", num_frames=4, do_sample=True, **bad)


def test_a_joint_the_clip_lacks_is_read_where_its_neighbours_put_it(pipe):
    """An unobserved joint (stored as 0, metres from a body in camera coordinates) is filled from its tree
    neighbours before the VGMT reads it: the prediction is the one for that joint observed there."""
    seq = _seq(8)
    neck, thorax, head = (seq.format.index(n) for n in ("neck", "thorax", "head"))
    mask = seq.mask.copy()
    mask[:, :, neck] = False
    lacking = pipe(seq.copy(mask=mask), task="predict", num_frames=4)
    pos = seq.positions.copy()
    pos[:, :, neck] = (pos[:, :, thorax] + pos[:, :, head]) / 2
    there = pipe(seq.copy(positions=pos), task="predict", num_frames=4)
    np.testing.assert_array_equal(lacking.meta["motion_codes"][0], there.meta["motion_codes"][0])
    np.testing.assert_allclose(lacking.positions, there.positions, atol=1e-5)
