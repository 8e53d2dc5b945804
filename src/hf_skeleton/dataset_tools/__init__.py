"""Skeleton datasets on the Hugging Face `datasets` stack: conversion of raw folders (N-UCLA, CMU BVH,
HumanML3D, NTU RGB+D, Pose2Sim, and any folder listed by a labels.csv) or in-memory clips into sharded parquet
with explicit features and a dataset card, and the row <-> :class:`~hf_skeleton.SkeletonSequence` conversions a
collator needs."""

from .builders import from_arrays, from_folder
from .convert import ConversionResult, convert_dataset, load_converted, read_card_configs
from .features import collate_skeletons, example_to_sequence, sequence_to_example, skeleton_features
from .folder import FolderSource, format_from_json, stratified_split
from .sources import NTU_ACTIONS, SOURCES

__all__ = [
    "NTU_ACTIONS",
    "SOURCES",
    "ConversionResult",
    "FolderSource",
    "collate_skeletons",
    "convert_dataset",
    "example_to_sequence",
    "format_from_json",
    "from_arrays",
    "from_folder",
    "load_converted",
    "read_card_configs",
    "sequence_to_example",
    "skeleton_features",
    "stratified_split",
]
