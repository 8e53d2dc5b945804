"""Metrics and evaluation protocols."""

from .recognition import answer_log_likelihood, predict_labels, recognition_accuracy, score_candidate_labels
from .dataset_eval import captioning_metrics, evaluate_dataset, load_split, save_confusion_matrix
from .codebook_health import CodebookHealth, code_counts, codebook_health, pairwise_cosine, perplexity
from .motion_metrics import (
    PREDICTION_HORIZONS_MS,
    horizon_frames,
    inbetween_error,
    linear_interpolation,
    mm,
    mpjpe,
    n_mpjpe,
    p_mpjpe,
    prediction_errors,
    procrustes_align,
    zero_velocity_prediction,
)
