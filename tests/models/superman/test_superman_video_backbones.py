"""Superman that reads video on pretrained backbones (issue 18, the ``estimate`` task):
``SupermanForConditionalGeneration.from_backbones`` composes a LLaVA of a CNN tower (the real ImageNet
EfficientNet-Lite0, ``hs.backbone_path``) and a causal LM (a tiny Llama saved to a temporary folder, standing
in for SmolLM2), with a new projector that trains beside the LoRA and motion rows; the tower and the LLM are
referenced, not saved. Frames are real Pose2Sim video; motion is real CMU."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from superman_fixtures import save_tiny_llama
from transformers import AutoImageProcessor, AutoModelForImageTextToText, AutoProcessor, pipeline

import hf_skeleton as hs
from hf_skeleton.models.efficientnet_lite import EfficientNetLiteModel
from hf_skeleton.testing import tiny_vgmt
from hf_skeleton.training.superman_eval import evaluate_estimate
from hf_skeleton.training.superman_tasks import (
    SupermanCollator,
    SupermanTaskBuilder,
    build_superman_trainer,
    cmu_to_h36m,
    superman_sft_config,
)

FRAMES = 4


@pytest.fixture(scope="module")
def video_frames(data_dir) -> np.ndarray:
    """(4, 120, 68, 3) uint8: real frames of a Pose2Sim camera, every 10th."""
    return hs.video.load_video(data_dir / "pose2sim_demo" / "videos" / "cam01.mp4", size=(120, 68),
                               indices=[0, 10, 20, 30])


@pytest.fixture(scope="module")
def motion(cmu_dir) -> torch.Tensor:
    """(4, 17, 3) metres: a real CMU walk."""
    return torch.from_numpy(cmu_to_h36m(hs.load_skeleton(cmu_dir / "02_01.bvh")).positions[:16:4, 0])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    folder = save_tiny_llama(tmp_path_factory.mktemp("llama") / "llama", tied=True)
    torch.manual_seed(0)
    model, proc = hs.SupermanForConditionalGeneration.from_backbones("efficientnet-lite0", str(folder), tiny_vgmt())
    return model, proc, folder


def test_composes_a_llava_whose_tower_is_the_pretrained_one(built, video_frames, motion):
    model, proc, _ = built
    vlm = model.model.vlm
    assert type(vlm).__name__ == "LlavaModel" and proc.frame_tokens == 4
    assert model.config.vlm_config.image_token_index == proc.image_token_id
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any(".multi_modal_projector." in n for n in trainable)
    assert all("lora_" in n or n.endswith(".motion_rows") or ".multi_modal_projector." in n for n in trainable)
    assert not any("vision_tower" in n for n in trainable)

    ex = SupermanTaskBuilder(model, proc).estimate(video_frames, motion)
    batch = SupermanCollator(proc)([ex])
    assert batch["pixel_values"].shape == (FRAMES, 3, 224, 224)
    image_positions = batch["input_ids"][0] == proc.image_token_id
    assert int(image_positions.sum()) == FRAMES * 4 and (batch["labels"][0][image_positions] == -100).all()
    # peers: the backbone's own image processor and the backbone's own network, loaded on their own
    own = AutoImageProcessor.from_pretrained(hs.backbone_path("efficientnet-lite0"))
    expected_pixels = own(images=list(video_frames), return_tensors="pt")["pixel_values"]
    torch.testing.assert_close(batch["pixel_values"], expected_pixels, rtol=0, atol=0)
    tower = EfficientNetLiteModel.from_pretrained(hs.backbone_path("efficientnet-lite0"), token_grid=2).eval()
    model.eval()
    with torch.no_grad():
        tokens = tower(expected_pixels, return_dict=True).hidden_states[-1]  # (T, 4, 1280)
        expected = vlm.multi_modal_projector(tokens).reshape(-1, vlm.config.text_config.hidden_size)
        seen = {}

        def keep(module, args, kwargs):
            seen["embeds"] = kwargs["inputs_embeds"]

        hook = vlm.language_model.register_forward_pre_hook(keep, with_kwargs=True)
        model(**batch)
        hook.remove()
    torch.testing.assert_close(seen["embeds"][0][image_positions], expected, rtol=1e-5, atol=1e-5)


def test_trains_projector_lora_and_rows_and_ships_only_them(built, video_frames, motion, tmp_path):
    model, proc, _ = built
    builder = SupermanTaskBuilder(model, proc)
    examples = [builder.estimate(video_frames[::s], motion[::s]) for s in (1, 2)]
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    args = superman_sft_config(str(tmp_path / "run"), max_steps=2, per_device_train_batch_size=2, learning_rate=1e-2,
                               logging_steps=1)
    build_superman_trainer(model, proc, examples, args).train()
    changed = {n for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert any(".multi_modal_projector." in n for n in changed) and any(n.endswith(".motion_rows") for n in changed)
    assert all(p.requires_grad for n, p in model.named_parameters() if n in changed)  # the frozen stay frozen

    model.eval()
    model.save_pretrained(tmp_path / "sm")
    proc.save_pretrained(tmp_path / "sm")
    on_disk = json.loads((tmp_path / "sm" / "config.json").read_text())
    assert on_disk["trainable_vlm_modules"] == ["multi_modal_projector"]
    assert [e["backbone"] for e in on_disk["backbone_weights"]][:1] == ["efficientnet-lite0"]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "sm" / "model.safetensors"), "pt") as f:
        saved = list(f.keys())
    assert not any("vision_tower" in k or ("language_model" in k and "lora_" not in k and "motion_rows" not in k)
                   for k in saved), saved
    again = AutoModelForImageTextToText.from_pretrained(tmp_path / "sm").eval()
    proc2 = AutoProcessor.from_pretrained(tmp_path / "sm")
    assert proc2.frame_tokens == 4
    infer = builder.estimate(video_frames)
    enc, enc2 = (p(text=[infer["prompt"]], videos=[infer["video"]]) for p in (proc, proc2))
    assert torch.equal(enc["input_ids"], enc2["input_ids"]) and torch.equal(enc["pixel_values"], enc2["pixel_values"])
    with torch.no_grad():
        assert torch.equal(again(**enc2).logits, model(**enc).logits)
        assert torch.equal(again.generate(**enc2, max_new_tokens=4, do_sample=False),
                           model.generate(**enc, max_new_tokens=4, do_sample=False))
    # the generation pipeline's estimate task runs the folder: frames in, an H36M-17 clip out (constrained
    # decoding always parses)
    seq = pipeline("skeleton-generation", model=str(tmp_path / "sm"))(video_frames, task="estimate", constrained=True)
    assert seq.positions.shape == (FRAMES, 1, 17, 3) and seq.format.name == "h36m17"


def test_estimate_scores_fall_back_to_the_baseline_pose_when_nothing_parses(built, video_frames, motion):
    model, proc, _ = built
    clip = motion.numpy()
    mask = np.ones(clip.shape[:2], bool)
    mask[:, 0] = False  # a joint the ground truth does not measure
    fallback = np.zeros((clip.shape[1], 3), np.float32)  # the box centre for every joint
    model.eval()
    r = evaluate_estimate(model, proc, [(video_frames, clip, mask)], constrained=False, fallback=fallback,
                          keep_motions=True)
    assert r["windows"] == 1 and set(r) >= {"floor_mpjpe_mm", "floor_p_mpjpe_mm", "fallback_mpjpe_mm"}
    lo, hi = clip.reshape(-1, 3).min(0), clip.reshape(-1, 3).max(0)
    centre = (lo + hi) / 2  # the box's centre: what the fallback maps back to
    expected = 1000 * np.linalg.norm(clip[:, 1:] - centre, axis=-1).mean()
    assert r["fallback_mpjpe_mm"] == pytest.approx(expected, abs=0.1)
    if r["parse_failure_rate"] == 1.0:  # an untrained model: its answers are the fallback's
        assert r["strict_mpjpe_mm"] == r["fallback_mpjpe_mm"] and "parsed_mpjpe_mm" not in r
    else:
        assert "parsed_mpjpe_mm" in r
    assert r["motions"][0].shape == clip.shape


def test_refuses_a_mismatched_processor_and_qwen_video_inputs(built, video_frames):
    model, proc, llama = built
    with pytest.raises(hs.SkeletonInputError, match="frame_tokens"):
        hs.SupermanForConditionalGeneration.from_backbones("efficientnet-lite0", str(llama), tiny_vgmt(), proc,
                                                           token_grid=3)
    with pytest.raises(hs.SkeletonInputError, match="pixel_values_videos"):
        model(input_ids=torch.tensor([[1, 2]]), pixel_values_videos=torch.zeros(4, 3))
    with pytest.raises(hs.SkeletonInputError, match="frame_tokens"):
        type(proc)(proc.image_processor, proc.tokenizer, motion_format=proc.motion_format, frame_tokens=0)
