"""Property: a mutated real file either loads as a valid SkeletonSequence or raises a typed error.

The mutations and the base inputs are benchmarks/fuzz_readers.py's (which runs >= 10,000 per reader);
here hypothesis draws a few dozen per reader and shrinks any failure to a small operation list.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

_spec = importlib.util.spec_from_file_location(
    "fuzz_readers", Path(__file__).resolve().parents[2] / "benchmarks" / "fuzz_readers.py")
fz = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fz)

READERS = ["nucla", "bvh", "humanml3d", "trc", "openpose", "openpose_folder", "ntu", "coco", "array"]

_unit = st.floats(min_value=0.0, max_value=0.999, allow_nan=False)
_op = st.tuples(st.sampled_from(fz.OPS), _unit, _unit,
                st.one_of(st.sampled_from(fz.TEXTS), st.binary(min_size=1, max_size=8)))


@pytest.fixture(scope="module")
def bases(data_dir):
    return fz.base_inputs(data_dir)


def test_unmutated_bases_load(bases, tmp_path):
    assert set(bases) >= set(READERS) and all(bases[reader] for reader in READERS)
    for reader in READERS:
        for name, data, kwargs in bases[reader]:
            assert fz.run_one(tmp_path / "w", name, data, kwargs) == ("accepted", ""), reader


@pytest.mark.parametrize("reader", READERS)
def test_mutated_real_files_raise_only_typed_errors(reader, bases, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(reader) / "w"

    @settings(max_examples=40, deadline=None, database=None, derandomize=True,
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
    @given(which=st.integers(0, len(bases[reader]) - 1), ops=st.lists(_op, min_size=1, max_size=3))
    def check(which, ops):
        name, data, kwargs = bases[reader][which]
        outcome, detail = fz.run_one(workdir, name, fz.mutate(data, ops), kwargs)
        assert outcome in ("accepted", "typed"), detail

    check()


def test_mutate_operations_do_what_they_say():
    data = b"a 1\nb 2.5\nc -3e2\n"
    assert fz.mutate(data, [("truncate", 0.5, 0, b"")]) == data[:len(data) // 2]
    assert fz.mutate(data, [("delete_line", 0.0, 0, b"")]) == b"b 2.5\nc -3e2\n"
    assert fz.mutate(data, [("number", 0.4, 0, b"abc")]) == b"a 1\nb abc\nc -3e2\n"
    assert fz.mutate(data, [("swap_lines", 0.0, 0.3, b"")]) == b"b 2.5\na 1\nc -3e2\n"
    assert fz.mutate(data, [("flip", 0.0, 0.5, b"")]) == bytes([128]) + data[1:]


def test_structure_aware_operations_do_what_they_say():
    assert fz.mutate(b"a b c", [("token", 0.5, 0, b"X")]) == b"a X c"
    assert fz.mutate(b'{"a": [1, 2]}', [("json_node", 0.5, 0.0, b"")]) == b'{"a": [null, 2]}'
    assert fz.mutate(b"R {\n J {\n }\n}", [("block", 0.6, 0.2, b"")]) == b"R {\n J {\n }\n{\n }\n}"
    assert fz.mutate(b"R {\n J {\n }\n}", [("block", 0.6, 0.7, b"")]) == b"R {\n J \n}"
    assert fz.mutate(b"Frames: 4\n", [("count", 0.0, 0.5, b"")]) == b"Frames: 40001\n"
    header = b"{'descr': '<f4', 'fortran_order': False, 'shape': (3, 22, 3), }"
    assert b"(1000000000000, 25, 3)" in fz.mutate(header, [("npy_header", 0.0, 0.0, b"")])
    assert fz.LONG_INT in fz.TEXTS and len(fz.LONG_INT) > 4300


def test_size_claims_are_small_files():
    claims = fz.size_claims()
    assert {reader for reader, *_ in claims} >= {"ntu", "coco", "openpose_folder", "bvh", "trc", "array", "humanml3d"}
    for reader, case, name, data, kwargs in claims:
        size = len(data) + sum(len(d) for _, d in kwargs.get("_siblings", []))
        assert size < 3e6, case  # each claims far more than it holds: the readers must not allocate it
