"""LLaMo processing: placeholders, motion normalisation and format conversion, video frames, real clips, the pipeline."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from llamo_fixtures import clips, frames, make
from transformers import CLIPImageProcessorPil

import hf_skeleton as hs
from hf_skeleton.skeletons.transforms import normalize
from hf_skeleton.testing import build_tiny_tokenizer
from llamo_fixtures import tok  # noqa: F401  (pytest fixtures)


# ---------------------------------------------------------------------- processor
def test_processor_placeholders(tok):
    _, proc = make(tok)
    sk = clips(lengths=(7, 1))
    b = proc(skeletons=sk, text=["<motion> what is the person doing ?", "no placeholder"], skeleton_format="kinect_v1")
    counts = (b["input_ids"] == proc.motion_token_id).sum(1).tolist()
    assert counts == [4, 1]  # ceil(7 / 2), ceil(1 / 2)
    assert b["motion"].shape == (2, 7, 20, 3) and b["motion_mask"].shape == (2, 7, 20)
    assert not b["motion_mask"][1, 1:].any()
    text = tok.decode(b["input_ids"][1][b["attention_mask"][1].bool()])
    assert text.startswith("<motion>\nno placeholder")
    with pytest.raises(hs.SkeletonInputError, match="at most one"):
        proc(skeletons=sk[:1], text=["<motion><motion>"])
    with pytest.raises(hs.SkeletonInputError, match="without its input"):
        proc(text=["<motion> hi"])
    with pytest.raises(hs.SkeletonInputError, match="one clip per text"):
        proc(skeletons=sk, text=["a"])
    with pytest.raises(hs.SkeletonInputError, match="20, 3"):
        proc(skeletons=[np.zeros((4, 25, 3))], text=["a"])
    with pytest.raises(hs.SkeletonInputError, match="tokenizer"):
        hs.LlamoProcessor(build_tiny_tokenizer(), CLIPImageProcessorPil())


def test_processor_motion_normalisation_and_format_conversion(tok, nucla_dir):
    _, proc = make(tok)
    seq = hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")
    pos, mask = proc.prepare_motion(seq)
    ref = normalize(seq.resample(24) if seq.num_frames > 24 else seq, center="first_frame", scale=True)
    np.testing.assert_allclose(pos, ref.positions[:, 0], rtol=1e-6, atol=1e-6)
    assert pos.shape == (min(seq.num_frames, 24), 20, 3) and mask.all()
    # a Kinect v2 clip into a Kinect v1 model: the 20 shared joints matched by name, hand tips dropped
    v2 = seq.to_format("kinect_v2")
    pos2, mask2 = proc.prepare_motion(v2)
    assert pos2.shape == pos.shape and mask2.all()
    np.testing.assert_allclose(pos2, pos, atol=1e-5)
    # an SMPL-22 model reading the same clip: joints without an SMPL name are masked, not invented
    _, smpl_proc = make(tok, fmt="smpl22", video=False)
    pos3, mask3 = smpl_proc.prepare_motion(seq)
    assert pos3.shape == (pos.shape[0], 22, 3)
    assert not mask3[:, hs.get_format("smpl22").index("spine3")].any() and mask3[:, 0].all()


def test_processor_video_matches_clip_image_processor(tok):
    _, proc = make(tok)
    video = frames(10)
    got = proc.prepare_video(video)
    idx = hs.sample_frame_indices(10, 2)
    ref = CLIPImageProcessorPil(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56})(
        images=list(video[idx]), return_tensors="pt")["pixel_values"]
    assert torch.equal(got, ref)


def test_real_nucla_clips_including_one_frame(tok, nucla_dir):
    model, proc = make(tok, video=False)
    seqs = [hs.load_skeleton(nucla_dir / n) for n in ("a02_s09_e04_v02.json", "a11_s03_e01_v03.json")]
    assert seqs[0].num_frames == 1
    batch = proc(skeletons=seqs, text=["what action is the person doing ?"] * 2)
    out = model(**batch)
    assert torch.isfinite(out.logits).all()
    assert int((batch["input_ids"][0] == proc.motion_token_id).sum()) == 1


def test_skeleton_understanding_pipeline_with_a_llamo_folder(tok, tmp_path, nucla_dir):
    from transformers import pipeline

    model, proc = make(tok)
    with torch.no_grad():  # a wide spread, so that greedy tokens depend on the prompt, clip and video
        for p in model.model.language_model.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.2)
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    pipe = pipeline("skeleton-understanding", model=str(tmp_path))
    clip = nucla_dir / "a04_s01_e00_v01.json"
    ranked = pipe(clip, candidate_labels=["walk around", "sit down", "throw"])
    assert sorted(r["label"] for r in ranked) == ["sit down", "throw", "walk around"]
    assert abs(sum(r["score"] for r in ranked) - 1) < 1e-5
    video = frames()
    with_video = pipe(clip, candidate_labels=["walk around", "sit down", "throw"], videos=video)
    assert [r["score"] for r in with_video] != [r["score"] for r in ranked]  # the video reaches the model
    # the pipeline's scores are the model's own likelihoods on the processor's batch
    seq = hs.load_skeleton(clip)
    from hf_skeleton.evaluation.recognition import score_candidate_labels
    direct = score_candidate_labels(model, proc, [seq], "What action is the person doing? Answer with the action name.",
                                    ["walk around", "sit down", "throw"], videos=[video]).softmax(-1)[0]
    got = {r["label"]: r["score"] for r in with_video}
    assert got["throw"] == pytest.approx(float(direct[2]), abs=1e-5)
    text = pipe(clip, prompt="Describe the motion.", max_new_tokens=3, videos=video)
    # the model's own greedy continuation of the chat prompt, with the clip and the video
    from hf_skeleton.training.collators import chat_prompt
    enc = proc(skeletons=[seq], text=[chat_prompt(proc, "Describe the motion.")], videos=[video])
    new = model.generate(**enc, max_new_tokens=3, do_sample=False)[0, enc["input_ids"].shape[1]:]
    assert len(new) == 3
    assert text == {"generated_text": tok.decode(new, skip_special_tokens=True).strip()}


def test_real_pose2sim_motion_with_its_video(tok, pose2sim_dir):
    """3D markers (TRC) and the synchronised camera video of the same trial, end to end."""
    seq = hs.load_skeleton(pose2sim_dir / "keypoints_2d_3d" / "pose-3d"
                           / "S00_P00_T01_BalancingTrial_0-100_filt_butterworth.trc")
    video = pose2sim_dir / "videos" / "cam01.mp4"
    assert seq.num_frames == hs.video_info(video)["num_frames"] == 100
    model, proc = make(tok, fmt=seq.format)
    batch = proc(skeletons=[seq], text=["describe the motion ."], videos=[video])
    assert batch["motion"].shape == (1, 24, seq.format.num_joints, 3)  # resampled to max_motion_frames
    pos, mask = proc.prepare_motion(seq)
    np.testing.assert_array_equal(batch["motion"][0].numpy(), pos)
    assert batch["motion_mask"][0].numpy().all() and mask.all()
    assert batch["pixel_values_videos"].shape == (1, 2, 3, 56, 56)
    frames = hs.load_video(video, num_frames=2)  # the two uniformly sampled frames of the mp4
    assert torch.equal(batch["pixel_values_videos"][0], proc.prepare_video(frames))
    out = model(**batch)
    assert torch.isfinite(out.logits).all() and out.video_hidden_states.shape == (1, 2, 32)
