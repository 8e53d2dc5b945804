"""``pipeline(task, model=folder)`` raises the checkpoint's own typed error.

transformers' ``pipeline()`` loads the model in ``transformers.pipelines.load_model``, which tries each
candidate class, catches ``OSError``/``ValueError``/``TypeError``/``RuntimeError`` and, when all fail,
raises ``ValueError("Could not load model ... with any of the following classes")`` with the
tracebacks as text: a :class:`~hf_skeleton.errors.CheckpointError` (an ``OSError``) naming the damaged
file and tensor would be lost. :func:`install` wraps that function once per process: when the load
fails and one of our models raised a typed error
(:func:`~hf_skeleton.modeling_utils.recorded_load_errors`), that error is raised instead. Every other
outcome (success, transformers' dtype fallback, other models' errors) is transformers' own.
"""

from __future__ import annotations

import functools

from ..modeling_utils import recorded_load_errors


def _typed(load_model):
    @functools.wraps(load_model)
    def wrapper(*args, **kwargs):
        with recorded_load_errors() as errors:
            try:
                return load_model(*args, **kwargs)
            except ValueError:
                if errors:
                    raise errors[-1] from None
                raise

    wrapper._hf_skeleton_typed = True
    return wrapper


def install() -> None:
    """Wrap ``transformers.pipelines.load_model`` (what ``pipeline()`` calls), once per process."""
    from transformers import pipelines

    current = getattr(pipelines, "load_model", None)
    if callable(current) and not getattr(current, "_hf_skeleton_typed", False):
        pipelines.load_model = _typed(current)
