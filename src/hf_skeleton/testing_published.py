"""VLM folders at the published dimensions, depth cut, random weights: what users load, made offline.

The tiny builders of :mod:`hf_skeleton.testing` use hidden sizes of 32-64 and 56 px images. A user
builds SkeletonLLM or Superman from ``Qwen/Qwen2.5-VL-7B-Instruct``, ``OpenGVLab/InternVL3-8B-hf`` or
``llava-hf/llava-1.5-7b-hf``; their width, vocabulary, special-token ids, vision patch size and
merger, image processor and visual tokens per image are what this module reproduces. Only the depth
is cut (one text layer, one or two vision layers) so that one forward + backward fits a laptop.

A *spec* is a JSON file (tests keep them in ``tests/fixtures/published_configs/``) holding a
checkpoint's published values::

    {"_source": "<hub id>: ... its public config.json ...",
     "config": {... config.json ...},
     "preprocessor_config": {... preprocessor_config.json ...},
     "tokenizer": {"size": 151665, "bos_token": null, "eos_token": "<|im_end|>", "pad_token": "<|endoftext|>",
                   "unk_token": null, "added_tokens": {"<|endoftext|>": 151643, ...}}}

:func:`published_vlm_folder` turns one into a ``save_pretrained`` folder that
``AutoModelForImageTextToText``, ``AutoTokenizer`` and ``AutoImageProcessor`` read, and that
``SkeletonLLMForConditionalGeneration.from_backbone_pretrained`` builds on. The tokenizer is a
byte-level BPE trained in-process on a small corpus and padded with unreachable filler entries so
that ``len(tokenizer)`` and every special-token id equal the published tokenizer's.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path
from typing import Any, Mapping

from .errors import SkeletonInputError

SPEC_KEYS = ("_source", "config", "preprocessor_config", "tokenizer")

# minimal chat templates in each family's format (string or list-of-parts content)
_CONTENT = ("{% if m['content'] is string %}{{ m['content'] }}{% else %}{% for part in m['content'] %}"
            "{% if part['type'] == 'text' %}{{ part['text'] }}{% else %}<{{ part['type'] }}>{% endif %}"
            "{% endfor %}{% endif %}")
CHATML_TEMPLATE = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n" + _CONTENT + "<|im_end|>\n{% endfor %}"
                   "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
LLAVA_TEMPLATE = ("{% for m in messages %}{% if m['role'] != 'system' %}{{ m['role'].upper() + ': ' }}{% endif %}"
                  + _CONTENT + " {% endfor %}{% if add_generation_prompt %}ASSISTANT:{% endif %}")
CHAT_TEMPLATES = {"qwen2_5_vl": CHATML_TEMPLATE, "qwen2_vl": CHATML_TEMPLATE, "internvl": CHATML_TEMPLATE,
                  "llava": LLAVA_TEMPLATE}

# image_processor_type of a published preprocessor_config.json -> the processor class that works
# without torchvision (the fast classes need it)
_IMAGE_PROCESSORS = {
    "Qwen2VLImageProcessor": ("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl", "Qwen2VLImageProcessorPil"),
    "GotOcr2ImageProcessor": ("transformers.models.got_ocr2.image_processing_pil_got_ocr2", "GotOcr2ImageProcessorPil"),
    "CLIPImageProcessor": ("transformers.models.clip.image_processing_pil_clip", "CLIPImageProcessorPil"),
}


def load_published_spec(spec: str | os.PathLike | Mapping[str, Any]) -> dict:
    """A spec (path to its JSON file, or the dict) with its keys checked; returns a deep copy."""
    source = spec
    if not isinstance(spec, Mapping):
        path = Path(spec)
        try:
            spec = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise SkeletonInputError(f"published spec {path}", "a readable JSON file", f"{type(err).__name__}: {err}")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise SkeletonInputError(f"published spec {source if not isinstance(source, Mapping) else ''}".strip(),
                                 f"the keys {SPEC_KEYS}", f"missing {missing}")
    return copy.deepcopy(dict(spec))


# ---------------------------------------------------------------------------------------- config
def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise SkeletonInputError(name, "a positive integer", value)
    return value


def cut_config_dict(config: Mapping[str, Any], text_layers: int = 1, vision_layers: int = 1) -> dict:
    """The published ``config.json`` dict with the depth cut and nothing else changed.

    - text model: ``num_hidden_layers = text_layers`` (and ``max_window_layers`` / ``layer_types`` cut to match);
    - Qwen2-VL / Qwen2.5-VL vision: ``depth = vision_layers``; the full-attention blocks are the published
      indices below the new depth plus the last block (the published pattern ends on a full-attention block),
      so ``vision_layers=2`` keeps one windowed and one full-attention block;
    - InternVL vision: ``num_hidden_layers = vision_layers`` (the feature layer is the last);
    - LLaVA vision: ``vision_layers`` layers up to the feature layer (``vision_feature_layer = -2`` reads the
      second to last, so one more layer is kept after it, as in the published tower).
    """
    text_layers = _positive("text_layers", text_layers)
    vision_layers = _positive("vision_layers", vision_layers)
    data = copy.deepcopy(dict(config))
    model_type = data.get("model_type")
    text = data["text_config"] if isinstance(data.get("text_config"), dict) else data  # Qwen2.5-VL: flat
    text["num_hidden_layers"] = text_layers
    if "max_window_layers" in text:
        text["max_window_layers"] = min(int(text["max_window_layers"]), text_layers)
    if isinstance(text.get("layer_types"), list):
        text["layer_types"] = text["layer_types"][:text_layers]
    vision = data.get("vision_config")
    if not isinstance(vision, dict):
        raise SkeletonInputError("config.vision_config", "a dict (a VLM's config.json)", type(vision).__name__)
    if model_type in ("qwen2_vl", "qwen2_5_vl"):
        vision["depth"] = vision_layers
        if "fullatt_block_indexes" in vision:
            kept = {int(i) for i in vision["fullatt_block_indexes"] if int(i) < vision_layers}
            vision["fullatt_block_indexes"] = sorted(kept | {vision_layers - 1})
    else:
        layer = int(data.get("vision_feature_layer", -1))
        extra = -layer - 1 if layer < 0 else 0
        vision["num_hidden_layers"] = vision_layers + extra
    return data


def published_config(spec, text_layers: int = 1, vision_layers: int = 1):
    """The transformers config of ``spec`` with the depth cut (see :func:`cut_config_dict`)."""
    from transformers import AutoConfig

    data = cut_config_dict(load_published_spec(spec)["config"], text_layers, vision_layers)
    return AutoConfig.for_model(data.pop("model_type"), **data)


def published_parameter_count(spec) -> int:
    """Parameters of the full-depth published model (built on the meta device: no memory)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageTextToText

    data = load_published_spec(spec)["config"]
    config = AutoConfig.for_model(data.pop("model_type"), **data)
    with torch.device("meta"):
        model = AutoModelForImageTextToText.from_config(config)
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------- tokenizer
def published_tokenizer(spec, corpus_vocab: int = 1000):
    """A fast tokenizer with the published size and special-token ids.

    A byte-level BPE is trained on :mod:`hf_skeleton.testing`'s corpus (``corpus_vocab`` entries); special
    tokens below the added block (LLaMA's ``<unk>``, ``<s>``, ``</s>`` at 0, 1, 2) sit at their ids in the
    BPE vocabulary; unreachable filler entries (no merge produces them) pad it to the first added id; the
    added tokens follow at their published ids. Raises SkeletonInputError if the result differs.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    from .testing import _BASE_CORPUS

    tok_spec = load_published_spec(spec)["tokenizer"]
    size = _positive("tokenizer.size", tok_spec["size"])
    added = {str(k): int(v) for k, v in tok_spec["added_tokens"].items()}
    by_id = {v: k for k, v in added.items()}
    if len(by_id) != len(added) or max(by_id) >= size:
        raise SkeletonInputError("tokenizer.added_tokens", f"distinct ids below the size {size}", added)
    first_added = size  # the tokens from here to the end are added on top of the BPE vocabulary
    while first_added - 1 in by_id:
        first_added -= 1
    low = {t: i for t, i in added.items() if i < first_added}  # specials inside the base vocabulary

    trainer = trainers.BpeTrainer(vocab_size=corpus_vocab, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    trained = Tokenizer(models.BPE())
    trained.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    trained.train_from_iterator(_BASE_CORPUS.strip().splitlines(), trainer=trainer)
    model_json = json.loads(trained.to_str())["model"]
    learned = sorted(model_json["vocab"], key=model_json["vocab"].get)
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_json["merges"]]
    if len(learned) + len(low) > first_added:
        raise SkeletonInputError("tokenizer.size", f"room for {len(learned) + len(low)} BPE entries", first_added)

    vocab: dict[str, int] = dict(low)
    free = (i for i in range(first_added) if i not in by_id)
    for token in learned:
        vocab[token] = next(free)
    for i in free:  # unreachable entries: no merge leads to them
        vocab[f"<|filler_{i}|>"] = i
    unk = tok_spec.get("unk_token")
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=unk))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    # in id order, before the wrapper names bos/eos/pad (which would add them in its own order)
    tok.add_special_tokens(list(low) + [by_id[i] for i in range(first_added, size)])
    specials = {k: tok_spec.get(k) for k in ("bos_token", "eos_token", "pad_token", "unk_token") if tok_spec.get(k)}
    wrapped = PreTrainedTokenizerFast(tokenizer_object=tok, **specials)
    wrong = {t: wrapped.convert_tokens_to_ids(t) for t, i in added.items() if wrapped.convert_tokens_to_ids(t) != i}
    if wrong or len(wrapped) != size:
        raise SkeletonInputError("published tokenizer", f"{size} tokens with the published ids",
                                 f"{len(wrapped)} tokens, wrong ids {wrong}")
    model_type = load_published_spec(spec)["config"].get("model_type")
    if model_type in CHAT_TEMPLATES:
        wrapped.chat_template = CHAT_TEMPLATES[model_type]
    return wrapped


# ---------------------------------------------------------------------------------------- image processor
def published_image_processor(spec):
    """The family's image processor (PIL class: no torchvision needed) with the published settings."""
    import importlib

    data = dict(load_published_spec(spec)["preprocessor_config"])
    kind = data.pop("image_processor_type", None)
    data.pop("processor_class", None)
    if kind not in _IMAGE_PROCESSORS:
        raise SkeletonInputError("preprocessor_config.image_processor_type", f"one of {sorted(_IMAGE_PROCESSORS)}",
                                 kind)
    module, name = _IMAGE_PROCESSORS[kind]
    cls = getattr(importlib.import_module(module), name)
    if "min_pixels" in data or "max_pixels" in data:  # Qwen2-VL's published keys are its size bounds
        data["size"] = {"shortest_edge": data.pop("min_pixels"), "longest_edge": data.pop("max_pixels")}
    return cls.from_dict(data)


# ---------------------------------------------------------------------------------------- the folder
def published_vlm_folder(spec, folder: str | os.PathLike, text_layers: int = 1, vision_layers: int = 1,
                         dtype: Any = None, seed: int = 0) -> Path:
    """Save a random VLM of ``spec``'s published dimensions (depth cut) into ``folder``.

    The folder holds ``config.json`` + ``model.safetensors`` (``AutoModelForImageTextToText``), the tokenizer
    (:func:`published_tokenizer`), ``preprocessor_config.json`` (:func:`published_image_processor`),
    ``generation_config.json`` and, for LLaVA, ``processor_config.json`` (Qwen2.5-VL's and InternVL's
    processors need a video processor, which needs torchvision: their folders carry no processor file).

    Args:
        spec: path of a spec JSON file or its dict (see the module docstring).
        text_layers, vision_layers: the depth kept (see :func:`cut_config_dict`).
        dtype: parameter dtype; default ``torch.bfloat16``, the published checkpoints' own (LLaVA-1.5's is
            float16, slow on CPUs: bfloat16 keeps its range). float32 doubles memory and, on CPUs with
            bf16 matrix units, is several times slower.
        seed: ``torch.manual_seed`` before the weights are drawn.
    Returns:
        ``Path(folder)``.
    """
    import torch
    from transformers import AutoModelForImageTextToText, GenerationConfig

    spec = load_published_spec(spec)
    dtype = torch.bfloat16 if dtype is None else dtype
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = published_config(spec, text_layers, vision_layers)
    tokenizer = published_tokenizer(spec)
    image_processor = published_image_processor(spec)
    torch.manual_seed(seed)
    model = AutoModelForImageTextToText.from_config(config, dtype=dtype)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(folder)
    del model
    tokenizer.save_pretrained(folder)
    image_processor.save_pretrained(folder)
    if config.model_type == "llava":
        from transformers import LlavaProcessor

        vision = config.vision_config
        LlavaProcessor(image_processor=image_processor, tokenizer=tokenizer, patch_size=vision.patch_size,
                       vision_feature_select_strategy=config.vision_feature_select_strategy,
                       num_additional_image_tokens=1, chat_template=tokenizer.chat_template).save_pretrained(folder)
    (folder / "published_source.txt").write_text(spec["_source"] + f"\nDepth cut to {text_layers} text / "
                                                 f"{vision_layers} vision layers; random weights.\n")
    return folder


def published_text_config(spec, text_layers: int = 1):
    """The causal-LM config of ``spec``'s language model with the depth cut: ``qwen2`` for Qwen2.5-VL (its
    text model is Qwen2.5-7B's: same width, heads and vocabulary; M-RoPE becomes plain RoPE) and the
    ``text_config`` of InternVL / LLaVA as published."""
    from transformers import AutoConfig

    text = published_config(spec, text_layers=text_layers).get_text_config().to_dict()
    model_type = text.pop("model_type")
    if model_type == "qwen2_5_vl_text":
        model_type = "qwen2"
        theta = (text.get("rope_parameters") or {}).get("rope_theta", 1e6)
        text["rope_parameters"] = {"rope_type": "default", "rope_theta": theta}
    for key in ("architectures", "dtype", "transformers_version", "_name_or_path"):
        text.pop(key, None)
    text.setdefault("tie_word_embeddings", False)
    return AutoConfig.for_model(model_type, **text)


def published_text_folder(spec, folder: str | os.PathLike, text_layers: int = 1, dtype: Any = None,
                          seed: int = 0) -> Path:
    """Save ``spec``'s language model alone (:func:`published_text_config`, random weights, ``AutoModelForCausalLM``)
    with the published tokenizer into ``folder``: what LLaMo is built around. Returns ``Path(folder)``."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    spec = load_published_spec(spec)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = published_text_config(spec, text_layers)
    tokenizer = published_tokenizer(spec)
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16 if dtype is None else dtype)
    model.generation_config = GenerationConfig(bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                                               pad_token_id=tokenizer.pad_token_id)
    model.save_pretrained(folder)
    del model
    tokenizer.save_pretrained(folder)
    (folder / "published_source.txt").write_text(spec["_source"] + f"\nIts language model alone, depth cut to "
                                                 f"{text_layers} layers; random weights.\n")
    return folder


def native_bfloat16() -> bool:
    """Whether this CPU multiplies bfloat16 matrices natively (torch's oneDNN check: AVX-512 BW/VL/DQ, AMX or
    Arm's BF16). Without it torch falls back to a scalar kernel: 0.2 GFLOP/s against 90 GFLOP/s in float32 on a
    2-core AVX2 EPYC, and one published-dimension forward takes hours instead of seconds."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def compute_dtype() -> Any:
    """The dtype the published-dimension checks compute in on this machine: bfloat16 (the published dtype)
    where :func:`native_bfloat16`, else float32 (the same bfloat16-valued weights, exact in float32)."""
    import torch

    return torch.bfloat16 if native_bfloat16() else torch.float32


def cast_parameters(model: Any, dtype: Any, keep_prefixes: tuple[str, ...]) -> Any:
    """Every parameter of ``model`` to ``dtype`` except those under ``keep_prefixes`` (the parts trained in
    float32). Puts a folder reloaded in float32 (transformers 5 loads one dtype unless ``dtype=`` is given) back
    in the dtype it was built in, and a bfloat16 model in :func:`compute_dtype`. Buffers stay as they are
    (RoPE's ``inv_freq`` is float32 in the built model too)."""
    for name, param in model.named_parameters():
        if not name.startswith(keep_prefixes):
            param.data = param.data.to(dtype)
    return model


class PeakRSS:
    """``with PeakRSS() as m: ...`` -> ``m.peak``: the peak resident memory (bytes) of this process while the
    block ran, sampled every 10 ms from ``/proc/self/statm`` (elsewhere: the process's peak so far), and
    ``m.growth``: the peak minus the resident memory at the start (what the block itself added; in a test
    suite the process already holds what earlier tests left)."""

    @property
    def growth(self) -> int:
        return self.peak - self.start

    def __enter__(self) -> "PeakRSS":
        import threading

        self.peak = self.start = self.rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def rss() -> int:
        try:
            with open("/proc/self/statm") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except OSError:
            import resource

            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self.rss())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.rss())


__all__ = ["CHAT_TEMPLATES", "PeakRSS", "cast_parameters", "compute_dtype", "cut_config_dict", "load_published_spec",
           "native_bfloat16", "published_config", "published_image_processor", "published_parameter_count",
           "published_text_config", "published_text_folder", "published_tokenizer", "published_vlm_folder"]
