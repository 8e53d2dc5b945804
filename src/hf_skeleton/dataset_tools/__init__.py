"""Skeleton datasets on the Hugging Face `datasets` stack: conversion of raw folders (N-UCLA, CMU BVH,
HumanML3D, NTU RGB+D, Pose2Sim) into sharded parquet with explicit features and a dataset card, and
the row <-> :class:`~hf_skeleton.SkeletonSequence` conversions a collator needs."""

from .convert import ConversionResult, convert_dataset, load_converted, read_card_configs
from .features import collate_skeletons, example_to_sequence, sequence_to_example, skeleton_features
from .sources import NTU_ACTIONS, SOURCES

__all__ = [
    "NTU_ACTIONS",
    "SOURCES",
    "ConversionResult",
    "collate_skeletons",
    "convert_dataset",
    "example_to_sequence",
    "load_converted",
    "read_card_configs",
    "sequence_to_example",
    "skeleton_features",
]
