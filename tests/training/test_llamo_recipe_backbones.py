"""The LLaMo recipe's builder on the offline backbones: EfficientNet-Lite0 as the video tower, by name."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModel

import hf_skeleton as hs
from hf_skeleton.training import llamo_recipe


def test_efficientnet_lite0_video_tower_by_backbone_name(nucla_dir):
    config = llamo_recipe.LlamoRecipeConfig(text_model="none", vision_model="efficientnet-lite0", hidden=32,
                                            layers=1, frames=8)
    model, proc = llamo_recipe.build(config)
    assert model.config.use_video and model.config.num_video_tokens_per_frame == 4
    assert model.config.backbone_weights == [{"backbone": "efficientnet-lite0", "source": "efficientnet_lite.",
                                              "target": "model.vision_tower."}]
    reference = AutoModel.from_pretrained(hs.backbone_path("efficientnet-lite0"))
    ours = model.model.vision_tower.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in reference.state_dict().items())  # ImageNet weights, not random
    frames = torch.randint(0, 255, (8, 96, 128, 3), dtype=torch.uint8).numpy()
    batch = proc(skeletons=[hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")], text=["Describe the motion."],
                 videos=[frames])
    assert batch["pixel_values_videos"].shape == (1, 8, 3, 224, 224)
    assert float(batch["pixel_values_videos"].min()) >= -1.0  # the backbone's own [-1, 1] preprocessing
    with torch.no_grad():
        out = model.eval()(**batch)
    assert out.video_hidden_states.shape[1] == 32 and torch.isfinite(out.logits).all()


@pytest.mark.parametrize("whole", [True, False], ids=["clip-dual-encoder", "clip-vision-model"])
def test_clip_video_tower_folder_loads_its_weights(nucla_dir, tmp_path, whole):
    """``--vision-model <CLIP folder>``: the tower holds the checkpoint's weights (it used to keep only the
    config, with random weights), takes the folder's image processor, and a saved LLaMo folder reloads them."""
    from transformers import (
        AutoModelForImageTextToText,
        CLIPConfig,
        CLIPImageProcessor,
        CLIPModel,
        CLIPVisionConfig,
        CLIPVisionModel,
    )

    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=56, patch_size=14)
    torch.manual_seed(0)
    if whole:
        source = CLIPModel(CLIPConfig(vision_config=vision.to_dict(),
                                      text_config={"hidden_size": 32, "intermediate_size": 64,
                                                   "num_hidden_layers": 1, "num_attention_heads": 2}))
    else:
        source = CLIPVisionModel(vision)
    source.save_pretrained(tmp_path / "clip")
    CLIPImageProcessor(size={"shortest_edge": 56}, crop_size={"height": 56, "width": 56}).save_pretrained(
        tmp_path / "clip")
    video_frames = 8 if whole else 3  # --video-frames: the config, the processor and the tokens follow
    config = llamo_recipe.LlamoRecipeConfig(text_model="none", vision_model=str(tmp_path / "clip"), hidden=32,
                                            layers=1, frames=8, video_frames=video_frames)
    model, proc = llamo_recipe.build(config)
    assert model.config.num_video_frames == proc.num_video_frames == video_frames
    expected = {k.removeprefix("vision_model."): v for k, v in source.state_dict().items()
                if k.startswith("vision_model.") or not whole}
    ours = model.model.vision_tower.state_dict()
    assert set(expected) <= set(ours) and all(torch.equal(ours[k], v) for k, v in expected.items())
    frames = torch.randint(0, 255, (4, 96, 128, 3), dtype=torch.uint8).numpy()
    batch = proc(skeletons=[hs.load_skeleton(nucla_dir / "a04_s01_e00_v01.json")], text=["Describe the motion."],
                 videos=[frames])
    assert batch["pixel_values_videos"].shape == (1, video_frames, 3, 56, 56)  # the folder's own processor
    assert int((batch["input_ids"] == model.config.video_token_id).sum()) == video_frames * 16  # (56 / 14)^2
    model.save_pretrained(tmp_path / "llamo")
    proc.save_pretrained(tmp_path / "llamo")
    again = AutoModelForImageTextToText.from_pretrained(tmp_path / "llamo")
    reloaded = again.model.vision_tower.state_dict()
    assert all(torch.equal(reloaded[k], v) for k, v in expected.items())
    with torch.no_grad():
        torch.testing.assert_close(again.eval()(**batch).logits, model.eval()(**batch).logits)
