"""The KV cache's name across transformers versions.

From transformers 5.24 ``generate()`` hands the cache to ``prepare_inputs_for_generation`` and to
``forward`` as ``cache`` and reads it back from ``outputs.cache``; before, both were ``past_key_values``.
Our models accept either name and pass the cache on under the installed version's name.
"""

from __future__ import annotations

import inspect

from transformers import GenerationMixin

from ..errors import SkeletonInputError

#: ``"cache"`` from transformers 5.24, ``"past_key_values"`` before.
CACHE_KWARG = "cache" if "cache" in inspect.signature(GenerationMixin.prepare_inputs_for_generation).parameters \
    else "past_key_values"
_CACHE_NAMES = ("cache", "past_key_values")


def take_cache(kwargs: dict):
    """Pop the KV cache from forward ``kwargs`` under either name; the value goes on to the wrapped
    model as ``**{CACHE_KWARG: cache}``. Both names at once is an error."""
    given = {name: kwargs.pop(name) for name in _CACHE_NAMES if kwargs.get(name) is not None}
    for name in _CACHE_NAMES:
        kwargs.pop(name, None)
    if len(given) > 1:
        raise SkeletonInputError("cache / past_key_values", "at most one of them", sorted(given))
    return next(iter(given.values()), None)


def output_cache(outputs):
    """The KV cache of a transformers ``ModelOutput``, read under the installed version's name."""
    return outputs.get(CACHE_KWARG) if hasattr(outputs, "get") else getattr(outputs, CACHE_KWARG, None)
