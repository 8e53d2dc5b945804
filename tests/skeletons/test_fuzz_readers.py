"""Property: a mutated real file either loads as a valid SkeletonSequence or raises a typed error.

The mutations and the base inputs are benchmarks/fuzz_readers.py's (which runs >= 10,000 per reader, 500 for
the two that run BlazePose); here hypothesis draws a few dozen per reader (8 for the video readers: about
0.4 s each) and shrinks any failure to a small operation list.
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

READERS = ["nucla", "bvh", "humanml3d", "humanml3d_vecs", "trc", "openpose", "openpose_folder", "openpose_trial",
           "ntu", "coco", "array", "calibration", "video", "multiview"]
EXAMPLES = {reader: 8 if reader in fz.VIDEO_READERS else 40 for reader in READERS}

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
@pytest.mark.filterwarnings("ignore:OpenPose reader. ignoring a Pose2Sim config")  # a mutated Config.toml
def test_mutated_real_files_raise_only_typed_errors(reader, bases, tmp_path_factory):
    workdir = tmp_path_factory.mktemp(reader) / "w"

    @settings(max_examples=EXAMPLES[reader], deadline=None, database=None, derandomize=True,
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


def test_mp4_box_edits_set_one_field_of_a_real_box(bases):
    data = bases["video"][0][1]
    boxes = fz.mp4_boxes(data)
    kinds = [kind for _, kind, _ in boxes]
    assert kinds[:4] == [b"ftyp", b"free", b"mdat", b"moov"] and {b"trak", b"stsd", b"stts", b"stsz"} <= set(kinds)
    assert sum(size for offset, kind, size in boxes if kind in (b"ftyp", b"free", b"mdat", b"moov")) == len(data)
    edited = fz.mutate(data, [("mp4_box", 0.0, 0.0, b"")])  # the first field of the first box (ftyp's size) -> 0
    assert edited[:4] == b"\0\0\0\0" and edited[4:] == data[4:]
    stts = next(offset for offset, kind, _ in boxes if kind == b"stts")
    claim = fz.video_claim()
    assert len(claim) == len(data) and int.from_bytes(claim[stts + 16:stts + 20], "big") == 10**9


def test_special_files_in_place_of_the_new_inputs_are_refused_or_skipped(bases, tmp_path):
    """A FIFO, /dev/zero, a folder or a broken link in place of a video, a trial's calibration or a calibration
    file is a typed error before any read; in place of a Pose2Sim Config.toml (optional) it is skipped."""
    for reader in ("video", "multiview", "calibration", "openpose_trial", "humanml3d_vecs"):
        name, data, kwargs = bases[reader][0]
        fine = ("typed", "accepted") if kwargs.get("_optional") else ("typed",)
        for kind in fz.SPECIAL_KINDS:
            outcome = fz.run_one(tmp_path / "w", name, data, kwargs, timeout=60, special=kind)
            assert outcome[0] in fine, (reader, kind, outcome)


def test_size_claims_are_small_files():
    claims = fz.size_claims()
    assert {reader for reader, *_ in claims} >= {"ntu", "coco", "openpose_folder", "bvh", "trc", "array", "humanml3d",
                                                 "humanml3d_vecs", "video"}
    for reader, case, name, data, kwargs in claims:
        assert fz.input_size(data, kwargs) < 3e6, case  # each claims far more than it holds: the readers must not allocate it
