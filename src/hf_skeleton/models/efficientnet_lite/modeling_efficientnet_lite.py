"""EfficientNet-Lite as a transformers model: the ImageNet feature extractor and classifier.

``EfficientNetLiteModel(pixel_values)``: pixel values (B, 3, H, W) in [-1, 1] -> ``last_hidden_state``
(B, 1280, H/32, W/32) and ``pooler_output`` (B, 1280); with ``config.token_grid = g`` also tokens
(B, g*g, 1280) as ``hidden_states[-1]`` (a LLaVA vision tower). ``EfficientNetLiteForImageClassification`` adds
dropout and a linear head: ``logits`` (B, num_labels). The layout (stem, 16 MBConv blocks for Lite0, head
convolution, classifier) follows the TF-Lite release (timm's ``tf_efficientnet_lite0``, SAME padding), so
the released weights map tensor by tensor, in order (:func:`hf_skeleton.backbones.map_state_dict_by_order`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.activations import ACT2FN
from transformers.modeling_outputs import (
    BaseModelOutputWithPoolingAndNoAttention,
    ImageClassifierOutputWithNoAttention,
)

from ...errors import SkeletonInputError
from ...modeling_utils import SkeletonModelMixin
from .configuration_efficientnet_lite import EfficientNetLiteConfig


class EfficientNetLiteConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow SAME padding (``padding="same"``: for stride 2 on an even
    input the extra row/column goes bottom/right) or PyTorch's symmetric ``kernel // 2`` padding."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, groups: int = 1,
                 padding: str = "same"):
        super().__init__(in_channels, out_channels, kernel_size, stride=stride, groups=groups, bias=False,
                         padding=kernel_size // 2 if padding == "symmetric" else 0)
        self.same_padding = padding == "same"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_padding:
            pads = []
            for size, k, s in zip(x.shape[-1:-3:-1], self.kernel_size[::-1], self.stride[::-1]):
                total = max((-(-size // s) - 1) * s + k - size, 0)
                pads += [total // 2, total - total // 2]
            if any(pads):
                x = F.pad(x, pads)
        return super().forward(x)


def _bn(config: EfficientNetLiteConfig, channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=config.batch_norm_eps, momentum=config.batch_norm_momentum)


class EfficientNetLiteEmbeddings(nn.Module):
    """Stem: (B, 3, H, W) -> 3x3 stride-2 conv, BN, ReLU6 -> (B, 32, H/2, W/2)."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__()
        self.convolution = EfficientNetLiteConv2d(config.num_channels, config.stem_channels, 3, stride=2,
                                                  padding=config.padding)
        self.batchnorm = _bn(config, config.stem_channels)
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.activation(self.batchnorm(self.convolution(pixel_values)))


class EfficientNetLiteBlock(nn.Module):
    """MBConv without squeeze-excite: 1x1 expand (if ratio > 1), k x k depthwise (stride s), 1x1 project.

    (B, C_in, H, W) -> (B, C_out, H/s, W/s); residual (with stochastic depth in training) when s = 1 and
    C_in = C_out.
    """

    def __init__(self, config: EfficientNetLiteConfig, in_channels: int, out_channels: int, expand_ratio: int,
                 kernel_size: int, stride: int, drop_rate: float):
        super().__init__()
        hidden = in_channels * expand_ratio
        self.expand = expand_ratio != 1
        if self.expand:
            self.expand_conv = EfficientNetLiteConv2d(in_channels, hidden, 1, padding=config.padding)
            self.expand_bn = _bn(config, hidden)
        self.depthwise_conv = EfficientNetLiteConv2d(hidden, hidden, kernel_size, stride=stride, groups=hidden,
                                                     padding=config.padding)
        self.depthwise_bn = _bn(config, hidden)
        self.project_conv = EfficientNetLiteConv2d(hidden, out_channels, 1, padding=config.padding)
        self.project_bn = _bn(config, out_channels)
        self.activation = ACT2FN[config.hidden_act]
        self.residual = stride == 1 and in_channels == out_channels
        self.drop_rate = drop_rate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.activation(self.expand_bn(self.expand_conv(x))) if self.expand else x
        h = self.activation(self.depthwise_bn(self.depthwise_conv(h)))
        h = self.project_bn(self.project_conv(h))
        if not self.residual:
            return h
        if self.training and self.drop_rate > 0:  # stochastic depth: drop the whole branch per sample
            keep = 1.0 - self.drop_rate
            mask = torch.empty(h.shape[0], 1, 1, 1, device=h.device, dtype=h.dtype).bernoulli_(keep)
            h = h * mask / keep
        return h + x


class EfficientNetLiteEncoder(nn.Module):
    """The MBConv stages and the 1x1 head conv: (B, 32, H/2, W/2) -> (B, 1280, H/32, W/32)."""

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__()
        blocks, stage_ends = [], []
        in_channels, total = config.stem_channels, config.num_blocks
        for expand, kernel, stride, out_channels, repeats in zip(
                config.expand_ratios, config.kernel_sizes, config.strides, config.out_channels, config.num_repeats):
            for r in range(repeats):
                blocks.append(EfficientNetLiteBlock(config, in_channels, out_channels, expand, kernel,
                                                    stride if r == 0 else 1,
                                                    config.drop_connect_rate * len(blocks) / total))
                in_channels = out_channels
            stage_ends.append(len(blocks) - 1)
        self.blocks = nn.ModuleList(blocks)
        self.stage_ends = set(stage_ends)
        self.top_conv = EfficientNetLiteConv2d(in_channels, config.head_channels, 1, padding=config.padding)
        self.top_bn = _bn(config, config.head_channels)
        self.activation = ACT2FN[config.hidden_act]

    def forward(self, x: torch.Tensor, output_hidden_states: bool = False):
        states = [x] if output_hidden_states else None
        for i, block in enumerate(self.blocks):
            x = block(x)
            if output_hidden_states and i in self.stage_ends:
                states.append(x)
        x = self.activation(self.top_bn(self.top_conv(x)))
        return x, (tuple(states) if output_hidden_states else None)


class EfficientNetLitePreTrainedModel(SkeletonModelMixin, PreTrainedModel):
    config_class = EfficientNetLiteConfig
    base_model_prefix = "efficientnet_lite"
    main_input_name = "pixel_values"
    input_modalities = ("image",)
    _no_split_modules = ("EfficientNetLiteBlock",)

    @torch.no_grad()
    def _init_weights(self, module: nn.Module) -> None:
        # TensorFlow EfficientNet's initialisers: conv N(0, 2 / fan_out), dense U(+-1/sqrt(out)), BN identity
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.Linear):
            bound = module.out_features ** -0.5
            init.uniform_(module.weight, -bound, bound)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
            init.zeros_(module.running_mean)
            init.ones_(module.running_var)
            init.zeros_(module.num_batches_tracked)

    def train(self, mode: bool = True):
        """``nn.Module.train``; with ``config.frozen_eval``, frozen BatchNorm layers and blocks stay in eval mode."""
        super().train(mode)
        if mode and getattr(self.config, "frozen_eval", False):
            for module in self.modules():
                if isinstance(module, (nn.BatchNorm2d, EfficientNetLiteBlock)) and \
                        not any(p.requires_grad for p in module.parameters()):
                    module.eval()
        return self


def _check_pixels(pixel_values: torch.Tensor, channels: int) -> None:
    if not torch.is_tensor(pixel_values) or pixel_values.ndim != 4 or pixel_values.shape[1] != channels:
        raise SkeletonInputError("pixel_values", f"a (B, {channels}, H, W) tensor in [-1, 1]",
                                 getattr(pixel_values, "shape", type(pixel_values)))


class EfficientNetLiteModel(EfficientNetLitePreTrainedModel):
    """EfficientNet-Lite features: ``model(pixel_values)`` with pixel values (B, 3, H, W) in [-1, 1] gives

    - ``last_hidden_state``: (B, 1280, ceil(H/32), ceil(W/32)), after the head conv + BN + ReLU6;
    - ``pooler_output``: (B, 1280), its spatial mean;
    - ``hidden_states`` (``output_hidden_states=True``): the stem output and each stage's output,
      (B, 32, H/2, W/2), (B, 16, H/2, W/2), (B, 24, H/4, W/4), ... (B, 320, H/32, W/32) for Lite0;
    - with ``config.token_grid = g``, ``hidden_states`` always ends with the tokens (B, g*g, 1280):
      ``last_hidden_state`` average-pooled adaptively to g x g, row by row (only the tokens when
      ``output_hidden_states`` is off).
    """

    # a classifier checkpoint (the released weights) loads here too: its head is dropped quietly
    _keys_to_ignore_on_load_unexpected = (r"^classifier\.",)

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        self.embeddings = EfficientNetLiteEmbeddings(config)
        self.encoder = EfficientNetLiteEncoder(config)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, output_hidden_states: bool | None = None,
                return_dict: bool | None = None, **kwargs) -> BaseModelOutputWithPoolingAndNoAttention:
        _check_pixels(pixel_values, self.config.num_channels)
        output_hidden_states = bool(output_hidden_states if output_hidden_states is not None
                                    else self.config.output_hidden_states)
        pixel_values = pixel_values.to(self.embeddings.convolution.weight.dtype)  # e.g. float32 renders, bf16 tower
        features, states = self.encoder(self.embeddings(pixel_values), output_hidden_states)
        grid = getattr(self.config, "token_grid", None)
        if grid is not None:
            tokens = F.adaptive_avg_pool2d(features, grid).flatten(2).transpose(1, 2)
            states = (*(states or ()), tokens)
        out = BaseModelOutputWithPoolingAndNoAttention(last_hidden_state=features,
                                                       pooler_output=features.mean(dim=(2, 3)),
                                                       hidden_states=states)
        return out if return_dict is not False else out.to_tuple()


class EfficientNetLiteForImageClassification(EfficientNetLitePreTrainedModel):
    """EfficientNet-Lite with its classifier: pixel values (B, 3, H, W) in [-1, 1] -> ``logits``
    (B, num_labels; 1000 ImageNet classes for the released weights). With ``labels`` (B,) the
    cross-entropy ``loss`` too."""

    remote_auto_class = "AutoModelForImageClassification"

    def __init__(self, config: EfficientNetLiteConfig):
        super().__init__(config)
        self.efficientnet_lite = EfficientNetLiteModel(config)
        self.dropout = nn.Dropout(config.dropout_rate)
        self.classifier = nn.Linear(config.head_channels, config.num_labels)
        self.post_init()

    def forward(self, pixel_values: torch.Tensor, labels: torch.Tensor | None = None,
                output_hidden_states: bool | None = None, return_dict: bool | None = None,
                **kwargs) -> ImageClassifierOutputWithNoAttention:
        base = self.efficientnet_lite(pixel_values, output_hidden_states=output_hidden_states, return_dict=True)
        logits = self.classifier(self.dropout(base.pooler_output))
        loss = F.cross_entropy(logits, labels.to(logits.device).long()) if labels is not None else None
        out = ImageClassifierOutputWithNoAttention(loss=loss, logits=logits, hidden_states=base.hidden_states)
        return out if return_dict is not False else out.to_tuple()


__all__ = ["EfficientNetLiteForImageClassification", "EfficientNetLiteModel", "EfficientNetLitePreTrainedModel"]
