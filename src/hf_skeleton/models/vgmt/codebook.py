"""Hybrid codebook of paired (visual, skeletal) prototypes with EMA updates and dead-code reset.

Code k is a pair (c_v[k], c_s[k]). A token with encoder outputs (z_v, z_s) takes the code minimising
``||z_v - c_v||^2 + ||z_s - c_s||^2`` (the authors quantise the concatenation [z_v | z_s] against
2048-d codes, which is the same argmin). Without RGB the skeletal term alone chooses the code, so
motion can be tokenised with no video; the paired visual half of the chosen code still feeds the
decoder.

Codes are not trained by gradients: per half, an exponential moving average of assignment counts
and of the sums of assigned vectors gives ``code = ema_sum / ema_count`` (decay 0.99). Every
``reset_every`` training steps, codes chosen by no token during that window are replaced by random
encoder outputs of the current batch (pairs stay pairs: both halves come from the same token). All of
this state lives in persistent buffers, so it is saved and loaded with the weights.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import SkeletonInputError


@dataclass
class CodebookOutput:
    """codes (N,); quantized (N, Dv + Ds) = [visual | skeletal] with straight-through gradients to the
    encoder outputs that were given; commit_s / commit_v scalar commitment losses; perplexity scalar."""

    codes: torch.Tensor
    quantized: torch.Tensor
    commit_s: torch.Tensor
    commit_v: torch.Tensor
    perplexity: torch.Tensor


def squared_distances(z: torch.Tensor, codes: torch.Tensor) -> torch.Tensor:
    """(N, D), (K, D) -> (N, K) squared Euclidean distances (expanded form, clamped at 0)."""
    d = z.pow(2).sum(1, keepdim=True) - 2.0 * z @ codes.t() + codes.pow(2).sum(1)[None]
    return d.clamp_min_(0.0)


class HybridCodebook(nn.Module):
    """K paired prototypes; ``visual_dim = 0`` gives a plain skeletal EMA codebook."""

    def __init__(self, num_codes: int, skeletal_dim: int, visual_dim: int = 0, decay: float = 0.99,
                 reset_every: int = 20, eps: float = 1e-6):
        super().__init__()
        self.num_codes, self.skeletal_dim, self.visual_dim = num_codes, skeletal_dim, visual_dim
        self.decay, self.reset_every, self.eps = decay, reset_every, eps
        self.register_buffer("embed_s", torch.randn(num_codes, skeletal_dim, dtype=torch.float32))
        self.register_buffer("ema_count_s", torch.ones(num_codes, dtype=torch.float32))
        self.register_buffer("ema_sum_s", self.embed_s.clone())
        if visual_dim:
            self.register_buffer("embed_v", torch.randn(num_codes, visual_dim, dtype=torch.float32))
            self.register_buffer("ema_count_v", torch.ones(num_codes, dtype=torch.float32))
            self.register_buffer("ema_sum_v", self.embed_v.clone())
        self.register_buffer("window_usage", torch.zeros(num_codes, dtype=torch.float32))
        self.register_buffer("num_updates", torch.zeros((), dtype=torch.long))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.bool))

    def _apply(self, fn, recurse=True):
        """``.to(dtype)`` / ``.half()`` move the codebook but keep its EMA state in float32: bfloat16 sums of
        thousands of assignments would lose the updates (the model's layers still take the new dtype)."""
        super()._apply(fn, recurse)
        for name, buf in self._buffers.items():
            if buf is not None and buf.is_floating_point() and buf.dtype != torch.float32:
                self._buffers[name] = buf.float()
        return self

    # ------------------------------------------------------------------ lookup
    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (...) -> full codes (..., Dv + Ds) = [visual | skeletal]."""
        if codes.dtype not in (torch.int32, torch.int64):
            raise SkeletonInputError("codes", "an integer tensor of code ids", str(codes.dtype))
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.num_codes):
            raise SkeletonInputError("codes", f"ids in [0, {self.num_codes - 1}]",
                                     (int(codes.min()), int(codes.max())))
        parts = [self.embed_v[codes]] if self.visual_dim else []
        return torch.cat(parts + [self.embed_s[codes]], dim=-1)

    def distances(self, z_s: torch.Tensor, z_v: torch.Tensor | None = None) -> torch.Tensor:
        """(N, K) summed squared distances; the skeletal term alone when ``z_v`` is None."""
        d = squared_distances(z_s.float(), self.embed_s.float())  # float32 whatever the model's dtype (bf16)
        if z_v is not None:
            d = d + squared_distances(z_v.float(), self.embed_v.float())
        return d

    # ------------------------------------------------------------------ forward
    def forward(self, z_s: torch.Tensor, z_v: torch.Tensor | None = None,
                valid: torch.Tensor | None = None) -> CodebookOutput:
        """Quantise N tokens. z_s (N, Ds), z_v (N, Dv) or None, valid (N,) bool: tokens that count for
        the EMA statistics, the reset and the losses (all by default)."""
        n = z_s.shape[0]
        if z_s.ndim != 2 or z_s.shape[1] != self.skeletal_dim:
            raise SkeletonInputError("z_s", f"(N, {self.skeletal_dim})", tuple(z_s.shape))
        if z_v is not None and (not self.visual_dim or tuple(z_v.shape) != (n, self.visual_dim)):
            raise SkeletonInputError("z_v", f"({n}, {self.visual_dim}) on a codebook with a visual half",
                                     tuple(z_v.shape))
        valid = torch.ones(n, dtype=torch.bool, device=z_s.device) if valid is None else valid.bool()
        zs_d = z_s.detach().float()
        zv_d = None if z_v is None else z_v.detach().float()
        if self.training and not bool(self.initialized) and bool(valid.any()):
            self._init_from(zs_d[valid], None if zv_d is None else zv_d[valid])
        with torch.no_grad():
            codes = self.distances(zs_d, zv_d).argmin(1)
        c_s = self.embed_s[codes].to(z_s.dtype)
        q_s = z_s + (c_s - z_s).detach()
        commit_s = _masked_mse(z_s, c_s, valid)
        if self.visual_dim:
            c_v = self.embed_v[codes].to(z_s.dtype if z_v is None else z_v.dtype)
            if z_v is not None:
                q_v = z_v + (c_v - z_v).detach()
                commit_v = _masked_mse(z_v, c_v, valid)
            else:
                q_v, commit_v = c_v, z_s.new_zeros(())
            quantized = torch.cat([q_v, q_s], -1)
        else:
            quantized, commit_v = q_s, z_s.new_zeros(())
        counts = torch.bincount(codes[valid], minlength=self.num_codes).float()
        if self.training and bool(valid.any()):
            with torch.no_grad():
                self._ema_update(codes[valid], counts, zs_d[valid], None if zv_d is None else zv_d[valid])
        return CodebookOutput(codes=codes, quantized=quantized, commit_s=commit_s, commit_v=commit_v,
                              perplexity=perplexity_from_counts(counts))

    # ------------------------------------------------------------------ EMA and reset
    @torch.no_grad()
    def _broadcast_codes(self) -> None:
        """Codes drawn from one rank's batch (init, dead-code reset) are copied to every rank."""
        if _distributed():
            for name in ("embed_s", "ema_sum_s", "ema_count_s", "embed_v", "ema_sum_v", "ema_count_v"):
                if hasattr(self, name):
                    torch.distributed.broadcast(getattr(self, name), src=0)

    @torch.no_grad()
    def _init_from(self, zs: torch.Tensor, zv: torch.Tensor | None) -> None:
        """Data-dependent start: codes = random encoder outputs of the first training batch."""
        idx = _random_rows(zs.shape[0], self.num_codes, zs.device)
        self._set_codes(torch.arange(self.num_codes, device=zs.device), zs[idx], None if zv is None else zv[idx])
        self._broadcast_codes()
        self.initialized.fill_(True)

    @torch.no_grad()
    def _set_codes(self, which: torch.Tensor, zs: torch.Tensor, zv: torch.Tensor | None) -> None:
        self.embed_s[which] = zs
        self.ema_sum_s[which] = zs
        self.ema_count_s[which] = 1.0
        if zv is not None:
            self.embed_v[which] = zv
            self.ema_sum_v[which] = zv
            self.ema_count_v[which] = 1.0

    @torch.no_grad()
    def _ema_update(self, codes: torch.Tensor, counts: torch.Tensor, zs: torch.Tensor,
                    zv: torch.Tensor | None) -> None:
        d = self.decay
        counts = _all_reduce_sum(counts.clone())  # data-parallel ranks share one global EMA
        halves = [("s", zs)] + ([("v", zv)] if zv is not None else [])
        for name, z in halves:
            count, total, embed = (getattr(self, f"ema_count_{name}"), getattr(self, f"ema_sum_{name}"),
                                   getattr(self, f"embed_{name}"))
            sums = _all_reduce_sum(torch.zeros_like(total).index_add_(0, codes, z))
            count.mul_(d).add_(counts, alpha=1 - d)
            total.mul_(d).add_(sums, alpha=1 - d)
            embed.copy_(total / count.clamp_min(self.eps)[:, None])
        self.window_usage += counts
        self.num_updates += 1
        if self.reset_every and int(self.num_updates) % self.reset_every == 0:
            dead = torch.nonzero(self.window_usage == 0).flatten()
            if dead.numel():
                idx = _random_rows(zs.shape[0], dead.numel(), zs.device)
                self._set_codes(dead, zs[idx], None if zv is None else zv[idx])
                self._broadcast_codes()
            self.window_usage.zero_()


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized() \
        and torch.distributed.get_world_size() > 1


def _all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum over data-parallel ranks (identity in a single process)."""
    if _distributed():
        torch.distributed.all_reduce(t)
    return t


def _random_rows(n: int, k: int, device: torch.device) -> torch.Tensor:
    """k row ids of n: a permutation when n >= k, else with replacement."""
    if n >= k:
        return torch.randperm(n, device=device)[:k]
    return torch.randint(0, n, (k,), device=device)


def _masked_mse(z: torch.Tensor, c: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    if not bool(valid.any()):
        return z.new_zeros(())
    return F.mse_loss(z[valid], c.detach()[valid])


def perplexity_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the code-usage distribution given by ``counts`` (K,); 0 when nothing was counted."""
    total = counts.sum()
    if float(total) == 0:
        return counts.new_zeros(())
    p = counts / total
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())
