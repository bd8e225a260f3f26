"""Command-line contract details a new user hit (issue 24): where a run trains in `show`/`jobs`,
progress bars that end at the full count, `wait` on a run that has already ended."""

from __future__ import annotations

import io
import json
import socket
from types import SimpleNamespace

import numpy as np
from rich.console import Console

from engine.config import RunConfig
from engine.store.runs import RunStore
from supertui.cli import main
from supertui.cli.progress import TrainDisplay


def test_show_and_jobs_name_host_and_executor_for_every_run(capsys, isolated_data_dir):
    assert main(["train", "dims", "--n", "20", "--m", "4", "--densities", "1:0.1:3", "--steps", "10", "--no-compile"]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["show", run_id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["host"] == socket.gethostname() and shown["executor"] == "local"
    assert main(["show", run_id]) == 0
    assert f"host={socket.gethostname()} executor=local" in capsys.readouterr().out

    store = RunStore(isolated_data_dir)
    config = RunConfig(preset="dims", n=20, m=4, steps=10)
    store.submit(config, extra={"executor": {"kind": "ray", "address": "127.0.0.1:6379"}})
    assert main(["jobs", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["status"] == "queued" and row["executor"] == "ray" and row["host"] is None


def test_wait_on_a_cancelled_run_never_says_it_is_queued(capsys, isolated_data_dir):
    store = RunStore(isolated_data_dir)
    record = store.submit(RunConfig(preset="dims", n=20, m=4, steps=10))
    assert store.request_cancel(record.id) == "cancelled"
    assert main(["wait", record.id]) == 1
    out = capsys.readouterr().out
    assert "queued" not in out, out
    assert out.strip().splitlines() == [f"dims/relu: cancelled"], out


def test_a_finished_bar_shows_the_full_count_and_final_loss_and_no_time_left():
    display = TrainDisplay(live=True)
    config = RunConfig(preset="phase", activation="relu", steps=4000)
    task = display.start(config, "run-1")
    state = SimpleNamespace(step=3990, steps=4000, losses=np.array([0.06, 0.05]), stage="compiled",
                            diverged=np.zeros(2, bool), steps_per_second=2500.0, seconds_left=0.004)
    task.update_live(state)
    record = SimpleNamespace(summary={"final_loss": 0.05636}, status="completed", error=None,
                             manifest={"steps_done": 4000})
    task.finish(record)
    out = Console(file=io.StringIO(), width=150, record=True)
    out.print(display.progress.get_renderable())
    line = out.export_text()
    assert "4000/4000" in line and "loss 0.05636" in line, line
    assert "0:00:0" not in line and "-:--:--" not in line and "steps/s" not in line, line


def test_a_sweep_member_is_named_by_its_swept_value_and_names_resolve(capsys, isolated_data_dir):
    store = RunStore(isolated_data_dir)
    config = RunConfig(preset="dims", n=20, m=4, steps=10)
    first = store.submit(config, extra={"sweep": {"id": "sweep-x", "axes": {"lr": 0.003}}})
    again = store.submit(config)
    twin = store.submit(config)
    assert first.name == "dims-relu-n20m4-lr0.003"
    assert (again.name, twin.name) == ("dims-relu-n20m4", "dims-relu-n20m4-2")  # new runs get a free name
    assert main(["show", "dims-relu-n20m4-2", "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["id"] == twin.id and shown["name"] == "dims-relu-n20m4-2"
    assert main(["runs", "--json"]) == 0
    assert {row["name"] for row in json.loads(capsys.readouterr().out)} == {first.name, again.name, twin.name}
