"""Batching for our pipelines through transformers' own iterator.

transformers collates a batch by padding token ids and feature tensors; our preprocessed items are
clips of different lengths (and their options), which the model's processor pads itself. So a batch
is collated as a list of items, and ``_forward`` receives ``{"batch": [item, ...]}``; everything else
(lists, generators, ``KeyDataset``, ``batch_size``, ``num_workers``, unbatching the outputs) is the
``Pipeline`` machinery's.
"""

from __future__ import annotations

from typing import Any


def collate_as_list(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"batch": list(items)}


def collate_one(items: list[dict[str, Any]]) -> dict[str, Any]:
    """batch_size=1: the item itself (transformers then does not unbatch the outputs)."""
    return items[0]


class ListBatchingMixin:
    """Put before ``transformers.Pipeline`` in the bases; ``_forward`` must accept ``{"batch": [...]}``
    and return a dict whose values are lists with one entry per item."""

    def get_iterator(self, inputs, num_workers: int, batch_size: int, preprocess_params, forward_params,
                     postprocess_params):
        import collections.abc

        from torch.utils.data import DataLoader
        from transformers.pipelines.pt_utils import PipelineDataset, PipelineIterator

        if isinstance(inputs, collections.abc.Sized):
            dataset = PipelineDataset(inputs, self.preprocess, preprocess_params)
        else:  # a generator: one worker, as transformers does
            dataset, num_workers = PipelineIterator(inputs, self.preprocess, preprocess_params), min(num_workers, 1)
        collate = collate_one if batch_size == 1 else collate_as_list
        loader = DataLoader(dataset, num_workers=num_workers, batch_size=batch_size, collate_fn=collate)
        model_iterator = PipelineIterator(loader, self.forward, forward_params, loader_batch_size=batch_size)
        return PipelineIterator(model_iterator, self.postprocess, postprocess_params)
