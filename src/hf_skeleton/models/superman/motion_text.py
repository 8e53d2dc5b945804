"""Motion codes as text: ``<skel_k>`` tokens grouped by body part, and a strict parser back to codes.

A clip tokenised by VGMT is a code grid (S, N): S time steps (T / temporal_downsample frames) and N
codes per step (one per joint, or one per body part). Superman writes it as

    <skel_start>Frame 1: torso: <skel_12><skel_7>... left_arm: <skel_3>... right_leg: ...
    Frame 2: torso: ...<skel_end>

using the skeleton format's parts. Parsing is strict: a missing part, a wrong number of codes, an
unknown token, a frame out of order or a truncated block is a :class:`MotionParseError`, never a
silently repaired output, so that evaluation can count parse failures.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ...errors import HFSkeletonError, SkeletonInputError

START_TOKEN = "<skel_start>"
END_TOKEN = "<skel_end>"
CODE_TOKEN = "<skel_{}>"

PARSE_FAILURES = (
    "missing_start",
    "missing_end",
    "extra_text",
    "bad_frame",
    "missing_part",
    "unknown_part",
    "wrong_count",
    "unknown_token",
    "code_out_of_range",
    "wrong_length",
)

_LEXER = re.compile(
    r"<skel_start>|<skel_end>|<skel_(\d+)>|Frame\s+(\d+)\s*:|([A-Za-z][A-Za-z0-9_]*)\s*:|(\S+?)(?=<|\s|$)"
)


class MotionParseError(HFSkeletonError, ValueError):
    """Generated text is not a well-formed motion block.

    Attributes:
        reason: one of :data:`PARSE_FAILURES` (what the metric tallies).
        detail: where and what went wrong.
    """

    def __init__(self, reason: str, detail: str):
        self.reason = reason
        self.detail = detail
        super().__init__(f"motion text: {reason}: {detail}")


@dataclass
class MotionParse:
    """Result of :meth:`MotionTextFormatter.try_parse`: ``codes`` (S, N) or ``None`` with ``error``."""

    codes: torch.Tensor | None
    error: MotionParseError | None

    @property
    def ok(self) -> bool:
        return self.error is None


class MotionTextFormatter:
    """Writes code grids as body-part grouped text and parses them back strictly.

    Args:
        num_codes: codebook size K (tokens ``<skel_0>`` .. ``<skel_{K-1}>``).
        parts: ordered ``(part name, slot indices)``: which of the N codes of a step belong to each part.
            Every slot 0..N-1 appears exactly once.
    """

    def __init__(self, num_codes: int, parts: Sequence[tuple[str, Sequence[int]]]):
        if int(num_codes) < 1:
            raise SkeletonInputError("num_codes", "a positive codebook size", num_codes)
        self.num_codes = int(num_codes)
        self.parts = [(str(name), [int(i) for i in slots]) for name, slots in parts]
        flat = sorted(i for _, slots in self.parts for i in slots)
        if not self.parts or flat != list(range(len(flat))):
            raise SkeletonInputError("parts", "slots covering 0..N-1 exactly once", self.parts)
        names = [n for n, _ in self.parts]
        if len(set(names)) != len(names) or any(not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", n) for n in names):
            raise SkeletonInputError("parts", "unique identifier-like part names", names)
        self.codes_per_step = len(flat)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_vgmt_config(cls, config: Any) -> MotionTextFormatter:
        """Grouping from a :class:`~hf_skeleton.VGMTConfig` (its format's parts and token grouping)."""
        fmt = config.skeleton_format
        parts = dict(fmt.parts) or {"body": tuple(range(fmt.num_joints))}
        if config.token_grouping == "part":
            return cls(config.num_codes, [(name, [i]) for i, name in enumerate(parts)])
        return cls(config.num_codes, [(name, sorted(ids)) for name, ids in parts.items()])

    def to_dict(self) -> dict[str, Any]:
        return {"num_codes": self.num_codes, "parts": [[n, list(s)] for n, s in self.parts]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MotionTextFormatter:
        return cls(data["num_codes"], [(n, s) for n, s in data["parts"]])

    # ------------------------------------------------------------------ tokens
    @property
    def code_tokens(self) -> list[str]:
        return [CODE_TOKEN.format(k) for k in range(self.num_codes)]

    @property
    def all_tokens(self) -> list[str]:
        """The K code tokens followed by the start and end tokens (the order ids are assigned in)."""
        return self.code_tokens + [START_TOKEN, END_TOKEN]

    def add_to_tokenizer(self, tokenizer) -> int:
        """Add the motion tokens as normal added tokens (kept by ``skip_special_tokens``).

        Returns how many were new."""
        vocab = tokenizer.get_vocab()
        new = [t for t in self.all_tokens if t not in vocab]
        return tokenizer.add_tokens(new) if new else 0

    def token_ids(self, tokenizer) -> dict[str, Any]:
        """``{"codes": [id of <skel_k>], "start": id, "end": id}``; raises if the tokenizer lacks them."""
        ids = tokenizer.convert_tokens_to_ids(self.all_tokens)
        unk = tokenizer.unk_token_id
        missing = [t for t, i in zip(self.all_tokens, ids) if i is None or (unk is not None and i == unk)]
        if missing:
            raise SkeletonInputError(
                "tokenizer", "the motion tokens (call add_to_tokenizer first)", missing[:3]
            )
        return {"codes": ids[: self.num_codes], "start": ids[-2], "end": ids[-1]}

    # ------------------------------------------------------------------ formatting
    def format(self, codes: torch.Tensor | np.ndarray | Sequence) -> str:
        """Text of one code grid (S, N)."""
        arr = np.asarray(codes.detach().cpu() if isinstance(codes, torch.Tensor) else codes)
        if arr.ndim != 2 or arr.shape[1] != self.codes_per_step or arr.shape[0] < 1:
            raise SkeletonInputError(
                "codes", f"an integer array (S, {self.codes_per_step}) with S >= 1", tuple(arr.shape)
            )
        if not np.issubdtype(arr.dtype, np.integer) or arr.min() < 0 or arr.max() >= self.num_codes:
            raise SkeletonInputError(
                "codes",
                f"integer codes in 0..{self.num_codes - 1}",
                f"dtype {arr.dtype}, range {arr.min()}..{arr.max()}",
            )
        lines = []
        for s, row in enumerate(arr):
            groups = [
                f"{name}: " + "".join(CODE_TOKEN.format(int(row[i])) for i in slots)
                for name, slots in self.parts
            ]
            lines.append(f"Frame {s + 1}: " + " ".join(groups))
        return START_TOKEN + "\n".join(lines) + END_TOKEN

    # ------------------------------------------------------------------ parsing
    def parse(self, text: str, num_steps: int | None = None) -> torch.Tensor:
        """Codes (S, N) int64 from ``text``; ``num_steps`` demands exactly that many frames.

        Raises:
            MotionParseError: on anything but a complete, well-formed block (leading/trailing
                whitespace is the only text allowed outside it).
        """
        if not isinstance(text, str):
            raise MotionParseError("unknown_token", f"expected a string, found {type(text).__name__}")
        stripped = text.strip()
        if not stripped.startswith(START_TOKEN):
            raise MotionParseError(
                "missing_start" if START_TOKEN not in stripped else "extra_text",
                f"text must begin with {START_TOKEN}: {stripped[:40]!r}",
            )
        end = stripped.find(END_TOKEN)
        if end < 0:
            raise MotionParseError("missing_end", f"no {END_TOKEN} (truncated output?)")
        if stripped[end + len(END_TOKEN) :].strip():
            raise MotionParseError(
                "extra_text", f"text after {END_TOKEN}: {stripped[end + len(END_TOKEN) :][:40]!r}"
            )
        body = stripped[len(START_TOKEN) : end]

        frames: list[list[int | None]] = []
        row: list[int | None] = []
        part_idx = -1  # index of the part being filled in the current frame
        part_count = 0

        def close_part() -> None:
            if part_idx >= 0:
                name, slots = self.parts[part_idx]
                if part_count != len(slots):
                    raise MotionParseError(
                        "wrong_count",
                        f"frame {len(frames)}, part {name!r}: expected "
                        f"{len(slots)} codes, found {part_count}",
                    )

        def close_frame() -> None:
            close_part()
            if frames and part_idx != len(self.parts) - 1:
                missing = self.parts[part_idx + 1][0]
                raise MotionParseError("missing_part", f"frame {len(frames)} lacks part {missing!r}")

        for m in _LEXER.finditer(body):
            code, frame_no, part, junk = m.group(1), m.group(2), m.group(3), m.group(4)
            if m.group(0) in (START_TOKEN, END_TOKEN):
                raise MotionParseError("extra_text", f"a second {m.group(0)} inside the block")
            if frame_no is not None:
                close_frame()
                if int(frame_no) != len(frames) + 1:
                    raise MotionParseError(
                        "bad_frame", f"expected Frame {len(frames) + 1}, found Frame {frame_no}"
                    )
                row = [None] * self.codes_per_step
                frames.append(row)
                part_idx, part_count = -1, 0
            elif part is not None:
                if not frames:
                    raise MotionParseError("bad_frame", f"part {part!r} before any 'Frame 1:'")
                close_part()
                if part_idx + 1 >= len(self.parts) or self.parts[part_idx + 1][0] != part:
                    expected = (
                        self.parts[part_idx + 1][0] if part_idx + 1 < len(self.parts) else "a new frame"
                    )
                    reason = "unknown_part" if part not in dict(self.parts) else "missing_part"
                    raise MotionParseError(
                        reason, f"frame {len(frames)}: expected {expected!r}, found {part!r}"
                    )
                part_idx, part_count = part_idx + 1, 0
            elif code is not None:
                if part_idx < 0:
                    raise MotionParseError("missing_part", f"frame {len(frames)}: code before any part name")
                k = int(code)
                if k >= self.num_codes:
                    raise MotionParseError(
                        "code_out_of_range", f"<skel_{k}> with a codebook of {self.num_codes}"
                    )
                slots = self.parts[part_idx][1]
                if part_count >= len(slots):
                    raise MotionParseError(
                        "wrong_count",
                        f"frame {len(frames)}, part {self.parts[part_idx][0]!r}: "
                        f"more than {len(slots)} codes",
                    )
                row[slots[part_count]] = k
                part_count += 1
            else:
                raise MotionParseError("unknown_token", f"frame {len(frames)}: unexpected {junk!r}")
        if not frames:
            raise MotionParseError("wrong_length", "no frame in the block")
        close_frame()
        if num_steps is not None and len(frames) != int(num_steps):
            raise MotionParseError("wrong_length", f"expected {num_steps} frames, found {len(frames)}")
        return torch.tensor(frames, dtype=torch.long)

    def try_parse(self, text: str, num_steps: int | None = None) -> MotionParse:
        """Like :meth:`parse` but returns the failure instead of raising (for metrics that count it)."""
        try:
            return MotionParse(self.parse(text, num_steps), None)
        except MotionParseError as err:
            return MotionParse(None, err)

    def __repr__(self) -> str:
        return (
            f"MotionTextFormatter(num_codes={self.num_codes}, parts={[n for n, _ in self.parts]}, "
            f"codes_per_step={self.codes_per_step})"
        )
