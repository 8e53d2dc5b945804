"""Registration of every config, model, processor and pipeline with transformers, lazily.

``import hf_skeleton`` must stay cheap (no torch), yet ``AutoConfig`` / ``AutoModel*`` /
``AutoProcessor`` / ``pipeline()`` must know our model types the moment they are used. So each part
is registered right after transformers finishes importing the module that owns its registry
(:data:`_TRIGGERS`), or at once when that module is already loaded. :func:`register_all` does
everything now.

The work waits until no module of ours or of transformers is still executing (every one of them is
watched): registering imports our model modules, which would otherwise see a half-initialised module
(``from transformers import Qwen2ForCausalLM`` loads ``modeling_auto`` while ``transformers.modeling_utils``,
which defines ``PreTrainedModel``, is still running).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import threading

_PACKAGE = __package__  # "hf_skeleton"

# (module path, config class, [(auto class name, model class), ...], processor class or None)
# The three language models map skeletons (+ video) + text to text: the same contract as transformers' VLMs
# (LLaVA, Video-LLaVA), hence AutoModelForImageTextToText. They are also registered with
# AutoModelForCausalLM because that is where PEFT looks: an adapter saved with task_type="CAUSAL_LM" (what
# LoRA fine-tuning with TRL writes) reloads through AutoPeftModelForCausalLM, which builds its base with it.
_MODEL_ENTRIES: list[tuple[str, str, list[tuple[str, str]], str | None]] = [
    (".models.vgmt", "VGMTConfig", [("AutoModel", "VGMTModel")], "VGMTProcessor"),
    (".models.superman", "SupermanConfig",
     [("AutoModel", "SupermanModel"), ("AutoModelForImageTextToText", "SupermanForConditionalGeneration"),
      ("AutoModelForCausalLM", "SupermanForConditionalGeneration")],
     "SupermanProcessor"),
    (".models.draction", "DrActionConfig", [("AutoModel", "DrActionModel")], None),
    (".models.skeleton_llm", "SkeletonLLMConfig",
     [("AutoModel", "SkeletonLLMModel"), ("AutoModelForImageTextToText", "SkeletonLLMForConditionalGeneration"),
      ("AutoModelForCausalLM", "SkeletonLLMForConditionalGeneration")],
     "SkeletonLLMProcessor"),
    (".models.llamo", "LlamoConfig",
     [("AutoModel", "LlamoModel"), ("AutoModelForImageTextToText", "LlamoForConditionalGeneration"),
      ("AutoModelForCausalLM", "LlamoForConditionalGeneration")],
     "LlamoProcessor"),
    # the ImageNet EfficientNet-Lite backbones (hs.backbone_path), written here since timm needs torchvision
    (".models.efficientnet_lite", "EfficientNetLiteConfig",
     [("AutoModel", "EfficientNetLiteModel"),
      ("AutoModelForImageClassification", "EfficientNetLiteForImageClassification")], None),
]


def _config_classes():
    for module_path, config_name, models, processor_name in _MODEL_ENTRIES:
        name = module_path.rsplit(".", 1)[-1]
        module = importlib.import_module(f"{module_path}.configuration_{name}", _PACKAGE)
        yield module_path, getattr(module, config_name), models, processor_name


def _register_configs() -> None:
    from transformers import AutoConfig

    for _, config_cls, _, _ in _config_classes():
        AutoConfig.register(config_cls.model_type, config_cls, exist_ok=True)


def _register_models() -> None:
    import transformers

    _register_configs()
    for module_path, config_cls, models, _ in _config_classes():
        name = module_path.rsplit(".", 1)[-1]
        module = importlib.import_module(f"{module_path}.modeling_{name}", _PACKAGE)
        for auto_name, model_name in models:
            getattr(transformers, auto_name).register(config_cls, getattr(module, model_name), exist_ok=True)


def _register_processors() -> None:
    from transformers import AutoProcessor

    _register_configs()
    _register_feature_extractors()
    for module_path, config_cls, _, processor_name in _config_classes():
        if processor_name is not None:
            name = module_path.rsplit(".", 1)[-1]
            module = importlib.import_module(f"{module_path}.processing_{name}", _PACKAGE)
            AutoProcessor.register(config_cls, getattr(module, processor_name), exist_ok=True)


def _register_feature_extractors() -> None:
    """The SkeletonProcessor (each model processor's ``preprocessor_config.json``) with
    AutoFeatureExtractor, so ``AutoFeatureExtractor.from_pretrained(folder)`` reads it too."""
    from transformers import AutoFeatureExtractor

    from .processing.skeleton_processor import SkeletonProcessor

    _register_configs()
    for module_path, config_cls, _, processor_name in _config_classes():
        if processor_name is not None:
            AutoFeatureExtractor.register(config_cls, SkeletonProcessor, exist_ok=True)


class _EmbeddedDefault(dict):
    """A pipeline ``default`` resolved when transformers asks for it (``pipeline(task)`` with no model):
    the embedded checkpoint's folder, or a typed :class:`NoDefaultModelError` saying what to pass
    (transformers itself would fail on a missing default with a bare ``KeyError``)."""

    def __init__(self, task: str):
        super().__init__()
        self.task = task

    def __contains__(self, key) -> bool:
        return key == "model"

    def __getitem__(self, key):
        if key != "model":
            raise KeyError(key)
        from .embedded import default_model_for

        return (default_model_for(self.task), None)


def _register_pipelines() -> None:
    from transformers import AutoModelForImageTextToText
    from transformers.pipelines import PIPELINE_REGISTRY

    from .pipelines.skeleton_generation import SkeletonGenerationPipeline
    from .pipelines.skeleton_understanding import SkeletonUnderstandingPipeline

    _register_models()
    _register_processors()
    PIPELINE_REGISTRY.register_pipeline("skeleton-generation", pipeline_class=SkeletonGenerationPipeline,
                                        pt_model=AutoModelForImageTextToText, type="multimodal",
                                        default=_EmbeddedDefault("skeleton-generation"))
    # AutoModelForImageTextToText covers SkeletonLLM and LLaMo (both registered there)
    PIPELINE_REGISTRY.register_pipeline("skeleton-understanding", pipeline_class=SkeletonUnderstandingPipeline,
                                        pt_model=AutoModelForImageTextToText, type="multimodal",
                                        default=_EmbeddedDefault("skeleton-understanding"))


# the transformers module that owns each registry -> what to register once it is loaded
_TRIGGERS = {
    "transformers.models.auto.configuration_auto": _register_configs,
    "transformers.models.auto.modeling_auto": _register_models,
    "transformers.models.auto.feature_extraction_auto": _register_feature_extractors,
    "transformers.models.auto.processing_auto": _register_processors,
    "transformers.pipelines": _register_pipelines,
}
_STEPS = list(_TRIGGERS.values())

_lock = threading.RLock()
_done: set = set()
_pending: list = []
_executing = 0  # watched modules (ours and transformers') whose code is running now
_flushing = False


def _flush() -> None:
    global _flushing
    with _lock:
        if _executing or _flushing:
            return  # the outermost import (or the running flush) picks the queue up
        _flushing = True
        try:
            while _pending:
                step = _pending.pop(0)
                if step not in _done:
                    _done.add(step)  # first: the step's own imports may fire triggers again
                    try:
                        step()
                    except BaseException:
                        _done.discard(step)
                        raise
        finally:
            _flushing = False


class _WatchedLoader(importlib.abc.Loader):
    """Wraps a module's loader: counts it as executing, then queues its trigger and flushes."""

    def __init__(self, loader, name: str):
        self._loader, self._name = loader, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        global _executing
        with _lock:
            _executing += 1
        try:
            self._loader.exec_module(module)
        finally:
            with _lock:
                _executing -= 1
        if self._name in _TRIGGERS:
            _pending.append(_TRIGGERS[self._name])
        _flush()

    def __getattr__(self, attr):  # get_source, get_filename, is_package ... of the real loader
        return getattr(self._loader, attr)


def _watched(fullname: str) -> bool:
    return fullname == "transformers" or fullname.startswith(("transformers.", _PACKAGE + "."))


class _Watcher(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if not _watched(fullname):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _WatchedLoader(spec.loader, fullname)
                return spec
        return None


def install() -> None:
    """Watch the trigger modules (once per process); register at once what is already loaded."""
    if not any(isinstance(f, _Watcher) for f in sys.meta_path):
        sys.meta_path.insert(0, _Watcher())
    with _lock:
        for name, step in _TRIGGERS.items():
            if name in sys.modules and step not in _pending:
                _pending.append(step)
        busy = [name for name, module in list(sys.modules.items()) if _watched(name)
                and getattr(getattr(module, "__spec__", None), "_initializing", False)]
    if not busy:  # else the watched module now running flushes when it ends
        _flush()


def register_all() -> None:
    """Register every config, model, processor and pipeline now (importing torch and transformers)."""
    with _lock:
        _pending.extend(_STEPS)
    _flush()
