"""argparse types for bounded numbers: a bad value is a one-line usage error naming the option."""

from __future__ import annotations

import argparse
import re


def positive_int(text: str) -> int:
    return int_in(1, None)(text)


def int_in(lo: int, hi: int | None):
    """An argparse type: a whole number in lo..hi (hi None: no upper bound); long digit strings included."""
    expected = f"a whole number in {lo}..{hi}" if hi is not None else "a positive whole number" if lo == 1 \
        else f"a whole number >= {lo}"

    def parse(text: str) -> int:
        text = text.strip()
        if not re.fullmatch(r"[+-]?\d{1,18}", text):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text[:40]!r}")
        value = int(text)
        if value < lo or (hi is not None and value > hi):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def float_in(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False):
    """An argparse type: a finite decimal number in the interval lo..hi (open ends excluded)."""
    expected = f"a number in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"

    def parse(text: str) -> float:
        text = text.strip()
        if not re.fullmatch(r"[+-]?(\d{1,18}(\.\d{0,18})?|\.\d{1,18})([eE][+-]?\d{1,3})?", text):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {text[:40]!r}")
        value = float(text)
        if value < lo or value > hi or (lo_open and value == lo) or (hi_open and value == hi):
            raise argparse.ArgumentTypeError(f"expected {expected}, found {value:g}")
        return value

    parse.__name__ = "number"
    return parse
