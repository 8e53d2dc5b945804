"""transformers models, one folder each (configuration_*.py, modeling_*.py, processing_*.py).

Folders are imported by :mod:`hf_skeleton._registration`; import the classes from ``hf_skeleton``.
"""
