"""One family of typed errors. Every message names the source, the field and what was expected."""

from __future__ import annotations

from typing import Any


class HFSkeletonError(Exception):
    """Base class of every error this package raises on purpose."""


def _describe(source: Any, field: str | None, expected: str | None, found: Any) -> str:
    parts = []
    if source is not None:
        parts.append(f"{source}")
    if field is not None:
        parts.append(f"field {field}")
    head = ": ".join(parts) if parts else "input"
    msg = head
    if expected is not None:
        msg += f": expected {expected}"
    if found is not None:
        found_text = repr(found)
        if len(found_text) > 120:
            found_text = found_text[:117] + "..."
        msg += f", found {found_text}"
    return msg


class SkeletonFileError(HFSkeletonError, ValueError):
    """A file could not be read as a skeleton recording.

    Attributes:
        path: the file (or folder) being read.
        field: the line, key or column that was wrong (e.g. ``"line 12"``, ``"skeletons[3][4]"``).
        expected: what the reader expected there.
        found: what it found.
    """

    def __init__(self, path: Any, field: str | None = None, expected: str | None = None,
                 found: Any = None, message: str | None = None):
        self.path = str(path) if path is not None else None
        self.field = field
        self.expected = expected
        self.found = found
        super().__init__(message or _describe(path, field, expected, found))


class SkeletonFormatError(HFSkeletonError, ValueError):
    """A skeleton format definition, or data that does not match a format."""

    def __init__(self, message: str, *, format_name: str | None = None, field: str | None = None):
        self.format_name = format_name
        self.field = field
        prefix = f"format {format_name!r}" if format_name else "skeleton format"
        if field:
            prefix += f", field {field}"
        super().__init__(f"{prefix}: {message}")


class SkeletonInputError(HFSkeletonError, ValueError):
    """Arrays or tensors handed to a model, processor or transform have the wrong shape, dtype or values."""

    def __init__(self, name: str, expected: str, found: Any = None):
        self.name = name
        self.expected = expected
        self.found = found
        super().__init__(_describe(None, name, expected, found).replace("input: ", "", 1))


class CheckpointError(HFSkeletonError, OSError):
    """A saved folder is incomplete or corrupted (weights, config or processor files)."""

    def __init__(self, path: Any, what: str):
        self.path = str(path)
        super().__init__(f"{path}: {what}")


class NoDefaultModelError(HFSkeletonError, LookupError):
    """A pipeline was asked for without ``model=`` and no embedded default exists for its task.

    Attributes:
        task: the pipeline task.
        hint: what to pass instead.
    """

    def __init__(self, task: str, hint: str):
        self.task = task
        self.hint = hint
        super().__init__(f"pipeline({task!r}) has no embedded default model: {hint}")
