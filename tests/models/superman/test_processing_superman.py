"""Superman processing: motion text and strict parsing, video patches, processor errors and folders."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.models.superman import MotionParseError, MotionTextFormatter
from hf_skeleton.models.vgmt import VGMTConfig
from superman_fixtures import tiny  # noqa: F401  (pytest fixtures)


# ---------------------------------------------------------------------- motion text
def test_format_groups_by_body_part_and_round_trips():
    fmt = MotionTextFormatter.from_vgmt_config(
        VGMTConfig(
            format="h36m17",
            num_codes=64,
            code_dim=8,
            channels=[8],
            dilations=[1],
            norm_groups=2,
            use_vision=False,
        )
    )
    assert [n for n, _ in fmt.parts] == ["torso", "left_arm", "right_arm", "left_leg", "right_leg"]
    assert dict(fmt.parts)["torso"] == [0, 7, 8, 9, 10] and dict(fmt.parts)["right_leg"] == [1, 2, 3]
    codes = torch.arange(2 * 17).view(2, 17) % 64
    text = fmt.format(codes)
    assert text.startswith("<skel_start>Frame 1: torso: <skel_0><skel_7><skel_8><skel_9><skel_10> left_arm: ")
    assert "\nFrame 2: " in text and text.endswith("<skel_end>")
    assert torch.equal(fmt.parse(text, num_steps=2), codes)
    assert torch.equal(fmt.parse("  \n" + text.replace(" ", "  ") + "\n"), codes)  # whitespace-tolerant


def test_part_grouping_uses_one_slot_per_part():
    cfg = VGMTConfig(
        format="kinect_v2",
        num_codes=8,
        code_dim=8,
        channels=[8],
        dilations=[1],
        norm_groups=2,
        use_vision=False,
        token_grouping="part",
    )
    fmt = MotionTextFormatter.from_vgmt_config(cfg)
    assert fmt.codes_per_step == cfg.num_tokens_per_step == len(cfg.part_names)
    codes = torch.randint(0, 8, (3, fmt.codes_per_step))
    assert torch.equal(fmt.parse(fmt.format(codes)), codes)


@pytest.mark.parametrize(
    "mutate, reason",
    [
        (lambda t: t[: -len("<skel_end>")], "missing_end"),  # truncated
        (lambda t: t[: len(t) // 2], "missing_end"),  # truncated mid-frame
        (lambda t: t.replace(" left_arm: ", " ", 1), "wrong_count"),  # part label missing
        (lambda t: t.replace(" left_arm: <skel_3>", " left_arm: ", 1), "wrong_count"),  # a code missing
        (lambda t: t.replace("right_leg", "tail", 1), "unknown_part"),
        (lambda t: t.replace(" right_arm: ", " right_leg: ", 1), "missing_part"),  # parts out of order
        (lambda t: t.replace("<skel_3>", "<skel_99>", 1), "code_out_of_range"),
        (lambda t: t.replace("<skel_3>", "<skel_3>banana", 1), "unknown_token"),
        (lambda t: t.replace("Frame 2", "Frame 3"), "bad_frame"),
        (lambda t: t + " trailing", "extra_text"),
        (lambda t: "Sure! " + t, "extra_text"),
        (lambda t: t.replace("<skel_start>", ""), "missing_start"),
    ],
)
def test_strict_parser_rejects_malformed(mutate, reason):
    fmt = MotionTextFormatter(
        16, [("torso", [0, 1]), ("left_arm", [2]), ("right_arm", [3]), ("right_leg", [4])]
    )
    codes = torch.tensor([[1, 2, 3, 4, 5], [3, 3, 3, 3, 3]])
    text = fmt.format(codes)
    bad = mutate(text)
    assert bad != text
    with pytest.raises(MotionParseError) as err:
        fmt.parse(bad)
    assert err.value.reason == reason
    res = fmt.try_parse(bad)
    assert not res.ok and res.codes is None and res.error.reason == reason


def test_short_output_is_a_failure_with_expected_length():
    fmt = MotionTextFormatter(8, [("torso", [0]), ("legs", [1])])
    text = fmt.format(torch.zeros(2, 2, dtype=torch.long))
    assert fmt.try_parse(text, num_steps=2).ok
    assert fmt.try_parse(text, num_steps=3).error.reason == "wrong_length"


def test_format_rejects_bad_codes():
    fmt = MotionTextFormatter(8, [("torso", [0]), ("legs", [1])])
    with pytest.raises(hs.SkeletonInputError):
        fmt.format(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(hs.SkeletonInputError):
        fmt.format(torch.full((2, 2), 8))


# ---------------------------------------------------------------------- processor
def test_video_patches_match_the_image_processor_on_a_still_video(tiny):
    _, proc = tiny
    frame = np.random.default_rng(4).integers(0, 255, (56, 84, 3), dtype=np.uint8)
    still = proc(
        text=[proc.chat_prompt("<|vision_start|><|video_pad|><|vision_end|>hi")],
        videos=[np.stack([frame, frame])],
    )
    image = proc.image_processor(images=[frame], return_tensors="pt")
    torch.testing.assert_close(still["pixel_values_videos"], image["pixel_values"])
    assert still["video_grid_thw"].tolist() == image["image_grid_thw"].tolist()
    n_tokens = int(image["image_grid_thw"].prod()) // 4
    assert int((still["input_ids"] == proc.video_token_id).sum()) == n_tokens
    assert int((still["mm_token_type_ids"] == 2).sum()) == n_tokens


def test_video_patches_pair_consecutive_frames(tiny):
    _, proc = tiny
    rng = np.random.default_rng(5)
    frames = rng.integers(0, 255, (4, 56, 56, 3), dtype=np.uint8)
    out = proc(text=["<|video_pad|>"], videos=[frames])["pixel_values_videos"].view(2, 16, 3, 2, 14 * 14)
    single = [
        proc.image_processor(images=[f], return_tensors="pt")["pixel_values"].view(16, 3, 2, 196)[:, :, 0]
        for f in frames
    ]
    for t in range(2):
        for k in range(2):
            torch.testing.assert_close(out[t, :, :, k], single[2 * t + k])


def test_processor_errors(tiny):
    _, proc = tiny
    with pytest.raises(hs.SkeletonInputError, match="placeholders"):
        proc(text=["no placeholder"], videos=[np.zeros((2, 56, 56, 3), np.uint8)])
    with pytest.raises(hs.SkeletonInputError, match="keypoints_2d"):
        proc(
            text=["<|video_pad|>"],
            videos=[np.zeros((2, 56, 56, 3), np.uint8)],
            keypoints_2d=np.zeros((2, 2, 17)),
        )
    with pytest.raises(hs.SkeletonInputError, match="task"):
        proc.task_prompt("dance", num_steps=2)
