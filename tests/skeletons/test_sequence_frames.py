"""SkeletonSequence.frame_range: every per-frame array is cut alike (a BVH clip carries orientations)."""

import numpy as np
import pytest

import hf_skeleton as hs


def test_frame_range_cuts_positions_mask_and_orientations(cmu_dir):
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")
    part = seq.frame_range(10, 26)
    assert part.num_frames == 16 and part.format == seq.format and part.fps == seq.fps
    np.testing.assert_array_equal(part.positions, seq.positions[10:26])
    np.testing.assert_array_equal(part.mask, seq.mask[10:26])
    np.testing.assert_array_equal(part.orientations, seq.orientations[10:26])
    part.positions[:] = 0  # a copy, not a view
    assert np.abs(seq.positions[10:26]).max() > 0
    assert seq.frame_range(-4).num_frames == 4


@pytest.mark.parametrize("start, stop", [(5, 5), (400, None), (10, 2)])
def test_frame_range_refuses_an_empty_range(cmu_dir, start, stop):
    seq = hs.load_skeleton(cmu_dir / "02_01.bvh")
    with pytest.raises(hs.SkeletonInputError, match="frame_range"):
        seq.frame_range(start, stop)
