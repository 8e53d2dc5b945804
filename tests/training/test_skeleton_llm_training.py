"""SkeletonLLM training recipes: stage freezing, LoRA placement, example builders, data tables, and a
real-data SFTTrainer smoke test."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton import SkeletonInputError
from hf_skeleton.data import action_labels, confusable_pairs, list_open_vocab_splits, open_vocab_split
from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config
from hf_skeleton.training.collators import SkeletonSFTCollator
from hf_skeleton.training.confusable_pairs import (
    label_similarity,
    multiple_choice_examples,
    named_pairs,
    pairs_from_confusion,
    pairs_from_label_similarity,
    recognition_examples,
    yes_no_examples,
)
from hf_skeleton.training.rationales import (
    TEACHER_PROMPT,
    RationaleBuilder,
    kinematic_teacher,
    rationale_examples,
)
from hf_skeleton.training.skeleton_llm_stages import (
    STAGES,
    prepare_model_for_stage,
    stage_config,
    stage_losses,
    train_stage,
)

NUCLA = action_labels("nucla")


@pytest.fixture(scope="module")
def tokenizer():
    return build_tiny_tokenizer(extra_texts=list(NUCLA.values()),
                                extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>",))


def make(tokenizer, seed=0):
    torch.manual_seed(seed)
    config = hs.SkeletonLLMConfig(hs.DrActionConfig(format="kinect_v1", num_frames=2, image_size=56,
                                                    backend="torch"), tiny_qwen2_5_vl_config(tokenizer))
    return hs.SkeletonLLMForConditionalGeneration(config), hs.SkeletonLLMProcessor.from_model_config(config, tokenizer)


@pytest.fixture(scope="module")
def nucla_clips(nucla_dir):
    files = sorted(nucla_dir.glob("*_v01.json"))[::70][:8]
    clips = [hs.load_skeleton(f) for f in files]
    return clips, [c.meta["label_name"] for c in clips]


# ---------------------------------------------------------------------- tables
def test_shipped_tables():
    assert len(action_labels("ntu60")) == 60 and len(NUCLA) == 10
    seen, unseen = open_vocab_split("ntu60", "55/5")
    assert unseen == [11, 12, 20, 27, 57] and len(seen) == 55
    assert [action_labels("ntu60")[i] for i in unseen][:2] == ["reading", "writing"]
    for name in list_open_vocab_splits("ntu60"):
        seen, unseen = open_vocab_split("ntu60", name)
        assert f"{len(seen)}/{len(unseen)}" == name and not set(seen) & set(unseen)
    for name in list_open_vocab_splits("nucla"):
        seen, unseen = open_vocab_split("nucla", name)
        assert len(seen) == 8 and len(unseen) == 2
    # the generated splits are what their stored seed gives
    table = json.loads((Path(hs.data.__file__).parent / "open_vocab_splits.json").read_text())
    for name, entry in table["ntu60"].items():
        if "seed" in entry:
            n = len(entry["unseen"])
            again = sorted(int(x) for x in np.random.default_rng(entry["seed"]).choice(np.arange(1, 61), n, replace=False))
            assert again == entry["unseen"], name
    assert ("sit down", "stand up") in named_pairs(confusable_pairs("nucla"), NUCLA)
    assert len(confusable_pairs("ntu60")) >= 40
    with pytest.raises(SkeletonInputError, match="dataset"):
        action_labels("kinetics")
    with pytest.raises(SkeletonInputError, match="split"):
        open_vocab_split("ntu60", "50/10")


def test_pair_builders():
    assert label_similarity("pick up with one hand", "pick up with two hands") > label_similarity(
        "pick up with one hand", "sit down")
    pairs = pairs_from_label_similarity(list(NUCLA.values()))
    assert ("pick up with one hand", "pick up with two hands") in pairs
    conf = np.eye(3) * 10
    conf[0, 2], conf[2, 0], conf[1, 0] = 4, 3, 1
    assert pairs_from_confusion(conf, ["a", "b", "c"], top_k=2) == [("a", "c"), ("a", "b")]


def test_stage_examples(nucla_clips):
    clips, labels = nucla_clips
    mc = multiple_choice_examples(clips, labels, list(NUCLA.values()), seed=1)
    assert [ex["answer"] for ex in mc] == labels
    assert all(ex["answer"] in ex["prompt"] and ex["prompt"].count(",") == 9 for ex in mc)
    short = multiple_choice_examples(clips, labels, list(NUCLA.values()), num_options=4)
    assert [ex["answer"] for ex in short] == labels
    assert all(ex["prompt"].count(",") == 3 and ex["answer"] in ex["prompt"] for ex in short)
    yn = yes_no_examples(clips, labels, named_pairs(confusable_pairs("nucla"), NUCLA))
    assert [ex["answer"] for ex in yn].count("yes") == [ex["answer"] for ex in yn].count("no") > 0
    for yes, no in zip(yn[::2], yn[1::2]):
        assert yes["skeleton"] is no["skeleton"] and yes["prompt"] != no["prompt"]
    assert [ex["answer"] for ex in recognition_examples(clips, labels)] == labels
    with pytest.raises(SkeletonInputError):
        multiple_choice_examples(clips, labels, ["walk around"])


def test_rationale_builder_caches_jsonl(nucla_clips, tmp_path):
    clips, labels = nucla_clips
    calls = []

    def teacher(clip, label):
        calls.append(label)
        return kinematic_teacher(clip, label)

    cache = tmp_path / "rationales.jsonl"
    first = RationaleBuilder(teacher, cache=cache)(clips, labels)
    assert len(calls) == len(clips) and all(label in r for r, label in zip(first, labels))
    lines = [json.loads(line) for line in cache.read_text().splitlines()]
    assert [entry["rationale"] for entry in lines] == first
    again = RationaleBuilder(teacher, cache=cache)(clips, labels)  # served from the cache
    assert again == first and len(calls) == len(clips)
    examples = rationale_examples(clips, labels, first)
    assert examples[0]["answer"].endswith(f"So the action is {labels[0]}.")
    cache.write_text("not json\n")
    with pytest.raises(hs.SkeletonFileError, match="line 1"):
        RationaleBuilder(teacher, cache=cache)


def test_model_teacher(tokenizer, nucla_clips):
    from transformers import AutoModelForCausalLM

    from hf_skeleton.testing import tiny_text_config

    torch.manual_seed(0)
    lm = AutoModelForCausalLM.from_config(tiny_text_config(tokenizer)).eval()
    with torch.no_grad():  # a wide spread, so that greedy tokens depend on the prompt
        for p in lm.parameters():
            if p.ndim == 2:
                p.normal_(0.0, 0.2)
    clips, labels = nucla_clips
    out = RationaleBuilder(lm, tokenizer=tokenizer, max_new_tokens=5)(clips[:2], labels[:2])
    assert len(out) == 2 and labels[0] != labels[1] and out[0] != out[1]
    for rationale, label in zip(out, labels[:2]):  # the LM's greedy answer to the chat-templated prompt
        message = {"role": "user", "content": TEACHER_PROMPT.format(label=label)}
        prompt = tokenizer.apply_chat_template([message], tokenize=False, add_generation_prompt=True)
        enc = tokenizer(prompt, return_tensors="pt")
        new = lm.generate(**enc, max_new_tokens=5, do_sample=False)[0, enc["input_ids"].shape[1]:]
        assert rationale == tokenizer.decode(new, skip_special_tokens=True).strip()
    with pytest.raises(SkeletonInputError, match="tokenizer"):
        RationaleBuilder(lm)


# ---------------------------------------------------------------------- stages
@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_trains_exactly_its_parameters(tokenizer, stage):
    model, _ = make(tokenizer)
    wrapped, counts = prepare_model_for_stage(model, stage)
    spec = STAGES[stage]
    assert hasattr(wrapped, "peft_config") == spec.lora
    base = wrapped.get_base_model() if spec.lora else wrapped
    for group, params in base.parameter_groups().items():
        for name, p in params:
            if "lora_" in name:
                assert p.requires_grad and ("q_proj" in name or "v_proj" in name) and "language_model" in name
            else:
                assert p.requires_grad == (group in spec.train), (stage, name)
    assert (counts["lora"] > 0) == spec.lora
    if spec.lora:
        lora_a = [p for n, p in base.named_parameters() if "lora_A" in n]
        assert lora_a and lora_a[0].shape[0] == 32  # r = 32


def test_stage_config_defaults(tmp_path):
    cfg = stage_config(4, str(tmp_path))
    assert (cfg.learning_rate, cfg.weight_decay, cfg.warmup_steps) == (2e-5, 0.05, 0.03)
    assert getattr(cfg.lr_scheduler_type, "value", cfg.lr_scheduler_type) == "cosine" and cfg.num_train_epochs == 3
    assert cfg.remove_unused_columns is False and cfg.dataset_kwargs == {"skip_prepare_dataset": True}
    assert not cfg.bf16 and not cfg.gradient_checkpointing  # CPU


@pytest.mark.slow
def test_sft_trainer_stage1_smoke_on_real_clips(tokenizer, nucla_clips, tmp_path):
    """Stage 1 through trl.SFTTrainer on 8 real N-UCLA clips: the VLM stays frozen, the renderer and
    projector move, and the language loss falls (deterministic frame sampling, so the logged losses
    are comparable step to step)."""
    clips, labels = nucla_clips
    torch.manual_seed(0)
    config = hs.SkeletonLLMConfig(hs.DrActionConfig(format="kinect_v1", num_frames=2, image_size=56, backend="torch",
                                                    train_sampling="uniform"), tiny_qwen2_5_vl_config(tokenizer))
    model = hs.SkeletonLLMForConditionalGeneration(config)
    proc = hs.SkeletonLLMProcessor.from_model_config(config, tokenizer)
    examples = multiple_choice_examples(clips, labels, list(NUCLA.values()))
    batch = SkeletonSFTCollator(proc)(examples)

    def eval_loss():
        model.eval()
        with torch.no_grad():
            return model(**batch).loss.item()

    before_loss = eval_loss()
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    model, trainer = train_stage(model, proc, examples, 1, str(tmp_path), learning_rate=1e-2, num_train_epochs=8,
                                 per_device_train_batch_size=8, warmup_steps=0, lr_scheduler_type="constant")
    losses = stage_losses(trainer)
    assert len(losses) == 8 and losses[-1] < losses[0] - 0.01
    assert eval_loss() < before_loss - 0.01
    groups = {n: g for g, params in model.parameter_groups().items() for n, _ in params}
    changed = {groups[n] for n, p in model.named_parameters() if not torch.equal(p, before[n])}
    assert changed == {"renderer", "projector"}
