import torch

from hf_skeleton.testing import QWEN_VISION_TOKENS, build_tiny_tokenizer, tiny_qwen2_5_vl_config, tiny_text_config


def test_tiny_tokenizer_keeps_specials_and_roundtrips(tmp_path):
    tok = build_tiny_tokenizer(extra_texts=["a cartwheel"], extra_special_tokens=["<skeleton>"])
    ids = tok("watch a cartwheel <skeleton> now")["input_ids"]
    assert tok.convert_tokens_to_ids("<skeleton>") in ids
    assert tok.decode(ids) == "watch a cartwheel <skeleton> now"
    tok.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    again = AutoTokenizer.from_pretrained(tmp_path)
    assert again("a cartwheel")["input_ids"] == tok("a cartwheel")["input_ids"]
    text = tok.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False, add_generation_prompt=True)
    assert text.endswith("<|im_start|>assistant\n")


def test_tiny_models_build_and_run():
    from transformers import AutoModelForCausalLM, AutoModelForImageTextToText

    tok = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS)
    lm = AutoModelForCausalLM.from_config(tiny_text_config(tok))
    ids = torch.tensor([tok("walk around")["input_ids"]])
    assert lm(input_ids=ids).logits.shape == (1, ids.shape[1], len(tok))
    vlm = AutoModelForImageTextToText.from_config(tiny_qwen2_5_vl_config(tok))
    assert vlm.config.image_token_id == tok.convert_tokens_to_ids("<|image_pad|>")
    assert vlm.config.text_config.vocab_size == len(tok)
