"""What the Superman recipe builds on (``hf-skeleton train superman --base NAME_OR_FOLDER_OR_HUB_ID``).

- no base (the default, ``none``): a tiny Qwen2.5-VL trained from scratch (:func:`~hf_skeleton.testing.tiny_superman`,
  ``--hidden`` wide), as the CMU recipe always did;
- a Qwen2-VL / Qwen2.5-VL checkpoint (the paper's family; a folder or a Hub id):
  :meth:`~hf_skeleton.models.superman.SupermanForConditionalGeneration.from_backbone_pretrained`, every weight
  fine-tuned (the saved folder holds them all);
- a pretrained causal LM (a backbone name such as ``smollm2-135m-instruct``, a folder or a Hub id of a Llama-style
  decoder): :meth:`~hf_skeleton.models.superman.SupermanForConditionalGeneration.from_causal_lm_pretrained`. Its
  decoder becomes Superman's language model with its head tied where the LLM ties it; its tokenizer gains the
  motion tokens (and Qwen's vision placeholders, which a text-only model never sees, so that no placeholder id falls
  on an existing token). LoRA (r=8, q/v) and the motion-token rows of the embeddings and head train, the rest stays
  the LLM's: the saved folder holds the adapters, the motion rows and the VGMT, a few MB, and names the LLM in
  ``config.backbone_weights`` (read back at load).
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

        from ..models.superman.processing_superman import (
            build_superman_processor,
            causal_lm_superman_processor,
        )

        tokenizer = AutoTokenizer.from_pretrained(self.folder)
        if self.kind == "causal_lm":
            return causal_lm_superman_processor(tokenizer, vgmt_config, name="base")
        if not tokenizer.chat_template:
            raise SkeletonInputError("base", "a tokenizer with a chat template (Superman's tasks are chat turns)",
                                     f"{self.name}: no chat_template")
        try:  # as from_backbone_pretrained builds it
            image_processor = AutoImageProcessor.from_pretrained(self.folder)
        except (OSError, ValueError):
            image_processor = None
        return build_superman_processor(tokenizer, vgmt_config, image_processor=image_processor)

    def build(self, vgmt, layers: int = 2, seed: int = 0) -> tuple[Any, Any]:
        """``(model, processor)``: a Superman on this base whose motion tokenizer is ``vgmt`` (its weights
        copied), in float32 (CPU training); ``seed`` draws a causal LM's new motion rows."""
        if self.kind == "tiny":
            from ..testing import tiny_superman

            model, processor = tiny_superman(vgmt.config, hidden_size=self.hidden, layers=layers)
            model.vgmt.load_state_dict(vgmt.state_dict())
            return model, processor
        from ..models.superman import SupermanForConditionalGeneration

        if self.kind == "vlm":
            return SupermanForConditionalGeneration.from_backbone_pretrained(str(self.folder), vgmt,
                                                                             dtype=torch.float32)
        return SupermanForConditionalGeneration.from_causal_lm_pretrained(
            str(self.reference), vgmt, self.processor(vgmt.config), dtype=torch.float32, seed=seed)


__all__ = ["SUPPORTED", "SupermanBase"]
