"""Tiny, offline building blocks: a tokenizer trained in-process and small LLM / VLM configs.

No model or tokenizer can be downloaded in tests or on an air-gapped machine, so tests, examples
and the embedded checkpoints build everything here from configs. The same code is useful to users
who want a small random model to debug a pipeline before loading a 7B checkpoint.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

# Words every skeleton prompt uses; the N-UCLA / NTU action names and motion vocabulary join them
# so that labels tokenise into few, meaningful pieces.
_BASE_CORPUS = """
describe the motion . what action is the person doing ? answer with the action name . yes no .
the person is a man woman someone walks runs jumps sits stands picks up drops throws carries
pick up with one hand pick up with two hands drop trash walk around sit down stand up donning
doffing throw carry drink water eat meal brushing teeth brushing hair clapping reading writing
tear up paper wear jacket take off jacket wear a shoe take off a shoe wear on glasses take off
glasses put on a hat cap take off a hat cap cheer up hand waving kicking something reach into
pocket hopping one foot jump up make a phone call playing with phone tablet typing on a keyboard
pointing to something with finger taking a selfie check time from watch rub two hands together
nod head bow shake head wipe face salute put the palms together cross hands in front sneeze
cough staggering falling touch head headache touch chest stomachache back pain neck pain nausea
vomiting use a fan punching slapping other person kicking other person pushing pat on back
point finger at the other person hugging giving something touch other person's pocket handshaking
walking towards each other walking apart from each other left right arm leg torso frame forward
backward slowly quickly turns around balances on one leg climbs dances kicks waves boxes
because so first then while hands feet body moves up down toward away from camera
"""


def build_tiny_tokenizer(extra_texts: Iterable[str] = (), extra_special_tokens: Sequence[str] = (),
                         vocab_size: int = 512, chat_template: bool = True):
    """Train a small byte-level BPE tokenizer in-process and wrap it for transformers.

    Args:
        extra_texts: more training text (label names, captions) so they tokenise compactly.
        extra_special_tokens: tokens added as special, never split (``<skeleton>``, ``<motion>``...).
        vocab_size: BPE vocabulary size before the special tokens.
        chat_template: attach a minimal ChatML-style template (what Qwen models use).

    Returns:
        a ``PreTrainedTokenizerFast`` with ``pad``/``eos``/``bos``/``unk`` tokens set.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|pad|>", "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|unk|>"]
    tok = Tokenizer(models.BPE(unk_token="<|unk|>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    corpus = [line for line in _BASE_CORPUS.strip().splitlines()] + [str(t) for t in extra_texts]
    tok.train_from_iterator(corpus, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<|pad|>", eos_token="<|im_end|>",
                                      bos_token="<|endoftext|>", unk_token="<|unk|>")
    if extra_special_tokens:
        wrapped.add_special_tokens({"additional_special_tokens": list(extra_special_tokens)})
    if chat_template:
        wrapped.chat_template = (
            "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
            "{% if message['content'] is string %}{{ message['content'] }}"
            "{% else %}{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}"
            "{% else %}<{{ part['type'] }}>{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
            "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
        )
    return wrapped


QWEN_VISION_TOKENS = ("<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>")


def _special_ids(tokenizer) -> dict:
    return dict(vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id)


def tiny_text_config(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4,
                     model_type: str = "qwen2", **kwargs):
    """A small causal-LM config (``qwen2`` or ``llama``) sized to ``tokenizer``'s vocabulary."""
    from transformers import AutoConfig

    return AutoConfig.for_model(
        model_type, hidden_size=hidden_size, intermediate_size=hidden_size * 2,
        num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
        max_position_embeddings=2048, tie_word_embeddings=False, **_special_ids(tokenizer), **kwargs)


def tiny_qwen2_5_vl_config(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4,
                           vision_hidden: int = 32, vision_depth: int = 1, **kwargs):
    """A small Qwen2.5-VL config whose token ids point into ``tokenizer``.

    ``tokenizer`` must contain :data:`QWEN_VISION_TOKENS` (``build_tiny_tokenizer(
    extra_special_tokens=QWEN_VISION_TOKENS)``). Images of 56x56 px give 4 merged visual tokens.
    """
    from transformers import Qwen2_5_VLConfig

    start, end, image, video = tokenizer.convert_tokens_to_ids(list(QWEN_VISION_TOKENS))
    if tokenizer.unk_token_id in (start, end, image, video):
        raise ValueError(f"tokenizer lacks the Qwen vision tokens {QWEN_VISION_TOKENS}")

    head_dim = hidden_size // heads
    # M-RoPE splits the rotary half-dimension into (temporal, height, width) sections.
    mrope = [head_dim // 4, (head_dim // 2 - head_dim // 4) // 2]
    mrope.append(head_dim // 2 - sum(mrope))
    text = dict(**_special_ids(tokenizer), hidden_size=hidden_size, intermediate_size=hidden_size * 2,
                num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=max(1, heads // 2),
                max_position_embeddings=4096,
                rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": mrope})
    vision = dict(depth=vision_depth, hidden_size=vision_hidden, intermediate_size=vision_hidden * 2,
                  num_heads=max(1, vision_hidden // 16), out_hidden_size=hidden_size, patch_size=14,
                  spatial_merge_size=2, temporal_patch_size=2, window_size=56, fullatt_block_indexes=[0])
    return Qwen2_5_VLConfig(text_config=text, vision_config=vision, image_token_id=image, video_token_id=video,
                            vision_start_token_id=start, vision_end_token_id=end, tie_word_embeddings=False,
                            **kwargs)


LLAVA_IMAGE_TOKEN = "<image>"
INTERNVL_IMAGE_TOKENS = ("<img>", "<IMG_CONTEXT>", "</img>")


def _token_id(tokenizer, token: str) -> int:
    tid = tokenizer.convert_tokens_to_ids(token)
    if tid is None or tid == tokenizer.unk_token_id:
        raise ValueError(f"tokenizer lacks the special token {token!r}")
    return tid


def tiny_llava_config(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4, vision_hidden: int = 32,
                      vision_layers: int = 1, image_size: int = 56, patch_size: int = 14, **kwargs):
    """A small LLaVA config (CLIP vision tower + qwen2 text model); ``tokenizer`` must hold
    :data:`LLAVA_IMAGE_TOKEN`. A 56 px image gives (56 / 14)^2 = 16 visual tokens."""
    from transformers import CLIPVisionConfig, LlavaConfig

    vision = CLIPVisionConfig(hidden_size=vision_hidden, intermediate_size=vision_hidden * 2,
                              num_hidden_layers=vision_layers + 1, num_attention_heads=max(1, vision_hidden // 16),
                              image_size=image_size, patch_size=patch_size, projection_dim=vision_hidden)
    text = tiny_text_config(tokenizer, hidden_size=hidden_size, layers=layers, heads=heads)
    return LlavaConfig(vision_config=vision, text_config=text, image_token_index=_token_id(tokenizer, LLAVA_IMAGE_TOKEN),
                       image_seq_length=(image_size // patch_size) ** 2, tie_word_embeddings=False, **kwargs)


def tiny_internvl_config(tokenizer, hidden_size: int = 64, layers: int = 2, heads: int = 4, vision_hidden: int = 32,
                         vision_layers: int = 1, image_size: int = 56, patch_size: int = 14, **kwargs):
    """A small InternVL config (InternViT + qwen2 text model, pixel-shuffle ratio 0.5); ``tokenizer``
    must hold :data:`INTERNVL_IMAGE_TOKENS`. A 56 px image gives (56 / 14)^2 / 4 = 4 visual tokens."""
    from transformers import InternVLConfig, InternVLVisionConfig

    vision = InternVLVisionConfig(hidden_size=vision_hidden, intermediate_size=vision_hidden * 2,
                                  num_hidden_layers=vision_layers, num_attention_heads=max(1, vision_hidden // 16),
                                  image_size=[image_size, image_size], patch_size=[patch_size, patch_size])
    text = tiny_text_config(tokenizer, hidden_size=hidden_size, layers=layers, heads=heads)
    return InternVLConfig(vision_config=vision, text_config=text,
                          image_token_id=_token_id(tokenizer, INTERNVL_IMAGE_TOKENS[1]),
                          image_seq_length=(image_size // patch_size) ** 2 // 4, downsample_ratio=0.5,
                          tie_word_embeddings=False, **kwargs)


def tiny_superman(
    vgmt_config=None,
    hidden_size: int = 64,
    layers: int = 2,
    use_maft: bool = False,
    tokenizer_texts: tuple[str, ...] = (),
    **config_kwargs: Any,
):
    """A small random Superman and its processor, built offline (tests, examples, debugging).

    Returns ``(model, processor)``: a tiny Qwen2.5-VL (56 px frames give 4 visual tokens per temporal
    patch) on an in-process BPE tokenizer extended with the motion tokens of ``vgmt_config``.
    """
    from .models.superman import SupermanConfig, SupermanForConditionalGeneration
    from .models.superman.motion_text import MotionTextFormatter
    from .models.superman.processing_superman import PROMPTS, build_superman_processor
    from .models.vgmt.configuration_vgmt import VGMTConfig

    if vgmt_config is None:
        vgmt_config = VGMTConfig(
            format="h36m17",
            num_codes=32,
            code_dim=32,
            channels=[16, 32],
            dilations=[1],
            norm_groups=4,
            use_vision=False,
        )
    parts = MotionTextFormatter.from_vgmt_config(vgmt_config).parts
    grouping = [" ".join(f"Frame {i}: " + " ".join(f"{name}: " for name, _ in parts) for i in range(1, 33))]
    tokenizer = build_tiny_tokenizer(
        extra_texts=list(PROMPTS.values()) + grouping * 20 + list(tokenizer_texts),
        extra_special_tokens=QWEN_VISION_TOKENS,
    )
    processor = build_superman_processor(tokenizer, vgmt_config)
    vlm = tiny_qwen2_5_vl_config(tokenizer, hidden_size=hidden_size, layers=layers)
    config = SupermanConfig(
        vlm_config=vlm,
        vgmt_config=vgmt_config,
        use_maft=use_maft,
        motion_token_offset=processor.motion_ids["codes"][0],
        **config_kwargs,
    )
    return SupermanForConditionalGeneration(config), processor


NUCLA_ARMS = ("left_shoulder", "left_elbow", "left_wrist", "left_hand",
              "right_shoulder", "right_elbow", "right_wrist", "right_hand")


def nucla_arms_format_dict(name: str = "nucla_arms") -> dict[str, Any]:
    """A user-defined forest format as a hand-written ``FORMAT.json`` would hold it
    (``SkeletonFormat.to_dict()`` layout): the 8 arm and hand joints of N-UCLA's kinect_v1, two chains rooted at
    the shoulders, no torso."""
    from .skeletons.formats import get_format

    k1 = get_format("kinect_v1")
    return {"name": name, "joints": list(NUCLA_ARMS), "parents": [-1, 0, 1, 2, -1, 4, 5, 6],
            "parts": {"left_arm": [0, 1, 2, 3], "right_arm": [4, 5, 6, 7]},
            "mirror_pairs": [[0, 4], [1, 5], [2, 6], [3, 7]], "up_axis": k1.up_axis, "units": k1.units, "dims": 3,
            "description": "N-UCLA arms and hands (kinect_v1 joints 4-11), two chains from the shoulders"}


def tiny_draction(format: str = "kinect_v2", image_size: int = 32, num_frames: int = 2, **config_kwargs: Any):
    """A small DrAction renderer (torch backend) for ``format``."""
    from .models.draction import DrActionConfig, DrActionModel

    return DrActionModel(DrActionConfig(format=format, image_size=image_size, num_frames=num_frames,
                                        backend="torch", **config_kwargs))


def tiny_vgmt(format: str = "h36m17", **config_kwargs: Any):
    """A small skeleton-only VGMT (32 codes of 32 dimensions)."""
    from .models.vgmt import VGMTConfig, VGMTModel

    args = dict(format=format, num_codes=32, code_dim=32, channels=[16, 32], dilations=[1, 3], norm_groups=8,
                use_vision=False)
    args.update(config_kwargs)
    return VGMTModel(VGMTConfig(**args))


def tiny_skeleton_llm(family: str = "qwen2_5_vl", format: str = "kinect_v2", num_frames: int = 2,
                      image_size: int = 56, **config_kwargs: Any):
    """A small SkeletonLLM around a tiny random VLM of ``family`` ("qwen2_5_vl", "llava", "internvl")
    and its processor; returns ``(model, processor)``."""
    from .models.draction import DrActionConfig
    from .models.skeleton_llm import SkeletonLLMConfig, SkeletonLLMForConditionalGeneration, SkeletonLLMProcessor

    families = {"qwen2_5_vl": tiny_qwen2_5_vl_config, "llava": tiny_llava_config, "internvl": tiny_internvl_config}
    tokenizer = build_tiny_tokenizer(extra_special_tokens=QWEN_VISION_TOKENS + ("<skeleton>", LLAVA_IMAGE_TOKEN)
                                     + INTERNVL_IMAGE_TOKENS)
    draction = DrActionConfig(format=format, num_frames=num_frames, image_size=image_size, backend="torch")
    config = SkeletonLLMConfig(draction, families[family](tokenizer), **config_kwargs)
    return SkeletonLLMForConditionalGeneration(config), SkeletonLLMProcessor.from_model_config(config, tokenizer)


def tiny_llamo(format: str = "kinect_v1", use_video: bool = True, **config_kwargs: Any):
    """A small LLaMo (1-layer motion encoder, tiny CLIP video tower, tiny LLM) and its processor;
    returns ``(model, processor)``."""
    from transformers import CLIPVisionConfig

    from .models.llamo import LlamoConfig, LlamoForConditionalGeneration, LlamoProcessor

    tokenizer = build_tiny_tokenizer(extra_special_tokens=["<motion>", "<video>"])
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=56, patch_size=14) if use_video else None
    args = dict(format=format, use_video=use_video, vision_config=vision, num_video_frames=2, video_pooling="mean",
                motion_hidden_size=32, motion_num_layers=1, motion_num_heads=4, motion_intermediate_size=64,
                max_motion_frames=24, motion_temporal_stride=2, motion_dropout=0.0, fusion_num_heads=4,
                text_config=tiny_text_config(tokenizer, hidden_size=32, heads=4),
                motion_token_id=tokenizer.convert_tokens_to_ids("<motion>"),
                video_token_id=tokenizer.convert_tokens_to_ids("<video>"))
    args.update(config_kwargs)
    config = LlamoConfig(**args)
    return LlamoForConditionalGeneration(config), LlamoProcessor.from_config(config, tokenizer)
