"""Configuration of EfficientNet-Lite (Tan & Le 2019; the TF-Lite friendly variant: no squeeze-excite, ReLU6,
fixed stem and head widths)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from transformers import PretrainedConfig

from ...errors import SkeletonInputError

# EfficientNet-B0 stages: (expand ratio, kernel, stride, output channels, repeats); Lite drops SE only.
_B0_STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
              (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
# variant -> (width coefficient, depth coefficient, image size, dropout), as efficientnet_lite_builder.py
LITE_VARIANTS = {
    "lite0": (1.0, 1.0, 224, 0.2),
    "lite1": (1.0, 1.1, 240, 0.2),
    "lite2": (1.1, 1.2, 260, 0.3),
    "lite3": (1.2, 1.4, 280, 0.3),
    "lite4": (1.4, 1.8, 300, 0.3),
}
PADDINGS = ("same", "symmetric")


def round_filters(filters: int, width: float, divisor: int = 8) -> int:
    """Channels scaled by ``width`` and rounded to a multiple of ``divisor`` (never below 90 %)."""
    scaled = filters * width
    new = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    return int(new + divisor if new < 0.9 * scaled else new)


def round_repeats(repeats: int, depth: float) -> int:
    return math.ceil(depth * repeats)


class EfficientNetLiteConfig(PretrainedConfig):
    r"""Configuration of :class:`EfficientNetLiteModel` / :class:`EfficientNetLiteForImageClassification`.

    The defaults are EfficientNet-Lite0 (4.7 M parameters, 224 px). :meth:`for_variant` gives Lite0-Lite4.

    Args:
        num_channels: input channels (3); pixel values are expected in [-1, 1].
        image_size: the resolution the weights were trained at (224 for Lite0); any size runs.
        stem_channels: output channels of the stride-2 3x3 stem convolution (32, fixed for Lite).
        expand_ratios, kernel_sizes, strides, out_channels, num_repeats: one entry per MBConv stage;
            a stage's first block has the stride and the channel change, the rest are residual.
        head_channels: channels of the final 1x1 convolution (1280, fixed for Lite); the feature size.
        hidden_act: activation (``"relu6"``).
        padding: ``"same"`` (TensorFlow SAME padding, as the released TF weights were trained) or
            ``"symmetric"`` (``kernel // 2`` on each side, as timm's PyTorch-trained ``efficientnet_lite0``).
        batch_norm_eps, batch_norm_momentum: BatchNorm epsilon (1e-3, TF's) and PyTorch momentum (0.01).
        dropout_rate: dropout before the classifier.
        drop_connect_rate: stochastic depth of the residual blocks, growing linearly to this value.
        initializer_range: kept for transformers' generic utilities (weights use TF's init).
        token_grid: ``None`` (default): features as maps only. An integer g >= 1: the head features are
            also average-pooled (adaptively) to g x g and returned as tokens (B, g*g, hidden_size), row by
            row, as the last entry of ``hidden_states`` (returned whenever ``token_grid`` is set). This lets
            a LLaVA-style composite use the network as its vision tower (``vision_feature_layer=-1``,
            ``vision_feature_select_strategy="full"``): g*g visual tokens per image.
        frozen_eval: ``False`` (default): ``train()`` puts every layer in training mode. ``True``: BatchNorm
            layers and MBConv blocks whose parameters are all frozen stay in inference mode while the model
            trains (running statistics used and left unchanged, no stochastic depth), so a frozen tower
            gives the features it was trained to give.
    """

    model_type = "efficientnet_lite"

    def __init__(
        self,
        num_channels: int = 3,
        image_size: int = 224,
        stem_channels: int = 32,
        expand_ratios: Sequence[int] = tuple(s[0] for s in _B0_STAGES),
        kernel_sizes: Sequence[int] = tuple(s[1] for s in _B0_STAGES),
        strides: Sequence[int] = tuple(s[2] for s in _B0_STAGES),
        out_channels: Sequence[int] = tuple(s[3] for s in _B0_STAGES),
        num_repeats: Sequence[int] = tuple(s[4] for s in _B0_STAGES),
        head_channels: int = 1280,
        hidden_act: str = "relu6",
        padding: str = "same",
        batch_norm_eps: float = 1e-3,
        batch_norm_momentum: float = 0.01,
        dropout_rate: float = 0.2,
        drop_connect_rate: float = 0.2,
        initializer_range: float = 0.02,
        token_grid: int | None = None,
        frozen_eval: bool = False,
        **kwargs,
    ):
        stages = [list(expand_ratios), list(kernel_sizes), list(strides), list(out_channels), list(num_repeats)]
        if len({len(s) for s in stages}) != 1 or not stages[0]:
            raise SkeletonInputError("EfficientNetLiteConfig stages",
                                     "expand_ratios, kernel_sizes, strides, out_channels and num_repeats "
                                     "of one equal, non-zero length", [len(s) for s in stages])
        if padding not in PADDINGS:
            raise SkeletonInputError("EfficientNetLiteConfig.padding", f"one of {PADDINGS}", padding)
        if token_grid is not None and (isinstance(token_grid, bool) or not isinstance(token_grid, int)
                                       or token_grid < 1):
            raise SkeletonInputError("EfficientNetLiteConfig.token_grid", "None or a positive integer", token_grid)
        self.token_grid = token_grid
        self.frozen_eval = bool(frozen_eval)
        self.num_channels = num_channels
        self.image_size = image_size
        self.stem_channels = stem_channels
        self.expand_ratios, self.kernel_sizes, self.strides, self.out_channels, self.num_repeats = stages
        self.head_channels = head_channels
        self.hidden_act = hidden_act
        self.padding = padding
        self.batch_norm_eps = batch_norm_eps
        self.batch_norm_momentum = batch_norm_momentum
        self.dropout_rate = dropout_rate
        self.drop_connect_rate = drop_connect_rate
        self.initializer_range = initializer_range
        super().__init__(**kwargs)

    @property
    def hidden_size(self) -> int:
        """Feature size of the pooled output (``head_channels``)."""
        return self.head_channels

    @property
    def num_image_tokens(self) -> int | None:
        """Tokens per image in ``hidden_states[-1]`` (``token_grid`` squared), None without ``token_grid``."""
        return None if self.token_grid is None else self.token_grid ** 2

    @property
    def num_blocks(self) -> int:
        return sum(self.num_repeats)

    @classmethod
    def for_variant(cls, variant: str = "lite0", **kwargs) -> EfficientNetLiteConfig:
        """The configuration of EfficientNet-``variant`` (``"lite0"`` ... ``"lite4"``).

        Lite keeps the stem (32) and head (1280) widths and the first and last stages' repeats fixed
        while scaling the rest by the variant's width and depth coefficients.
        """
        key = variant.lower().replace("efficientnet-", "").replace("efficientnet_", "")
        if key not in LITE_VARIANTS:
            raise SkeletonInputError("EfficientNet-Lite variant", f"one of {sorted(LITE_VARIANTS)}", variant)
        width, depth, size, dropout = LITE_VARIANTS[key]
        last = len(_B0_STAGES) - 1
        repeats = [r if i in (0, last) else round_repeats(r, depth) for i, (*_, r) in enumerate(_B0_STAGES)]
        defaults = {
            "image_size": size, "dropout_rate": dropout,
            "expand_ratios": [s[0] for s in _B0_STAGES], "kernel_sizes": [s[1] for s in _B0_STAGES],
            "strides": [s[2] for s in _B0_STAGES], "out_channels": [round_filters(s[3], width) for s in _B0_STAGES],
            "num_repeats": repeats,
        }
        return cls(**{**defaults, **kwargs})


__all__ = ["LITE_VARIANTS", "EfficientNetLiteConfig", "round_filters", "round_repeats"]
