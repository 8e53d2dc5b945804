"""LLaMo's forward compiles without graph breaks (issue 20): the placeholder count check is skipped under
``torch.compile`` and the real motion tokens are ordered without boolean indexing (a data-dependent shape)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import hf_skeleton as hs
from hf_skeleton.testing import tiny_llamo


@pytest.mark.parametrize("video", [False, True])
def test_forward_has_no_graph_breaks_and_matches_eager(video, nucla_dir):
    import torch._dynamo as dynamo

    torch.manual_seed(0)
    model, proc = tiny_llamo(use_video=video)
    model.eval()
    # two clips of different lengths: padded motion tokens sit between the two clips' real ones
    clips = [hs.load_skeleton(nucla_dir / f) for f in ("a04_s01_e00_v01.json", "a01_s02_e00_v01.json")]
    assert clips[0].num_frames != clips[1].num_frames
    kwargs = {}
    if video:
        rng = np.random.default_rng(0)
        kwargs["videos"] = [rng.integers(0, 255, (6, 64, 80, 3), dtype=np.uint8) for _ in clips]
    inputs = proc(skeletons=clips, text=["What happens?", "Describe the motion."], **kwargs)
    with torch.no_grad():
        expected = model(**inputs)
        dynamo.reset()
        explained = dynamo.explain(model)(**inputs)
        compiled = torch.compile(model, backend="eager", fullgraph=True)(**inputs)
    assert explained.graph_break_count == 0, [str(r.reason)[:120] for r in explained.break_reasons]
    torch.testing.assert_close(compiled.logits, expected.logits)
    assert expected.motion_hidden_states.shape[0] == int((inputs["input_ids"] == model.config.motion_token_id).sum())
