"""The queue on a real Ray cluster, started here on this machine: runs complete with the losses of
local training, cancel stops a remote task, a killed Ray worker leaves a clear status."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from engine import RunStore
from tests.test_queue import FINAL, all_final, supertui, wait_until

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'supertui[ray]')")

TINY = ["custom", "--n", "4", "--m", "2", "--batch-size", "32", "--no-compile", "--densities", "1", "0.1"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """`ray start --head` on a free port; `ray stop` afterwards."""
    binary = shutil.which("ray") or os.path.join(os.path.dirname(sys.executable), "ray")
    port = free_port()
    temp = tmp_path_factory.mktemp("ray")
    proc = subprocess.run([binary, "start", "--head", f"--port={port}", "--num-cpus=2", "--include-dashboard=false",
                           "--disable-usage-stats", f"--temp-dir={temp}"], capture_output=True, text=True, timeout=180)
    if proc.returncode != 0:
        pytest.skip(f"a local Ray cluster did not start: {proc.stderr[-300:]}")
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([binary, "stop", "--force"], capture_output=True, timeout=120)


def test_a_sweep_through_ray_equals_local_training_and_faults_are_clear(cluster, isolated_data_dir):
    store = RunStore(isolated_data_dir)
    ray_args = ["--executor", "ray", "--address", cluster]
    proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "300", "-a", "relu", "tanh", *ray_args, "--detach")
    assert proc.returncode == 0, proc.stderr
    remote_ids = proc.stdout.split()
    wait_until(lambda: all(store.load(i).status in FINAL for i in remote_ids), timeout=240)
    local = supertui(isolated_data_dir, "train", *TINY, "--steps", "300", "-a", "relu", "tanh")
    assert local.returncode == 0, local.stderr
    local_ids = local.stdout.split()[-2:]
    for remote_id, local_id in zip(remote_ids, local_ids):
        remote, here = store.load(remote_id), store.load(local_id)
        assert remote.status == "completed"
        assert remote.manifest["executor"]["kind"] == "ray" and remote.manifest["host"]
        assert remote.manifest["device"] == "cpu"
        # Counter-hash data and init: the same numbers wherever the run trains.
        np.testing.assert_allclose(remote.arrays.final_loss, here.arrays.final_loss, rtol=1e-5)
        np.testing.assert_allclose(remote.arrays.W, here.arrays.W, rtol=1e-5, atol=1e-6)

    # Cancel a remote run mid-way: kept as cancelled, with what it trained.
    proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "10000000", "-a", "gelu", *ray_args, "--detach")
    (cancel_id,) = proc.stdout.split()
    wait_until(lambda: store.load(cancel_id).manifest.get("steps_done", 0) > 0 or
               (store.run_path(cancel_id) / "live.npz").exists(), timeout=120)
    assert supertui(isolated_data_dir, "cancel", cancel_id).returncode == 0
    wait_until(lambda: store.load(cancel_id).status == "cancelled", timeout=60)
    assert store.load(cancel_id).has_arrays

    # Kill the Ray worker under a run: the run says so, and nothing hangs.
    proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "10000000", "-a", "silu", *ray_args, "--detach")
    (killed_id,) = proc.stdout.split()
    wait_until(lambda: (store.run_path(killed_id) / "live.npz").exists(), timeout=120)
    os.kill(store.load(killed_id).manifest["pid"], signal.SIGKILL)
    wait_until(lambda: store.load(killed_id).status not in ("queued", "running"), timeout=60)
    record = store.load(killed_id)
    assert record.status == "interrupted" and "Ray task died" in record.error


def test_bad_ray_input_is_one_line_exit_2_nothing_queued(isolated_data_dir):
    cases = [
        (["--executor", "ray"], "address: --executor ray needs --address"),
        (["--executor", "ray", "--address", f"127.0.0.1:{free_port()}"], "address: no Ray cluster answers at"),
        (["--executor", "ray", "--address", "nonsense"], "address: cannot read 'nonsense'"),
        (["--address", "127.0.0.1:1"], "address: applies with --executor ray only"),
    ]
    env = {k: v for k, v in os.environ.items() if k != "SUPERTUI_RAY_ADDRESS"}
    for extra, message in cases:
        started = time.monotonic()
        proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "5", *extra, env=env)
        assert proc.returncode == 2, (extra, proc.stderr)
        assert proc.stderr.count("\n") == 1 and message in proc.stderr, proc.stderr
        assert time.monotonic() - started < 30
    assert not (isolated_data_dir / "runs").exists() or not list((isolated_data_dir / "runs").iterdir())


def test_a_cluster_without_gpus_refuses_cuda_runs(cluster, isolated_data_dir):
    proc = supertui(isolated_data_dir, "train", *TINY, "--steps", "5", "--device", "cuda", "--executor", "ray",
                    "--address", cluster)
    assert proc.returncode == 2
    assert "device: cuda runs need 1 GPU each" in proc.stderr and proc.stderr.count("\n") == 1
    assert not list((isolated_data_dir / "runs").glob("*")) if (isolated_data_dir / "runs").exists() else True
