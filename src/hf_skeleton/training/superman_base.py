"""What the Superman recipe builds on (``hf-skeleton train superman --base NAME_OR_FOLDER_OR_HUB_ID``).

- no base (the default, ``none``): a tiny Qwen2.5-VL trained from scratch (:func:`~hf_skeleton.testing.tiny_superman`,
  ``--hidden`` wide), as the CMU recipe always did;
- a Qwen2-VL / Qwen2.5-VL checkpoint (the paper's family; a folder or a Hub id):
  :meth:`~hf_skeleton.models.superman.SupermanForConditionalGeneration.from_backbone_pretrained`;
- a pretrained causal LM (a backbone name such as ``smollm2-135m-instruct``, a folder or a Hub id that loads
  with ``AutoModelForCausalLM``): its decoder becomes Superman's language model (``SupermanModel`` builds any
  ``AutoModel`` family from ``vlm_config``), its tokenizer gains the motion tokens (and Qwen's vision
  placeholders, which a text-only model never sees, so that no placeholder id falls on an existing token).

A causal LM's head is copied, not tied: Superman ties ``lm_head`` only to a VLM's
``language_model.embed_tokens`` (``_tied_weights_keys``), which a decoder alone does not have. The recipe
fine-tunes every weight of the base, so the saved folder holds them all (``base_model`` in the card names the
base); ``config.backbone_weights`` (ship only what differs from the backbone) needs adapters kept unmerged,
which Superman's config does not carry yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ..errors import SkeletonInputError

VLM_TYPES = ("qwen2_vl", "qwen2_5_vl")
SUPPORTED = ("'none' (a tiny Qwen2.5-VL from scratch), a causal language model (a backbone name such as "
             "smollm2-135m-instruct, a folder or Hub id that loads with AutoModelForCausalLM) or a Qwen2-VL / "
             "Qwen2.5-VL checkpoint")


@dataclass
class SupermanBase:
    """A resolved ``--base``: ``kind`` is ``"tiny"``, ``"vlm"`` or ``"causal_lm"``; ``folder`` the local folder
    and ``reference`` how the base is named (a backbone name, a Hub id or a folder)."""

    kind: str = "tiny"
    folder: Path | None = None
    reference: str | None = None
    hidden: int = 128

    @classmethod
    def resolve(cls, base: str | None, hidden: int = 128) -> SupermanBase:
        """``base`` (None / ``"none"``: the tiny default) -> a :class:`SupermanBase`, reading only its config.

        Raises:
            SkeletonInputError: a checkpoint that is neither a causal LM nor a Qwen2-VL / Qwen2.5-VL
                (naming its ``model_type`` and what is supported).
            CheckpointError: a name that is not a backbone, a folder or a reachable Hub id.
        """
        if base is None or str(base).strip().lower() in ("", "none", "tiny"):
            return cls(hidden=hidden)
        from transformers import AutoConfig
        from transformers.models.auto.modeling_auto import (
            MODEL_FOR_CAUSAL_LM_MAPPING_NAMES,
            MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES,
        )

        from ..backbone_weights import backbone_reference

        folder, reference = backbone_reference(str(base))
        model_type = AutoConfig.from_pretrained(folder).model_type
        if model_type in VLM_TYPES:
            return cls("vlm", Path(folder), reference, hidden)
        if model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES and model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES:
            return cls("causal_lm", Path(folder), reference, hidden)
        raise SkeletonInputError("base", SUPPORTED, f"{base} (model_type {model_type!r})")

    @property
    def name(self) -> str:
        return self.reference or "none"

    @property
    def hub_id(self) -> str | None:
        """The base's Hub id for a card's ``base_model`` (a backbone name's Hub model; None for a local folder
        or the tiny default)."""
        from ..backbones import BACKBONES
        from ..cards import is_hub_id

        if self.reference in BACKBONES:
            return BACKBONES[self.reference].hub_id
        return self.reference if is_hub_id(self.reference) and not Path(str(self.reference)).exists() else None

    def processor(self, vgmt_config):
        """The processor of a model built on this base (its tokenizer with the motion tokens), without the
        model's weights: the task texts are built with it."""
        if self.kind == "tiny":
            from ..testing import tiny_superman

            return tiny_superman(vgmt_config, hidden_size=32, layers=1)[1]
        from transformers import AutoImageProcessor, AutoTokenizer

        from ..models.superman.processing_superman import build_superman_processor
        from ..testing import QWEN_VISION_TOKENS

        tokenizer = AutoTokenizer.from_pretrained(self.folder)
        if not tokenizer.chat_template:
            raise SkeletonInputError("base", "a tokenizer with a chat template (Superman's tasks are chat turns)",
                                     f"{self.name}: no chat_template")
        image_processor = None
        if self.kind == "vlm":  # as from_backbone_pretrained builds it
            try:
                image_processor = AutoImageProcessor.from_pretrained(self.folder)
            except (OSError, ValueError):
                image_processor = None
        else:
            tokenizer.add_tokens(list(QWEN_VISION_TOKENS), special_tokens=True)
        return build_superman_processor(tokenizer, vgmt_config, image_processor=image_processor)

    def build(self, vgmt, layers: int = 2) -> tuple[Any, Any]:
        """``(model, processor)``: a Superman on this base whose motion tokenizer is ``vgmt`` (its weights
        copied), in float32 (CPU training)."""
        if self.kind == "tiny":
            from ..testing import tiny_superman

            model, processor = tiny_superman(vgmt.config, hidden_size=self.hidden, layers=layers)
            model.vgmt.load_state_dict(vgmt.state_dict())
            return model, processor
        from ..models.superman import SupermanForConditionalGeneration

        if self.kind == "vlm":
            return SupermanForConditionalGeneration.from_backbone_pretrained(str(self.folder), vgmt,
                                                                             dtype=torch.float32)
        return self._build_on_causal_lm(vgmt)

    def _build_on_causal_lm(self, vgmt) -> tuple[Any, Any]:
        from accelerate import init_empty_weights
        from transformers import AutoModelForCausalLM

        from ..models.superman import SupermanConfig, SupermanForConditionalGeneration

        lm = AutoModelForCausalLM.from_pretrained(self.folder, dtype=torch.float32)
        text_config = type(lm.config).from_dict(lm.config.to_dict())
        text_config.tie_word_embeddings = False  # the head becomes a copy (see the module's docstring)
        processor = self.processor(vgmt.config)
        config = SupermanConfig(vlm_config=text_config, vgmt_config=vgmt.config)
        with init_empty_weights():  # parameters on the meta device, the loaded tensors assigned below
            model = SupermanForConditionalGeneration(config)
        decoder = getattr(lm, lm.base_model_prefix)
        model.model.vlm.load_state_dict(decoder.state_dict(), assign=True, strict=True)
        model.lm_head.load_state_dict({"weight": lm.get_output_embeddings().weight.detach().clone()}, assign=True,
                                      strict=True)
        model.vgmt.load_state_dict(vgmt.state_dict(), assign=True, strict=True)
        if config.freeze_vgmt:
            model.vgmt.requires_grad_(False)
        model.generation_config = lm.generation_config
        model.resize_for_motion_tokens(processor.tokenizer)
        return model, processor


__all__ = ["SUPPORTED", "SupermanBase"]
