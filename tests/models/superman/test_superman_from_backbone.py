"""Superman built around a downloaded Qwen2.5-VL checkpoint (issue 19): the paper starts from Qwen2.5-VL's
weights, not a random VLM. A tiny saved checkpoint stands in for the download."""

from __future__ import annotations

import pytest
import torch
from transformers import AutoModelForImageTextToText, Qwen2_5_VLForConditionalGeneration

import hf_skeleton as hs
from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config, tiny_vgmt
from hf_skeleton.training.superman_tasks import SupermanCollator, SupermanTaskBuilder, cmu_to_h36m


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("qwen2_5_vl")
    tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS)
    torch.manual_seed(0)
    Qwen2_5_VLForConditionalGeneration(tiny_qwen2_5_vl_config(tok)).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.mark.parametrize("use_maft", [False, True])
def test_adopts_the_checkpoint_and_the_tokenizer(checkpoint, cmu_dir, tmp_path, use_maft):
    reference = Qwen2_5_VLForConditionalGeneration.from_pretrained(checkpoint)
    torch.manual_seed(1)
    vgmt = tiny_vgmt()
    model, proc = hs.SupermanForConditionalGeneration.from_backbone_pretrained(checkpoint, vgmt, use_maft=use_maft)
    assert not any(p.is_meta for p in model.parameters())
    ours = model.model.vlm.state_dict()
    vocab = reference.config.text_config.vocab_size
    for key, value in reference.model.state_dict().items():
        if key.endswith("embed_tokens.weight"):  # grown for the motion tokens: the old rows are kept
            assert torch.equal(ours[key][:vocab], value) and ours[key].shape[0] == len(proc.tokenizer)
        else:
            assert torch.equal(ours[key], value), key
    assert torch.equal(model.lm_head.weight[:vocab], reference.lm_head.weight)
    assert all(torch.equal(model.vgmt.state_dict()[k], v) for k, v in vgmt.state_dict().items())
    assert not any(p.requires_grad for p in model.vgmt.parameters())  # frozen, as the config says
    assert (model.model.maft is not None) == use_maft
    assert model.config.motion_token_offset == proc.tokenizer.convert_tokens_to_ids("<skel_0>")

    seq = cmu_to_h36m(hs.load_skeleton(cmu_dir / "02_01.bvh"))
    motion = torch.from_numpy(seq.positions[:32:2, 0])
    batch = SupermanCollator(proc)([SupermanTaskBuilder(model, proc).predict(motion[:8], motion[8:])])
    model.eval()
    with torch.no_grad():
        out = model(**batch)
    assert torch.isfinite(out.loss)
    model.save_pretrained(tmp_path / "superman")
    again = AutoModelForImageTextToText.from_pretrained(tmp_path / "superman").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(**batch).logits, out.logits)


def test_refuses_a_vlm_without_a_qwen_vision_tower(tmp_path):
    from transformers import LlavaForConditionalGeneration

    from hf_skeleton.testing import LLAVA_IMAGE_TOKEN, tiny_llava_config

    tok = build_tiny_tokenizer(extra_special_tokens=(LLAVA_IMAGE_TOKEN,))
    LlavaForConditionalGeneration(tiny_llava_config(tok)).save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    with pytest.raises(hs.SkeletonInputError, match="Qwen2"):
        hs.SupermanForConditionalGeneration.from_backbone_pretrained(tmp_path, tiny_vgmt())
