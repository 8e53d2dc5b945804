"""Custom pipelines, registered with transformers' PIPELINE_REGISTRY when hf_skeleton is imported."""
