"""Configuration of DrAction, the differentiable 3D-Gaussian skeleton renderer of SkeletonLLM."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from transformers import PretrainedConfig

from ...errors import SkeletonFormatError, SkeletonInputError
from ...modeling_utils import FormatConfigMixin, SkeletonConfigMixin
from ...rendering.camera import VIEWS
from ...skeletons.formats import SkeletonFormat, format_for_config, get_format

NFM_TYPES = ("gru", "mlp")
CAMERA_MODES = ("auto", "authors")
VIEW_FRAMES = ("body", "data")
SAMPLINGS = ("random", "uniform")
BACKENDS = ("auto", "torch", "gsplat", "dense")

# The authors' scale rule: (joint base, bone base, gamma); SMPL-22 uses gamma = 0 with smaller bases.
_SCALE_DEFAULTS = {"smpl22": (0.026, 0.016, 0.0)}
_SCALE_DEFAULT = (0.030, 0.020, 1.0)



class DrActionConfig(FormatConfigMixin, SkeletonConfigMixin, PretrainedConfig):
    r"""Configuration of :class:`DrActionModel`.

    Defaults are the paper's / the authors' released hyper-parameters except where noted.

    Args:
        format: skeleton format: a registered name, a :class:`SkeletonFormat` or its dict (saved in
            ``config.json``, so a user-defined format round-trips). J and the bones come from it.
        image_size: output images are ``image_size x image_size``.
        num_frames: frames T' rendered per clip (temporal sampling inside the model).
        backend: rasterizer backend: ``"auto"`` (gsplat on CUDA, torch otherwise), ``"torch"``,
            ``"gsplat"`` or ``"dense"``.
        gaussians_per_bone: n Gaussians along each bone (K = J + n E; 265 for Kinect v2).
        feature_dim: size of each Gaussian's learnable feature vector (3).
        color_mlp_hidden: hidden width of the colour MLP (feature_dim -> 64 -> 4).
        nfm_type: ``"gru"`` (paper) or ``"mlp"`` (authors' code: 10 -> 64 -> 5).
        nfm_hidden: NFM hidden width (64).
        velocity_offset: frames between the finite-difference ends, ``x(t + 4) - x(t)`` on the
            original frame rate.
        depth_cue: mix the depth ramp colour into the base colour with weight ``sigmoid(lambda)``.
        depth_mix_init: initial lambda (-0.5).
        gate_bias_init: initial saliency-gate bias (0, gate 0.5).
        learnable_skinning: learnable skinning logits (initialised from the topology weights)
            instead of the fixed topology weights.
        joint_scale_base, bone_scale_base, scale_gamma: the authors' isotropic scale rule; None
            picks their values for the format (0.030 / 0.020 / 1, SMPL-22 0.026 / 0.016 / 0).
        joint_scale_clamp, bone_scale_clamp: clamps in metres ([0.010, 0.035], [0.006, 0.030]).
        unit_scale: metres per data unit; None: from the format's units, or for non-metric units
            (pixels, normalised) the longest canonical bone counts as ``reference_bone_length``.
        reference_bone_length: metres of the longest bone for non-metric data (0.45).
        rest_pose: optional (J, 3) canonical pose used instead of each clip's first valid frame.
        camera: ``"auto"`` (framing that fits the whole clip, the default; not the authors') or
            ``"authors"`` (camera at the sensor origin looking down +z, y flipped, no framing).
        view: the view when ``views`` is None: one of ``front, back, left, right, side, top``.
        views: several views tiled into one image (a grid), e.g. ``["front", "side", "top"]``.
        view_frame: ``"body"`` (front = the person's front, from the mirror joints) or
            ``"data"`` (front = the data's forward axis, as the sensor saw it).
        fov: horizontal field of view in degrees (60).
        margin: fraction of the image kept free on each side by the auto-framing.
        background: RGB background colour in [0, 1].
        train_sampling: temporal sampling in training mode: ``"random"`` (one seeded random frame
            per segment) or ``"uniform"`` (segment centres, always used in eval mode).
        near, eps2d, tile_size: rasterizer settings (gsplat semantics); ``tile_size=None`` picks the
            backend's fastest (8 px tiles for torch, 16 for gsplat).
        initializer_range: kept for transformers' conventions (the renderer uses PyTorch's default
            layer initialisation, as the authors do).
    """

    model_type = "draction"

    def __init__(
        self,
        format: str | Mapping[str, Any] | SkeletonFormat = "kinect_v2",
        image_size: int = 224,
        num_frames: int = 16,
        backend: str = "auto",
        gaussians_per_bone: int = 10,
        feature_dim: int = 3,
        color_mlp_hidden: int = 64,
        nfm_type: str = "gru",
        nfm_hidden: int = 64,
        velocity_offset: int = 4,
        depth_cue: bool = True,
        depth_mix_init: float = -0.5,
        gate_bias_init: float = 0.0,
        learnable_skinning: bool = False,
        joint_scale_base: float | None = None,
        bone_scale_base: float | None = None,
        scale_gamma: float | None = None,
        joint_scale_clamp: Sequence[float] = (0.010, 0.035),
        bone_scale_clamp: Sequence[float] = (0.006, 0.030),
        unit_scale: float | None = None,
        reference_bone_length: float = 0.45,
        rest_pose: Sequence[Sequence[float]] | None = None,
        camera: str = "auto",
        view: str = "front",
        views: Sequence[str] | None = None,
        view_frame: str = "body",
        fov: float = 60.0,
        margin: float = 0.08,
        background: Sequence[float] = (0.0, 0.0, 0.0),
        train_sampling: str = "random",
        near: float = 0.01,
        eps2d: float = 0.3,
        tile_size: int | None = None,
        initializer_range: float = 0.02,
        **kwargs: Any,
    ):
        try:
            fmt = get_format(format)
        except SkeletonFormatError as err:
            raise SkeletonInputError("DrActionConfig.format",
                                     "a registered format name, a SkeletonFormat or its dict", str(err)) from None
        self.format = format_for_config(fmt)
        jb, bb, g = _SCALE_DEFAULTS.get(fmt.name, _SCALE_DEFAULT)
        self.image_size = image_size
        self.num_frames = num_frames
        self.backend = backend
        self.gaussians_per_bone = gaussians_per_bone
        self.feature_dim = feature_dim
        self.color_mlp_hidden = color_mlp_hidden
        self.nfm_type = nfm_type
        self.nfm_hidden = nfm_hidden
        self.velocity_offset = velocity_offset
        self.depth_cue = depth_cue
        self.depth_mix_init = float(depth_mix_init)
        self.gate_bias_init = float(gate_bias_init)
        self.learnable_skinning = learnable_skinning
        self.joint_scale_base = float(jb if joint_scale_base is None else joint_scale_base)
        self.bone_scale_base = float(bb if bone_scale_base is None else bone_scale_base)
        self.scale_gamma = float(g if scale_gamma is None else scale_gamma)
        self.joint_scale_clamp = [float(v) for v in joint_scale_clamp]
        self.bone_scale_clamp = [float(v) for v in bone_scale_clamp]
        self.unit_scale = None if unit_scale is None else float(unit_scale)
        self.reference_bone_length = float(reference_bone_length)
        self.rest_pose = None if rest_pose is None else [[float(c) for c in row] for row in rest_pose]
        self.camera = camera
        self.view = view
        self.views = None if views is None else [str(v) for v in views]
        self.view_frame = view_frame
        self.fov = float(fov)
        self.margin = float(margin)
        self.background = [float(c) for c in background]
        self.train_sampling = train_sampling
        self.near = float(near)
        self.eps2d = float(eps2d)
        self.tile_size = tile_size
        self.initializer_range = float(initializer_range)
        super().__init__(**kwargs)
        self._check()

    # ------------------------------------------------------------------ derived
    @property
    def num_gaussians(self) -> int:
        """K = J + n E."""
        fmt = self.skeleton_format
        return fmt.num_joints + self.gaussians_per_bone * fmt.num_bones

    @property
    def render_views(self) -> list[str]:
        """The views rendered into every image (one, or several tiled in a grid)."""
        return list(self.views) if self.views else [self.view]

    # ------------------------------------------------------------------ validation
    def _check(self) -> None:
        def bad(name: str, expected: str, found: Any) -> None:
            raise SkeletonInputError(f"DrActionConfig.{name}", expected, found)

        def positive_int(name: str, minimum: int = 1) -> None:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                bad(name, f"an integer >= {minimum}", value)

        for name, minimum in (("image_size", 8), ("num_frames", 1), ("gaussians_per_bone", 0),
                              ("feature_dim", 1), ("color_mlp_hidden", 1), ("nfm_hidden", 1),
                              ("velocity_offset", 1)):
            positive_int(name, minimum)
        if self.tile_size is not None:
            positive_int("tile_size", 1)
        choices = (("backend", BACKENDS), ("nfm_type", NFM_TYPES), ("camera", CAMERA_MODES),
                   ("view", VIEWS), ("view_frame", VIEW_FRAMES), ("train_sampling", SAMPLINGS))
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                bad(name, f"one of {allowed}", getattr(self, name))
        for name in ("depth_cue", "learnable_skinning"):
            if not isinstance(getattr(self, name), bool):
                bad(name, "a bool", getattr(self, name))
        if self.views is not None and (not self.views or any(v not in VIEWS for v in self.views)):
            bad("views", f"None or a non-empty list of views from {VIEWS}", self.views)
        for name in ("joint_scale_base", "bone_scale_base", "reference_bone_length"):
            if not getattr(self, name) > 0:
                bad(name, "a positive length in metres", getattr(self, name))
        if self.scale_gamma < 0:
            bad("scale_gamma", "a non-negative exponent", self.scale_gamma)
        for name in ("joint_scale_clamp", "bone_scale_clamp"):
            lo_hi = getattr(self, name)
            if len(lo_hi) != 2 or not 0 < lo_hi[0] <= lo_hi[1]:
                bad(name, "[low, high] with 0 < low <= high (metres)", lo_hi)
        if self.unit_scale is not None and not self.unit_scale > 0:
            bad("unit_scale", "None or a positive number of metres per unit", self.unit_scale)
        if self.rest_pose is not None and (len(self.rest_pose) != self.num_joints
                                           or any(len(r) != 3 for r in self.rest_pose)):
            bad("rest_pose", f"None or {self.num_joints} rows of 3 coordinates", self.rest_pose)
        if not 1.0 <= self.fov < 179.0:
            bad("fov", "a field of view in degrees in [1, 179)", self.fov)
        if not 0.0 <= self.margin < 0.45:
            bad("margin", "a fraction in [0, 0.45)", self.margin)
        if len(self.background) != 3 or any(not 0.0 <= c <= 1.0 for c in self.background):
            bad("background", "3 values in [0, 1] (RGB)", self.background)
        if not self.near >= 0 or not self.eps2d >= 0:
            bad("near/eps2d", "non-negative numbers", (self.near, self.eps2d))
        if self.skeleton_format.dims == 2 and self.camera == "auto" and any(
                v != "front" for v in self.render_views):
            bad("views", "only 'front' for an image-plane (2D) format: side and top views of z = 0 data "
                "are lines", self.render_views)
        if self.views is not None and self.image_size // _grid_cols(len(self.views)) < 8:
            bad("image_size", f"at least {8 * _grid_cols(len(self.views))} for a {len(self.views)}-view grid",
                self.image_size)


def _grid_cols(num_views: int) -> int:
    from ...rendering.camera import grid_shape

    return grid_shape(num_views)[1]
