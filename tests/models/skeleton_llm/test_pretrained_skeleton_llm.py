"""SkeletonLLM on a VLM composed from two pretrained backbones that install offline (issue 14):
DrAction -> EfficientNet-Lite0 (ImageNet) -> projector -> SmolLM2-135M-Instruct.

Real backbones (``hs.backbone_path``, built once into the cache) and real N-UCLA clips. The model is built
once per module; tests that train only touch the renderer and projector, so later equality checks on the
tower and the language model still hold.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skeleton_llm_fixtures import assert_generate_equals_greedy, rendered_like
from transformers import (
    AutoImageProcessor,
    AutoModel,
    AutoModelForCausalLM,
    AutoModelForImageClassification,
    AutoModelForImageTextToText,
    AutoProcessor,
    pipeline,
)

import hf_skeleton as hs
from hf_skeleton import SkeletonInputError
from hf_skeleton.evaluation.recognition import score_candidate_labels
from hf_skeleton.models.efficientnet_lite import EfficientNetLiteConfig, EfficientNetLiteModel
from hf_skeleton.models.skeleton_llm.image_adapters import ImageAdapter, ImageAdapterConfig
from hf_skeleton.processing.collators import chat_prompt
from hf_skeleton.training.collators import SkeletonSFTCollator

QUESTION = "What action is the person doing? Answer with the action name."
IMAGENET_MILITARY_UNIFORM = 652
NUM_FRAMES, RENDER_SIZE, TOKEN_GRID = 8, 112, 2


pytestmark = pytest.mark.usefixtures("two_torch_threads")  # large models: both cores for this module


@pytest.fixture(scope="module")
def vision_path() -> str:
    return hs.backbone_path("efficientnet-lite0")


@pytest.fixture(scope="module")
def text_path() -> str:
    return hs.backbone_path("smollm2-135m-instruct")


@pytest.fixture(scope="module")
def built(vision_path, text_path):
    """(model, processor): 8 frames rendered at 112 px, read by the tower at 224 px as its processor does."""
    torch.manual_seed(0)
    draction = hs.DrActionConfig(format="kinect_v1", num_frames=NUM_FRAMES, image_size=RENDER_SIZE, backend="torch")
    return hs.SkeletonLLMForConditionalGeneration.from_backbones(vision_path, text_path, draction,
                                                                 token_grid=TOKEN_GRID)


@pytest.fixture(scope="module")
def nucla_clips(nucla_dir):
    """4 real view-1 clips of 4 different actions."""
    files = [nucla_dir / f"{a}_s01_e00_v01.json" for a in ("a01", "a04", "a05", "a12")]
    return [hs.load_skeleton(f) for f in files]


def _examples(clips):
    return [{"skeleton": c, "prompt": QUESTION, "answer": c.meta["label_name"]} for c in clips]


@pytest.fixture(scope="module")
def grace_hopper():
    import matplotlib
    from PIL import Image

    return Image.open(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg").convert("RGB")


# ------------------------------------------------------------------------------------ the EfficientNet option
def test_efficientnet_token_grid_option():
    torch.manual_seed(0)
    plain = EfficientNetLiteModel(EfficientNetLiteConfig()).eval()
    x = torch.rand(2, 3, 96, 64) * 2 - 1
    with torch.no_grad():
        out = plain(x)
    assert out.hidden_states is None and plain.config.token_grid is None  # the default is unchanged
    tokens_cfg = EfficientNetLiteConfig(token_grid=2)
    assert tokens_cfg.num_image_tokens == 4 and tokens_cfg.hidden_size == 1280
    tower = EfficientNetLiteModel(tokens_cfg).eval()
    tower.load_state_dict(plain.state_dict())
    with torch.no_grad():
        got = tower(x, return_dict=True)
        full = tower(x, output_hidden_states=-1, return_dict=True)  # what LlavaModel passes
    assert got.hidden_states[-1].shape == (2, 4, 1280) and len(got.hidden_states) == 1
    torch.testing.assert_close(got.last_hidden_state, out.last_hidden_state, rtol=0, atol=0)
    # (3, 2) map -> 2 x 2 tokens, row-major: token 0 averages rows 0-1 / column 0 of the map
    assert got.last_hidden_state.shape[-2:] == (3, 2)
    torch.testing.assert_close(got.hidden_states[-1][:, 0], got.last_hidden_state[:, :, 0:2, 0].mean(-1))
    assert len(full.hidden_states) == 9 and torch.equal(full.hidden_states[-1], got.hidden_states[-1])
    for bad in (0, 1.5, True):
        with pytest.raises(SkeletonInputError, match="token_grid"):
            EfficientNetLiteConfig(token_grid=bad)


def test_frozen_eval_keeps_frozen_batchnorm_in_inference_mode():
    torch.manual_seed(0)
    tower = EfficientNetLiteModel(EfficientNetLiteConfig(frozen_eval=True))
    tower.requires_grad_(False)
    tower.encoder.top_bn.requires_grad_(True)  # one trainable BatchNorm
    tower.train()
    assert tower.training and not tower.embeddings.batchnorm.training and not tower.encoder.blocks[3].training
    assert tower.encoder.top_bn.training
    before = tower.embeddings.batchnorm.running_mean.clone()
    tower(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert torch.equal(tower.embeddings.batchnorm.running_mean, before)
    default = EfficientNetLiteModel(EfficientNetLiteConfig()).requires_grad_(False).train()
    assert default.embeddings.batchnorm.training  # without the option: today's behaviour


# ------------------------------------------------------------------------------------ image adapter
def test_adapter_equals_the_backbones_image_processor(vision_path, built, grace_hopper):
    processor = AutoImageProcessor.from_pretrained(vision_path)
    assert type(processor).__name__.startswith("ViTImageProcessor")
    config = ImageAdapterConfig.from_image_processor(processor)
    model, _ = built
    assert model.config.adapter_config() == config  # the model took the backbone's own preprocessing
    assert config.size == (224, 224) and config.image_mean == config.image_std == (0.5, 0.5, 0.5)
    adapter = ImageAdapter(config)

    level = 1 / 255 / 0.5  # one uint8 level in [-1, 1] units

    def diff(frames_u8):  # |adapter - processor| in uint8 levels
        ref = processor([f for f in frames_u8], return_tensors="pt")["pixel_values"]
        x = torch.from_numpy(np.stack(frames_u8).copy()).permute(0, 3, 1, 2).float() / 255
        out = adapter(x)["pixel_values"]
        assert out.shape == ref.shape == (len(frames_u8), 3, 224, 224)
        return (out.double() - ref.double()).abs() / level

    assert diff(rendered_like(2, 224)).max() <= 1e-5 / level  # frames at the tower's size: exact
    assert diff(rendered_like(2, RENDER_SIZE, seed=1)).max() <= 3  # the 112 px renders, upsampled (PIL rounds uint8)
    # a real, non-square 600 x 512 photo, downsampled with a changed aspect: PIL's two uint8-rounded passes
    # differ from our float filter by a few levels at sharp edges, by a fraction of a level on average
    photo = diff([np.asarray(grace_hopper)])
    assert photo.mean() <= 0.5 and (photo > 1).double().mean() <= 0.005 and photo.max() <= 6
    from transformers import ViTImageProcessorPil

    with pytest.raises(SkeletonInputError, match="resample"):  # ViT's default bilinear is not our filter
        ImageAdapterConfig.from_image_processor(ViTImageProcessorPil())


# ------------------------------------------------------------------------------------ building
def test_built_from_the_two_backbones(built, vision_path, text_path, grace_hopper):
    model, processor = built
    cfg = model.config
    assert cfg.family == "siglip" and cfg.vlm_config.model_type == "llava"
    vision = cfg.vlm_config.vision_config
    assert vision.model_type == "efficientnet_lite" and vision.token_grid == TOKEN_GRID and vision.frozen_eval
    assert "id2label" not in vision.to_diff_dict()  # the classifier's labels are not carried along
    assert cfg.visual_tokens_per_frame() == TOKEN_GRID ** 2 and cfg.num_visual_tokens() == NUM_FRAMES * 4
    assert processor.num_visual_tokens() == 32 and processor.expansion() == "<image>" * 32
    tok = processor.tokenizer
    assert cfg.image_token_id == tok.convert_tokens_to_ids("<image>") and tok.chat_template

    # vision tower: the standalone backbone's features and, through its classifier, its ImageNet logits
    pixels = AutoImageProcessor.from_pretrained(vision_path)(grace_hopper, return_tensors="pt")["pixel_values"]
    tower = model.model.vlm.vision_tower.eval()
    classifier = AutoModelForImageClassification.from_pretrained(vision_path).eval()
    with torch.no_grad():
        ours = tower(pixels, output_hidden_states=-1, return_dict=True)
        ref = AutoModel.from_pretrained(vision_path).eval()(pixels)
        logits = classifier(pixels).logits
    assert torch.equal(ours.last_hidden_state, ref.last_hidden_state)
    torch.testing.assert_close(classifier.classifier(ours.pooler_output), logits, rtol=0, atol=0)
    assert int(logits.argmax(-1)) == IMAGENET_MILITARY_UNIFORM
    torch.testing.assert_close(ours.hidden_states[-1],
                               F.adaptive_avg_pool2d(ref.last_hidden_state, TOKEN_GRID).flatten(2).transpose(1, 2))

    # language model: every pretrained tensor, the head tied to the (resized) embeddings
    lm = AutoModelForCausalLM.from_pretrained(text_path).eval()
    ours_lm = model.model.vlm.language_model.state_dict()
    vocab = lm.config.vocab_size
    for key, value in lm.model.state_dict().items():
        mine = ours_lm[key][:vocab] if key == "embed_tokens.weight" else ours_lm[key]
        assert torch.equal(mine, value), key
    assert ours_lm["embed_tokens.weight"].shape[0] == len(tok) == vocab + 2
    assert model.lm_head.weight is model.model.vlm.language_model.embed_tokens.weight
    ids = tok(chat_prompt(processor, "Name a colour.").replace("<skeleton>\n", ""), return_tensors="pt")
    with torch.no_grad():
        torch.testing.assert_close(model.eval()(**ids).logits[..., :vocab], lm(**ids).logits, rtol=1e-5, atol=1e-4)


def test_config_rejects_a_tower_that_drops_tokens(built):
    model, _ = built
    vlm = model.config.vlm_config.to_dict()
    with pytest.raises(SkeletonInputError, match="vision_feature_select_strategy"):
        hs.SkeletonLLMConfig(model.config.draction_config, {**vlm, "vision_feature_select_strategy": "default"})
    no_grid = {**vlm, "vision_config": {**vlm["vision_config"], "token_grid": None}}
    with pytest.raises(SkeletonInputError, match="token_grid"):
        hs.SkeletonLLMConfig(model.config.draction_config, no_grid)


# ------------------------------------------------------------------------------------ stage 1: gradients
def test_stage1_gradients_reach_renderer_and_projector_only(built, nucla_clips):
    model, processor = built
    counts = model.set_trainable(["renderer", "projector"])
    groups = model.parameter_groups()
    names = {g: {n for n, _ in params} for g, params in groups.items()}
    assert names["projector"] == {f"model.vlm.multi_modal_projector.linear_{i}.{w}" for i in (1, 2)
                                  for w in ("weight", "bias")}
    assert names["vision"] and all(n.startswith("model.vlm.vision_tower.") for n in names["vision"])
    assert all(n.startswith("model.renderer.") for n in names["renderer"])
    assert "model.vlm.language_model.embed_tokens.weight" in names["language"]
    assert counts["projector"] == 1280 * 576 + 576 + 576 * 576 + 576 and 3.3e6 < counts["vision"] < 3.4e6
    assert 134e6 < counts["language"] < 135e6

    model.train()
    tower = model.model.vlm.vision_tower
    assert not tower.encoder.top_bn.training  # frozen tower: ImageNet BatchNorm statistics kept
    stats = {k: v.clone() for k, v in tower.state_dict().items() if "running" in k}
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    batch = SkeletonSFTCollator(processor)(_examples(nucla_clips[:2]))
    assert int((batch["input_ids"] == model.config.image_token_id).sum()) == 2 * 32
    model.zero_grad(set_to_none=True)
    out = model(**batch)
    assert torch.isfinite(out.loss) and out.rendered_frames.shape == (2, NUM_FRAMES, 3, RENDER_SIZE, RENDER_SIZE)
    out.loss.backward()
    for group in ("renderer", "projector"):
        grads = [p.grad for _, p in groups[group]]
        assert all(g is not None for g in grads) and sum(float(g.abs().sum()) for g in grads) > 0, group
    assert any(p.grad.abs().sum() > 0 for n, p in groups["renderer"] if ".nfm." in f".{n}")
    assert all(p.grad is None for g in ("vision", "language") for _, p in groups[g])
    torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3).step()
    owner = {n: g for g, params in groups.items() for n, _ in params}
    changed = {owner[n] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"renderer", "projector"}
    assert all(torch.equal(v, tower.state_dict()[k]) for k, v in stats.items())
    model.zero_grad(set_to_none=True)
    model.eval()


# ------------------------------------------------------------------------------------ generation, save, pipeline
def test_generate_equals_greedy_without_cache(built, nucla_clips):
    model, processor = built
    model.eval()
    prompt = chat_prompt(processor, QUESTION)
    inputs = processor(skeletons=nucla_clips[:2], text=[prompt, prompt])
    assert_generate_equals_greedy(model, inputs)


def test_save_reload_bit_exact_and_pipeline_ranks_labels(built, nucla_clips, tmp_path):
    model, processor = built
    model.eval()
    inputs = processor(skeletons=nucla_clips[:1], text=[chat_prompt(processor, QUESTION)])
    with torch.no_grad():
        ref = model(**inputs).logits
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["vlm_config"]["vision_config"]["model_type"] == "efficientnet_lite"
    assert saved["vlm_config"]["vision_config"]["token_grid"] == TOKEN_GRID
    # only what is not the backbones' is shipped; the rest resolves by backbone name on any machine
    assert {e["backbone"] for e in saved["backbone_weights"]} == {"efficientnet-lite0", "smollm2-135m-instruct"}
    from safetensors import safe_open

    with safe_open(str(tmp_path / "model.safetensors"), "pt") as f:
        shipped = set(f.keys())
    assert shipped and all(k.startswith(("model.renderer.", "model.vlm.multi_modal_projector.")) for k in shipped)
    assert (tmp_path / "model.safetensors").stat().st_size < 10e6
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path).eval()
    assert type(loaded) is hs.SkeletonLLMForConditionalGeneration
    assert type(AutoProcessor.from_pretrained(tmp_path)) is hs.SkeletonLLMProcessor
    state, again = model.state_dict(), loaded.state_dict()
    assert state.keys() == again.keys() and all(torch.equal(state[k], again[k]) for k in state)
    with torch.no_grad():
        assert torch.equal(loaded(**inputs).logits, ref)

    labels = ["pick up with one hand", "walk around", "sit down", "carry"]
    pipe = pipeline("skeleton-understanding", model=str(tmp_path))
    result = pipe(nucla_clips[1], candidate_labels=labels)
    assert sorted(r["label"] for r in result) == sorted(labels)
    scores = [r["score"] for r in result]
    assert scores == sorted(scores, reverse=True) and abs(sum(scores) - 1) < 1e-5
    direct = torch.softmax(score_candidate_labels(model, processor, [nucla_clips[1]], QUESTION, labels), -1)[0]
    assert [r["label"] for r in result] == [labels[k] for k in torch.argsort(direct, descending=True).tolist()]
    torch.testing.assert_close(torch.tensor(scores), direct.sort(descending=True).values, rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------------ the stage recipe
@pytest.mark.slow
def test_train_stage1_smoke_on_real_clips(built, nucla_clips, tmp_path):
    from hf_skeleton.training.skeleton_llm_stages import stage_losses, train_stage

    model, processor = built
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    start = time.perf_counter()
    model, trainer = train_stage(model, processor, _examples(nucla_clips), 1, str(tmp_path), max_steps=2,
                                 learning_rate=1e-3)
    per_step = (time.perf_counter() - start) / 2
    print(f"\nstage 1, batch 4 x {NUM_FRAMES} frames: {per_step:.1f} s per step (incl. trainer set-up)")
    losses = stage_losses(trainer)
    assert trainer.state.global_step == 2 and len(losses) == 2 and all(np.isfinite(losses))
    owner = {n: g for g, params in model.parameter_groups().items() for n, _ in params}
    changed = {owner[n] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"renderer", "projector"}


def test_projector_warm_up_separates_real_actions_on_the_imagenet_tower(built, nucla_dir):
    """The recipe's warm-up before stage 1: frozen EfficientNet-Lite0 tokens of DrAction frames ->
    projector -> GRU head. Sit down vs stand up (the same poses, opposite order) needs the frame order."""
    from hf_skeleton.training.projector_warmup import projected_logits, tower_features, warm_up_projector

    model, processor = built
    files = [nucla_dir / f"{a}_s0{s}_e00_v01.json" for a in ("a05", "a06") for s in range(1, 7)]
    clips = [hs.load_skeleton(f) for f in files if f.is_file()]
    labels = [c.meta["label_name"] for c in clips]
    assert set(labels) == {"sit down", "stand up"} and len(clips) >= 10
    tower_before = {n: p.clone() for n, p in model.model.vlm.vision_tower.state_dict().items()}
    feats = tower_features(model, processor, clips)
    assert feats.shape == (len(clips), NUM_FRAMES, TOKEN_GRID ** 2, 1280)
    head = warm_up_projector(model, processor, clips, labels, features=feats, epochs=30, batch_size=4)
    with torch.no_grad():
        pred = projected_logits(model.model.vlm.multi_modal_projector, head, feats).argmax(-1)
    truth = torch.tensor([head.classes.index(y) for y in labels])
    assert (pred == truth).float().mean() >= 0.9  # chance 0.5
    assert all(torch.equal(v, tower_before[n]) for n, v in model.model.vlm.vision_tower.state_dict().items())
