"""Registration of every config, model, processor and pipeline with transformers' Auto classes.

One idempotent function, called when ``hf_skeleton`` is imported. Each model package contributes
one entry to ``_MODEL_ENTRIES``; pipelines register in ``_register_pipelines``.
"""

from __future__ import annotations

import importlib

_DONE = False

# (module path, config class, [(auto class name, model class), ...], processor class or None)
_MODEL_ENTRIES: list[tuple[str, str, list[tuple[str, str]], str | None]] = [
    (".models.vgmt", "VGMTConfig", [("AutoModel", "VGMTModel")], None),
    (".models.superman", "SupermanConfig",
     [("AutoModel", "SupermanModel"), ("AutoModelForImageTextToText", "SupermanForConditionalGeneration")],
     "SupermanProcessor"),
    (".models.draction", "DrActionConfig", [("AutoModel", "DrActionModel")], None),
    (".models.skeleton_llm", "SkeletonLLMConfig",
     [("AutoModel", "SkeletonLLMModel"), ("AutoModelForImageTextToText", "SkeletonLLMForConditionalGeneration")],
     "SkeletonLLMProcessor"),
    # LLaMo maps motion (+ video) + text to text: the same contract as transformers' VLMs (LLaVA,
    # Video-LLaVA), hence AutoModelForImageTextToText rather than the text-only AutoModelForCausalLM.
    (".models.llamo", "LlamoConfig",
     [("AutoModel", "LlamoModel"), ("AutoModelForImageTextToText", "LlamoForConditionalGeneration")],
     "LlamoProcessor"),
]


def _register_models() -> None:
    from transformers import AutoConfig, AutoProcessor
    import transformers

    for module_path, config_name, models, processor_name in _MODEL_ENTRIES:
        module = importlib.import_module(module_path, __package__)
        config_cls = getattr(module, config_name)
        AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)
        for auto_name, model_name in models:
            auto_cls = getattr(transformers, auto_name)
            auto_cls.register(config_cls, getattr(module, model_name), exist_ok=True)
        if processor_name is not None:
            AutoProcessor.register(config_cls, getattr(module, processor_name), exist_ok=True)


def _register_pipelines() -> None:
    from transformers import AutoModelForImageTextToText
    from transformers.pipelines import PIPELINE_REGISTRY

    from .embedded import default_model_for
    from .errors import HFSkeletonError
    from .pipelines.skeleton_generation import SkeletonGenerationPipeline
    from .pipelines.skeleton_understanding import SkeletonUnderstandingPipeline

    def default(task: str) -> dict | None:
        """The embedded checkpoint a pipeline loads when no model is given (offline)."""
        try:
            return {"model": (default_model_for(task), None)}
        except HFSkeletonError:
            return None

    PIPELINE_REGISTRY.register_pipeline("skeleton-generation", pipeline_class=SkeletonGenerationPipeline,
                                        pt_model=AutoModelForImageTextToText, type="multimodal",
                                        default=default("skeleton-generation"))
    # AutoModelForImageTextToText covers SkeletonLLM and LLaMo (both registered there)
    PIPELINE_REGISTRY.register_pipeline("skeleton-understanding", pipeline_class=SkeletonUnderstandingPipeline,
                                        pt_model=AutoModelForImageTextToText, type="multimodal",
                                        default=default("skeleton-understanding"))


def register_all() -> None:
    """Register everything once; later calls do nothing."""
    global _DONE
    if _DONE:
        return
    _register_models()
    _register_pipelines()
    _DONE = True
