"""Appearance of the skeleton Gaussians: base colour and the Neural Feature Modulator (NFM).

Base colour (as released by the authors): learnable per-Gaussian features through an MLP
(3 -> 64 -> 4) give a base RGB and an opacity logit; the RGB is mixed with a per-frame depth
ramp colour ``(d, 1 - 2|d - 1/2|, 1 - d)`` by ``sigmoid(lambda)`` (lambda starts at -0.5).

NFM: from each Gaussian's joint position, finite-difference velocity and base RGBA it predicts
an RGB residual, an opacity residual and a saliency gate per frame;
``alpha = sigmoid(alpha_base + d_alpha) * sigmoid(gate)``. The paper runs a single-layer GRU
over time per Gaussian (``nfm_type="gru"``); the authors' code an MLP 10 -> 64 -> 5 per frame
(``nfm_type="mlp"``).
"""

from __future__ import annotations

import torch
from torch import nn

from ...errors import SkeletonInputError

NFM_INPUTS = 10  # joint position 3 + velocity 3 + base RGBA 4
NFM_OUTPUTS = 5  # RGB residual 3 + opacity residual 1 + saliency gate 1


def depth_ramp(depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Depth ramp colour (..., K, 3) from camera depths (..., K).

    ``d`` is the depth normalised to [0, 1] over the valid Gaussians of each frame (the last
    axis); colour ``(d, 1 - 2|d - 1/2|, 1 - d)``: near red, middle green, far blue.
    """
    big = torch.finfo(depth.dtype).max
    lo = torch.where(valid, depth, torch.full_like(depth, big)).amin(dim=-1, keepdim=True)
    hi = torch.where(valid, depth, torch.full_like(depth, -big)).amax(dim=-1, keepdim=True)
    span = hi - lo
    ok = span > 1e-6
    d = torch.where(ok, (depth - lo) / torch.where(ok, span, torch.ones_like(span)), torch.zeros_like(depth))
    d = d.clamp(0.0, 1.0)
    return torch.stack([d, 1.0 - 2.0 * (d - 0.5).abs(), 1.0 - d], dim=-1)


class GaussianColor(nn.Module):
    """Per-Gaussian learnable features -> base RGB and opacity logit; depth-cue mixing.

    Args:
        num_gaussians: K.
        feature_dim: size of each Gaussian's feature vector (3 as released).
        hidden: MLP hidden width (64 as released).
        depth_cue: mix in the depth ramp colour with weight ``sigmoid(lambda)``.
        depth_mix_init: initial lambda (-0.5 as released).
    """

    def __init__(self, num_gaussians: int, feature_dim: int = 3, hidden: int = 64, depth_cue: bool = True,
                 depth_mix_init: float = -0.5):
        super().__init__()
        self.features = nn.Parameter(torch.zeros(num_gaussians, feature_dim))
        self.mlp = nn.Sequential(nn.Linear(feature_dim, hidden), nn.ReLU(), nn.Linear(hidden, 4))
        self.depth_cue = depth_cue
        self.depth_mix_init = depth_mix_init
        if depth_cue:
            self.depth_mix = nn.Parameter(torch.full((), float(depth_mix_init)))

    def base(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Base RGB (K, 3) in [0, 1] and opacity logit (K,)."""
        out = self.mlp(self.features)
        return torch.sigmoid(out[:, :3]), out[:, 3]

    def mix_depth(self, rgb: torch.Tensor, depth: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Mix RGB (..., K, 3) with the depth ramp of camera depths (..., K); identity without depth cue."""
        if not self.depth_cue:
            return rgb
        lam = torch.sigmoid(self.depth_mix)
        return (1.0 - lam) * rgb + lam * depth_ramp(depth, valid)


class NeuralFeatureModulator(nn.Module):
    """NFM: per-Gaussian, per-frame RGB/opacity residuals and a saliency gate.

    Args:
        nfm_type: ``"gru"`` (paper: single-layer GRU over time, then a linear head) or ``"mlp"``
            (authors' code: MLP 10 -> hidden -> 5 applied to every frame independently).
        hidden: hidden width (64).
    """

    def __init__(self, nfm_type: str = "gru", hidden: int = 64):
        super().__init__()
        if nfm_type not in ("gru", "mlp"):
            raise SkeletonInputError("nfm_type", "'gru' or 'mlp'", nfm_type)
        self.nfm_type = nfm_type
        if nfm_type == "gru":
            self.gru = nn.GRU(NFM_INPUTS, hidden, num_layers=1, batch_first=True)
            self.head = nn.Linear(hidden, NFM_OUTPUTS)
        else:
            self.mlp = nn.Sequential(nn.Linear(NFM_INPUTS, hidden), nn.ReLU(), nn.Linear(hidden, NFM_OUTPUTS))
        self.output_layer.is_nfm_output = True  # lets a model's weight init find the gate bias
        with torch.no_grad():
            self.output_layer.bias[4] = 0.0  # saliency gate starts at sigmoid(0) = 0.5

    @property
    def output_layer(self) -> nn.Linear:
        return self.head if self.nfm_type == "gru" else self.mlp[-1]

    def forward(self, position: torch.Tensor, velocity: torch.Tensor, base_rgba: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Residuals for every Gaussian and frame.

        Args:
            position: (N, T, K, 3) weight-aggregated joint position of each Gaussian (metres,
                centred on the clip).
            velocity: (N, T, K, 3) finite-difference velocity on the original frame rate.
            base_rgba: (K, 4) base RGB and base opacity (probability) from the colour MLP.

        Returns:
            d_rgb (N, T, K, 3), d_alpha (N, T, K), gate (N, T, K) logits.
        """
        N, T, K, _ = position.shape
        x = torch.cat([position, velocity, base_rgba.to(position).expand(N, T, K, 4)], dim=-1)
        if self.nfm_type == "gru":
            seq = x.permute(0, 2, 1, 3).reshape(N * K, T, NFM_INPUTS)
            h, _ = self.gru(seq)
            out = self.head(h).reshape(N, K, T, NFM_OUTPUTS).permute(0, 2, 1, 3)
        else:
            out = self.mlp(x)
        return out[..., :3], out[..., 3], out[..., 4]
