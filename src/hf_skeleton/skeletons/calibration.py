"""Calibrated cameras for multi-view triangulation: read a calibration file, project and undistort points.

Two file kinds are read (TOML with ``tomllib``, or ``tomli`` on Python 3.10):

- Pose2Sim / anipose TOML (``calibration.toml``): one table per camera with ``name``, ``size = [w, h]``,
  ``matrix`` (3 x 3 intrinsics, pixels), ``distortions = [k1, k2, p1, p2]`` (OpenCV order, optionally
  ``k3``), ``rotation`` (Rodrigues vector, world -> camera), ``translation`` (metres, world -> camera) and
  ``fisheye`` (only ``false`` is supported); other tables (``[metadata]``) are ignored.
- Qualisys QTM export (``*.qca.txt``, XML): per ``<camera serial=...>`` a ``<transform>`` (rotation
  ``r11..r33`` and the camera's position ``x, y, z`` in millimetres), an ``<intrinsic>`` (focal length and
  principal point in QTM's 1/64-pixel sub-pixel units, ``radialDistortion1..3``,
  ``tangentalDistortion1..2``) and a ``<fov_video>`` window whose ``left``/``top`` offset the principal
  point. The conversion to a world -> OpenCV-camera transform is Pose2Sim's ``calib_qca_to_toml``
  (``R = diag(1, -1, -1) @ M``, ``t = -R @ position``, ``M`` the ``r`` matrix as written). One difference:
  Pose2Sim also divides the distortion coefficients by 64; they are dimensionless (only the focal length
  and principal point are in sub-pixel units), so they are used as written here. On the Pose2Sim demo the
  person stays near the image centre, where the two readings differ by 0.6 pixel on average (2.6 at most).

The world frame is the calibration's own (Qualisys and Pose2Sim calibrations: z up, metres).

Projection is OpenCV's pinhole model with Brown-Conrady distortion (``cv2.projectPoints``), undistortion
its fixed-point inverse (``cv2.undistortPoints``), both in plain NumPy so that triangulating needs no
OpenCV; the tests compare them with OpenCV.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import SkeletonFileError, SkeletonInputError
from .readers._common import natural_key, read_text

CALIBRATION_SUFFIXES = (".toml", ".qca.txt")
UNDISTORT_ITERATIONS = 20  # OpenCV's undistortPoints default is 5; more costs little and converges further


@dataclass(frozen=True)
class Camera:
    """One calibrated camera.

    Attributes:
        name: the camera's name in the file (``cam01``); views are matched to cameras by it.
        size: (width, height) of the image in pixels.
        matrix: (3, 3) intrinsics ``[[fx, s, cx], [0, fy, cy], [0, 0, 1]]``, pixels.
        distortion: (5,) ``k1, k2, p1, p2, k3`` (OpenCV's order; dimensionless).
        rotation: (3, 3) world -> camera rotation (OpenCV camera: x right, y down, z forward).
        translation: (3,) world -> camera translation, metres: ``X_cam = rotation @ X_world + translation``.
    """

    name: str
    size: tuple[float, float]
    matrix: np.ndarray
    distortion: np.ndarray
    rotation: np.ndarray
    translation: np.ndarray

    @property
    def center(self) -> np.ndarray:
        """(3,) the camera's position in the world frame, metres."""
        return -self.rotation.T @ self.translation

    def projection_matrix(self) -> np.ndarray:
        """(3, 4) ``matrix @ [rotation | translation]``: world (homogeneous) -> undistorted pixels."""
        return self.matrix @ np.hstack([self.rotation, self.translation[:, None]])

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points -> (..., 3) camera coordinates."""
        return np.asarray(points, dtype=np.float64) @ self.rotation.T + self.translation

    def distort(self, normalized: np.ndarray) -> np.ndarray:
        """(..., 2) ideal normalised coordinates ``(x/z, y/z)`` -> (..., 2) distorted normalised coordinates."""
        k1, k2, p1, p2, k3 = self.distortion
        x, y = normalized[..., 0], normalized[..., 1]
        r2 = x * x + y * y
        radial = 1.0 + r2 * (k1 + r2 * (k2 + r2 * k3))
        xd = x * radial + 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
        yd = y * radial + p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
        return np.stack([xd, yd], axis=-1)

    def project(self, points: np.ndarray) -> np.ndarray:
        """(..., 3) world points (metres) -> (..., 2) pixels, lens distortion applied (``cv2.projectPoints``).
        Points at or behind the camera give NaN."""
        cam = self.to_camera(points)
        z = cam[..., 2:3]
        with np.errstate(divide="ignore", invalid="ignore"):
            normalized = np.where(z > 1e-9, cam[..., :2] / z, np.nan)
        return self._to_pixels(self.distort(normalized))

    def undistort(self, pixels: np.ndarray) -> np.ndarray:
        """(..., 2) observed pixels -> (..., 2) ideal (undistorted) pixels: where a pinhole camera with the
        same intrinsics would have seen the point (``cv2.undistortPoints(..., P=matrix)``)."""
        pixels = np.asarray(pixels, dtype=np.float64)
        fx, s, cx = self.matrix[0]
        fy, cy = self.matrix[1, 1], self.matrix[1, 2]
        yd = (pixels[..., 1] - cy) / fy
        xd = (pixels[..., 0] - cx - s * yd) / fx
        distorted = np.stack([xd, yd], axis=-1)
        if np.any(self.distortion != 0):
            k1, k2, p1, p2, k3 = self.distortion
            x, y = xd, yd
            for _ in range(UNDISTORT_ITERATIONS):  # OpenCV's fixed-point iteration
                r2 = x * x + y * y
                icdist = 1.0 / (1.0 + r2 * (k1 + r2 * (k2 + r2 * k3)))
                dx = 2.0 * p1 * x * y + p2 * (r2 + 2.0 * x * x)
                dy = p1 * (r2 + 2.0 * y * y) + 2.0 * p2 * x * y
                x, y = (xd - dx) * icdist, (yd - dy) * icdist
            distorted = np.stack([x, y], axis=-1)
        return self._to_pixels(distorted)

    def _to_pixels(self, normalized: np.ndarray) -> np.ndarray:
        x, y = normalized[..., 0], normalized[..., 1]
        K = self.matrix
        return np.stack([K[0, 0] * x + K[0, 1] * y + K[0, 2], K[1, 1] * y + K[1, 2]], axis=-1)


@dataclass(frozen=True)
class Calibration:
    """The cameras of one calibration file, in the file's order (Qualisys: natural order of the serials)."""

    cameras: tuple[Camera, ...]
    source: str = ""

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.cameras]

    def __len__(self) -> int:
        return len(self.cameras)

    def __iter__(self):
        return iter(self.cameras)

    def __getitem__(self, key: int | str) -> Camera:
        if isinstance(key, str):
            for camera in self.cameras:
                if camera.name == key:
                    return camera
            raise SkeletonInputError("camera", f"a camera of {self.source or 'the calibration'}: {self.names}", key)
        return self.cameras[key]


def _toml_loads(path: Path, text: str) -> dict[str, Any]:
    try:
        import tomllib  # Python >= 3.11
    except ModuleNotFoundError:  # Python 3.10: the same parser as a package
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise SkeletonFileError(path, None, "a TOML parser: Python >= 3.11 (tomllib) or `pip install tomli`",
                                    "neither") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SkeletonFileError(path, None, "TOML", str(e)[:80]) from None
    except ValueError as e:  # an integer over Python's 4,300-digit conversion limit
        raise SkeletonFileError(path, None, "TOML with numbers of ordinary size", " ".join(str(e).split())[:80]) from None
    except RecursionError:
        raise SkeletonFileError(path, None, "TOML nested less than ~1000 levels deep", "deeper nesting") from None


def rodrigues(vector: np.ndarray) -> np.ndarray:
    """(3,) axis * angle -> (3, 3) rotation matrix (``cv2.Rodrigues``)."""
    v = np.asarray(vector, dtype=np.float64)
    theta = float(np.linalg.norm(v))
    if theta < 1e-12:
        return np.eye(3)
    k = v / theta
    K = np.array([[0.0, -k[2], k[1]], [k[2], 0.0, -k[0]], [-k[1], k[0], 0.0]])
    return np.eye(3) + math.sin(theta) * K + (1.0 - math.cos(theta)) * (K @ K)


def is_calibration_file(path: str | Path) -> bool:
    """Whether ``path`` looks like a calibration this module reads (by name; TOML also by content)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".qca.txt"):
        return path.is_file()
    if name.endswith(".toml") and path.is_file():
        try:
            data = _toml_loads(path, read_text(path))
        except Exception:  # noqa: BLE001 - a sniff never raises
            return False
        return any(isinstance(v, dict) and "matrix" in v for v in data.values())
    return False


def find_calibration(folder: str | Path) -> Path | None:
    """The calibration file of a Pose2Sim-style trial folder: ``folder/calibration/*`` (or ``calib*``
    folders), then ``folder/*``; a TOML before a ``.qca.txt`` (Pose2Sim converts the latter to the former)."""
    folder = Path(folder)
    try:
        subs = sorted((d for d in folder.iterdir() if d.is_dir() and d.name.lower().startswith("calib")),
                      key=lambda d: natural_key(d.name))
    except OSError:
        return None
    for where in [*subs, folder]:
        try:
            files = sorted((f for f in where.iterdir() if f.is_file()), key=lambda f: natural_key(f.name))
        except OSError:
            continue
        for suffix in CALIBRATION_SUFFIXES:
            for f in files:
                if f.name.lower().endswith(suffix) and is_calibration_file(f):
                    return f
    return None


def load_calibration(path: str | Path | Calibration) -> Calibration:
    """Read a Pose2Sim/anipose ``.toml`` or a Qualisys ``.qca.txt`` calibration (see the module docstring);
    a folder is searched with :func:`find_calibration`.

    Raises:
        SkeletonFileError: missing file, unknown kind, or a camera entry that is missing a field or holds a
            value of the wrong shape (the error names the file, the camera and the field).
    """
    if isinstance(path, Calibration):
        return path
    path = Path(path)
    if path.is_dir():
        found = find_calibration(path)
        if found is None:
            raise SkeletonFileError(path, None, "a folder holding a calibration file (calibration/*.toml or "
                                                "*.qca.txt)", "none")
        path = found
    name = path.name.lower()
    if name.endswith(".qca.txt"):
        cameras = _read_qca(path)
    elif name.endswith(".toml"):
        cameras = _read_toml(path)
    else:
        raise SkeletonFileError(path, "extension", "a calibration file: .toml (Pose2Sim/anipose) or .qca.txt "
                                                   "(Qualisys)", path.suffix or "no extension")
    if not cameras:
        raise SkeletonFileError(path, "cameras", "at least one camera", 0)
    names = [c.name for c in cameras]
    if len(set(names)) != len(names):
        raise SkeletonFileError(path, "camera names", "distinct camera names", names)
    return Calibration(tuple(cameras), str(path))


def _numbers(path: Path, field: str, value: Any, shape: tuple[int, ...], expected: str) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise SkeletonFileError(path, field, expected, repr(value)[:60]) from None
    if arr.shape != shape:
        raise SkeletonFileError(path, field, expected, f"shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SkeletonFileError(path, field, f"{expected}, all finite", repr(value)[:60])
    return arr


def _camera(path: Path, where: str, name: str, size, matrix, distortion, rotation, translation) -> Camera:
    for field, value in (("size", size), ("matrix", matrix), ("distortion", distortion), ("rotation", rotation),
                         ("translation", translation)):
        with np.errstate(all="ignore"):  # finite numbers in the file can still combine into inf (1e308 - -1e308)
            finite = np.isfinite(np.asarray(value, dtype=np.float64)).all()
        if not finite:
            raise SkeletonFileError(path, f"{where}.{field}", "finite numbers", np.asarray(value).tolist())
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0 or np.any(matrix[2] != [0.0, 0.0, 1.0]) or matrix[1, 0] != 0:
        raise SkeletonFileError(path, f"{where}.matrix", "intrinsics [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with "
                                                         "fx, fy > 0", matrix.tolist())
    if abs(np.linalg.det(rotation) - 1.0) > 1e-3 or np.abs(rotation @ rotation.T - np.eye(3)).max() > 1e-3:
        raise SkeletonFileError(path, f"{where}.rotation", "a rotation (orthonormal, determinant +1)",
                                np.round(rotation, 4).tolist())
    dist = np.zeros(5)
    dist[:len(distortion)] = distortion
    if np.any(np.asarray(size) <= 0):
        raise SkeletonFileError(path, f"{where}.size", "[width, height] > 0 pixels", list(size))
    return Camera(name=name, size=(float(size[0]), float(size[1])), matrix=matrix, distortion=dist,
                  rotation=rotation, translation=translation)


def _read_toml(path: Path) -> list[Camera]:
    data = _toml_loads(path, read_text(path))
    cameras = []
    for key, table in data.items():
        if not isinstance(table, dict) or "matrix" not in table:
            continue  # [metadata] and other non-camera tables
        for field in ("size", "distortions", "rotation", "translation"):
            if field not in table:
                raise SkeletonFileError(path, f"[{key}].{field}", f"the camera field {field!r}", "missing")
        if table.get("fisheye", False) not in (False, 0):
            raise SkeletonFileError(path, f"[{key}].fisheye", "false (fisheye lenses are not supported)",
                                    table["fisheye"])
        name = table.get("name", key)
        if not isinstance(name, str) or not name:
            raise SkeletonFileError(path, f"[{key}].name", "a camera name (string)", name)
        distortion = np.asarray(table["distortions"], dtype=object)
        n = distortion.size if distortion.ndim == 1 else -1
        if n not in (4, 5):
            raise SkeletonFileError(path, f"[{key}].distortions", "[k1, k2, p1, p2] or [k1, k2, p1, p2, k3]",
                                    table["distortions"])
        cameras.append(_camera(
            path, f"[{key}]", name,
            _numbers(path, f"[{key}].size", table["size"], (2,), "[width, height] in pixels"),
            _numbers(path, f"[{key}].matrix", table["matrix"], (3, 3), "a 3 x 3 intrinsics matrix"),
            _numbers(path, f"[{key}].distortions", table["distortions"], (n,), "distortion numbers"),
            rodrigues(_numbers(path, f"[{key}].rotation", table["rotation"], (3,), "a Rodrigues vector [rx, ry, rz]")),
            _numbers(path, f"[{key}].translation", table["translation"], (3,), "a translation [tx, ty, tz] in metres"),
        ))
    if not cameras:
        raise SkeletonFileError(path, "tables", "camera tables with 'matrix', 'size', 'distortions', 'rotation', "
                                                "'translation' (Pose2Sim/anipose calibration)",
                                f"tables {sorted(data)[:8]}")
    return cameras


def _attr(path: Path, element: ET.Element, where: str, name: str) -> float:
    value = element.get(name)
    if value is None:
        raise SkeletonFileError(path, f"{where} {name}", f"the attribute {name!r}", "missing")
    try:
        number = float(value)
    except ValueError:
        raise SkeletonFileError(path, f"{where} {name}", "a number", value[:40]) from None
    if not math.isfinite(number):
        raise SkeletonFileError(path, f"{where} {name}", "a finite number", value[:40])
    return number


def _read_qca(path: Path) -> list[Camera]:
    text = read_text(path)
    if "<!DOCTYPE" in text or "<!ENTITY" in text:
        raise SkeletonFileError(path, "DOCTYPE", "a Qualisys calibration without DTD or entity declarations",
                                "a DOCTYPE/ENTITY declaration")
    try:
        root = ET.fromstring(text)
    except ET.ParseError as e:
        raise SkeletonFileError(path, f"line {e.position[0]}", "well-formed XML (a Qualisys .qca.txt)",
                                str(e)[:80]) from None
    elements = root.findall("cameras/camera")
    if not elements:
        raise SkeletonFileError(path, "cameras/camera", "Qualisys <calibration><cameras><camera ...> elements",
                                f"root <{root.tag}> without cameras")
    cameras = []
    for i, cam in enumerate(elements):
        name = cam.get("serial") or f"camera{i + 1}"
        where = f"camera {name!r}"
        if cam.get("active", "1") == "0":
            continue
        parts = {}
        for tag in ("transform", "intrinsic", "fov_video"):
            parts[tag] = cam.find(tag)
            if parts[tag] is None:
                raise SkeletonFileError(path, f"{where} <{tag}>", f"a <{tag}> element", "missing")
        tr, it, fov = parts["transform"], parts["intrinsic"], parts["fov_video"]
        M = np.array([[_attr(path, tr, f"{where} <transform>", f"r{r}{c}") for c in (1, 2, 3)] for r in (1, 2, 3)])
        position = np.array([_attr(path, tr, f"{where} <transform>", k) for k in "xyz"]) / 1000.0  # mm -> m
        rotation = np.diag([1.0, -1.0, -1.0]) @ M  # QTM camera (z backwards) -> OpenCV camera (z forwards)
        left, top = (_attr(path, fov, f"{where} <fov_video>", k) for k in ("left", "top"))
        right, bottom = (_attr(path, fov, f"{where} <fov_video>", k) for k in ("right", "bottom"))
        g = {k: _attr(path, it, f"{where} <intrinsic>", k) for k in (
            "focalLengthU", "focalLengthV", "centerPointU", "centerPointV", "radialDistortion1",
            "radialDistortion2", "radialDistortion3", "tangentalDistortion1", "tangentalDistortion2")}
        skew = _attr(path, it, f"{where} <intrinsic>", "skew") if it.get("skew") else 0.0
        matrix = np.array([[g["focalLengthU"] / 64, skew / 64, g["centerPointU"] / 64 - left],
                           [0.0, g["focalLengthV"] / 64, g["centerPointV"] / 64 - top], [0.0, 0.0, 1.0]])
        distortion = [g["radialDistortion1"], g["radialDistortion2"], g["tangentalDistortion1"],
                      g["tangentalDistortion2"], g["radialDistortion3"]]
        cameras.append(_camera(path, where, name, (right - left + 1, bottom - top + 1), matrix,
                               np.array(distortion), rotation, -rotation @ position))
    return sorted(cameras, key=lambda c: _serial_key(c.name))


def _serial_key(name: str) -> list[Any]:
    """Natural order of camera serials (cam2 before cam10) without ``int()``: a serial is the file's text and
    may hold more digits than Python converts (4,300); digit runs compare by length, then digit by digit."""
    return [(len(t.lstrip("0")), t.lstrip("0"), t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]
