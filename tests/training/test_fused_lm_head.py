"""TRL's SFTTrainer scores our models through its fused LM head: the (B, L, vocab) logits are never built.

At Qwen2.5-VL size full logits cost ~6 GB per clip (issue 19). ``trl.SFTTrainer`` (1.16) patches the
model's forward with ``fused_lm_head=True``: it runs ``model.base_model`` and applies the output
embedding's weight only at label positions. These tests pin that for SkeletonLLM (with and without
LoRA), LLaMo and Superman (LoRA with ``lm_head`` in ``modules_to_save``): the head module's own forward is
never called during training, token accuracy is logged, and the fused loss equals the model's own loss.
"""

from __future__ import annotations

import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.testing import tiny_llamo, tiny_skeleton_llm, tiny_superman
from hf_skeleton.training.superman_tasks import cmu_to_h36m


class HeadCalls:
    """Counts calls of the output head's forward (the full-logits path) on ``model``."""

    def __init__(self, model):
        self.head = model.get_output_embeddings()
        self.calls = 0
        self._forward = self.head.forward

        def counted(*args, **kwargs):
            self.calls += 1
            return self._forward(*args, **kwargs)

        self.head.forward = counted

    def sees_a_plain_forward(self, model, batch) -> bool:
        """The counter works: the model's own forward goes through the head (then the count is reset)."""
        with torch.no_grad():
            model(**batch)
        seen, self.calls = self.calls == 1, 0
        return seen

    def restore(self):
        self.head.forward = self._forward


def _check(trainer, model, batch, calls):
    logged = [h for h in trainer.state.log_history if "loss" in h]
    assert trainer.state.global_step == 2 and calls.calls == 0, "the trainer built full logits"
    assert logged and all("mean_token_accuracy" in h and 0 <= h["mean_token_accuracy"] <= 1 for h in logged)
    calls.restore()
    model.eval()
    with torch.no_grad():
        own = model(**batch).loss
        fused = model(**batch, fused_lm_head=True)  # the forward the trainer patched in
    mask = fused.label_mask
    torch.testing.assert_close(-(fused.log_probs * mask).sum() / mask.sum(), own, rtol=1e-4, atol=1e-5)


@pytest.fixture(scope="module")
def nucla_clips(nucla_dir):
    clips = [hs.load_skeleton(f) for f in sorted(nucla_dir.glob("a0[45]_s0[12]_e00_v01.json"))]
    return clips, [c.meta["label_name"] for c in clips]


@pytest.mark.parametrize("stage", [1, 3])
def test_skeleton_llm_stages(nucla_clips, tmp_path, stage):
    from hf_skeleton.training.collators import SkeletonSFTCollator
    from hf_skeleton.training.confusable_pairs import recognition_examples
    from hf_skeleton.training.skeleton_llm_stages import lora_config, train_stage

    torch.manual_seed(0)
    model, proc = tiny_skeleton_llm("qwen2_5_vl", format="kinect_v1", num_frames=2, image_size=56)
    examples = recognition_examples(*nucla_clips)
    calls = HeadCalls(model)
    assert calls.sees_a_plain_forward(model, SkeletonSFTCollator(proc)(examples))
    model, trainer = train_stage(model, proc, examples, stage, str(tmp_path), lora=lora_config(r=4, alpha=8),
                                 max_steps=2, logging_steps=1, per_device_train_batch_size=2)
    _check(trainer, model, SkeletonSFTCollator(proc)(examples), calls)


def test_llamo_stage2_with_lora(nucla_clips, tmp_path):
    from hf_skeleton.training.llamo_stages import (
        LlamoSFTCollator,
        build_examples,
        to_sft_dataset,
        train_stage,
    )

    torch.manual_seed(0)
    model, proc = tiny_llamo(use_video=False, max_motion_frames=16, motion_temporal_stride=4)
    clips, labels = nucla_clips
    data, fmt = to_sft_dataset(build_examples(clips, "recognition", labels=labels, seed=0))
    calls = HeadCalls(model)
    model, trainer = train_stage(model, proc, (data, fmt), 2, str(tmp_path), lora=True, max_steps=2,
                                 logging_steps=1, per_device_train_batch_size=2)
    collator = LlamoSFTCollator(proc, skeleton_format=fmt.name if hasattr(fmt, "name") else fmt)
    _check(trainer, model, collator([data[i] for i in range(len(data))]), calls)


def test_superman_with_lora_saving_the_head(cmu_dir, tmp_path):
    from hf_skeleton.training.superman_tasks import (
        SupermanCollator,
        SupermanTaskBuilder,
        build_superman_trainer,
        superman_lora_config,
        superman_sft_config,
    )

    torch.manual_seed(0)
    model, proc = tiny_superman()
    seq = cmu_to_h36m(hs.load_skeleton(cmu_dir / "02_01.bvh"))
    seq = seq.resample(int(seq.num_frames * 20 / seq.fps))
    clips = [seq.positions[s:s + 16, 0] for s in range(0, 48, 16)]
    builder = SupermanTaskBuilder(model, proc)
    examples = [builder.predict(c[:8], c[8:]) for c in clips]
    trainer = build_superman_trainer(model, proc, examples,
                                     superman_sft_config(str(tmp_path), max_steps=2, logging_steps=1,
                                                         per_device_train_batch_size=2, disable_tqdm=True),
                                     peft_config=superman_lora_config(model))
    calls = HeadCalls(trainer.model)
    trainer.train()
    _check(trainer, trainer.model, SupermanCollator(proc)(examples), calls)
