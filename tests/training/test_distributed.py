"""Two real processes (torchrun, gloo on CPU) train VGMT on N-UCLA clips exactly like one process.

(a) parameters and buffers are identical on both ranks after every step; (b) the loss trajectory of
2 x 2 clips per step equals that of one process with 4 clips per step (same seed, same order).
"""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import socket

import pytest

SCRIPT = Path(__file__).parent / "distributed" / "train_vgmt_steps.py"


def _run(cmd, timeout=240):
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # torchrun and both workers
        proc.communicate()
        pytest.fail(f"{cmd[:3]} did not finish in {timeout} s")
    assert proc.returncode == 0, out[-4000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path, data_dir):
    steps = 3
    _run([sys.executable, str(SCRIPT), "--data", str(data_dir), "--out", str(tmp_path / "one"),
          "--steps", str(steps), "--per-device-batch", "4"])
    _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
          "--master_port", str(_free_port()),
          str(SCRIPT), "--data", str(data_dir), "--out", str(tmp_path / "two"), "--steps", str(steps),
          "--per-device-batch", "2"])
    one = json.loads((tmp_path / "one" / "rank0.json").read_text())
    r0 = json.loads((tmp_path / "two" / "rank0.json").read_text())
    r1 = json.loads((tmp_path / "two" / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2 and one["world"] == 1
    assert len(r0["hashes"]) == steps and r0["hashes"] == r1["hashes"]
    assert len(one["losses"]) == len(r0["losses"]) == steps
    for a, b in zip(one["losses"], r0["losses"]):
        assert abs(a - b) <= 1e-5, (one["losses"], r0["losses"])
    assert r0["losses"] == r1["losses"]
