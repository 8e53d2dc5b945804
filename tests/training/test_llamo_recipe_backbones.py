"""The LLaMo recipe's builder on the offline backbones: EfficientNet-Lite0 as the video tower, by name."""

from __future__ import annotations

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
