"""A run folder is untrusted (issue 26 class 4, issue 22 item 4, the store's side): arrays that do
not match their manifest, and a FIFO, a folder, /dev/zero or a huge file in any place the store
reads, each cost one line naming the run, never a traceback, a hang, or another run."""

from __future__ import annotations

import itertools
import os
import random
import signal
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from engine.bounds import INDEX_MAX_BYTES, MANIFEST_MAX_BYTES
from engine.config import RunConfig
from engine.errors import StoreError
from engine.experiments import instance_table
from engine.store.runs import RunStore
from handmade import CONFIG, arrays_for, write_run
from supertui.cli import main

GOOD = "20260101-090000-custom-relu-11111111"
VICTIM = "20260101-100000-custom-relu-00000000"
RANDOM = random.Random(22)


@contextmanager
def within(seconds: int):
    """Fail (instead of hanging the suite) if the block blocks on a file."""
    def hung(signum, frame):
        raise AssertionError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


# -------------------------------------------------------------------------- arrays against manifests
def mismatch_configs() -> list[RunConfig]:
    """Small configs of every experiment with a table of its own shape or values."""
    base = [
        CONFIG,
        CONFIG.replace(n=6),
        CONFIG.replace(m=3),
        CONFIG.replace(seeds=3),
        CONFIG.replace(densities=(1.0, 0.5)),  # same shapes, other densities
        RunConfig(preset="sparsity", activation="relu", n=5, m=2, densities=(1.0, 0.3, 0.1), seeds=1, steps=30,
                  compile=False),
        RunConfig(preset="dims", activation="relu", n=8, m=3, densities=(1.0, 0.5), seeds=1, steps=30,
                  compile=False),
    ]
    for _ in range(3):  # a few drawn at random
        base.append(CONFIG.replace(n=RANDOM.randrange(3, 9), m=RANDOM.randrange(1, 3), seeds=RANDOM.randrange(1, 4)))
    return base


def mismatched_pairs() -> list[tuple[RunConfig, RunConfig]]:
    configs = mismatch_configs()
    pairs = []
    for manifest, arrays in itertools.permutations(configs, 2):
        a, b = instance_table(manifest), instance_table(arrays)
        same = (len(a) == len(b) and (manifest.m, manifest.n) == (arrays.m, arrays.n)
                and np.array_equal(a.point, b.point) and np.allclose(a.density, b.density)
                and np.allclose(a.importance, b.importance) and np.array_equal(a.seed, b.seed))
        if not same:
            pairs.append((manifest, arrays))
    return pairs


PAIRS = mismatched_pairs()


def one_line(code: int, err: str, expected_code: int = 2) -> None:
    assert code == expected_code and err.count("\n") == 1 and err.startswith("supertui: error: "), (code, err[:500])
    assert "Traceback" not in err and "IndexError" not in err


def test_arrays_of_another_run_are_named_in_one_line_by_show_export_and_resume(capsys, tmp_path,
                                                                              isolated_data_dir):
    write_run(isolated_data_dir, GOOD)
    store = RunStore(isolated_data_dir)
    tried = 0
    for manifest_config, arrays_config in PAIRS:
        path = write_run(isolated_data_dir, VICTIM, manifest_config, arrays=arrays_for(arrays_config))
        with pytest.raises(StoreError, match=f"run {VICTIM}: arrays.npz: does not match its manifest"):
            _ = store.load(VICTIM).arrays
        for argv in (["show", VICTIM], ["show", VICTIM, "--json"], ["export", VICTIM, "--out", str(tmp_path / "f")],
                     ["train", "--resume", VICTIM, "--steps", "5", "--detach"]):
            code = main(argv)
            out, err = capsys.readouterr()
            one_line(code, err)
            assert VICTIM in err and "does not match its manifest" in err, err
            tried += 1
        assert not (tmp_path / "f").exists() or not any((tmp_path / "f").iterdir())
        assert sorted(p.name for p in (isolated_data_dir / "runs").iterdir()) == [GOOD, VICTIM]  # nothing queued
        for name in os.listdir(path):
            (path / name).unlink()
        path.rmdir()
    assert main(["show", GOOD]) == 0  # the other run is untouched
    assert main(["runs"]) == 0
    print(f"{len(PAIRS)} generated mismatched (manifest, arrays) pairs, {tried} command runs")


def test_arrays_that_match_still_load(isolated_data_dir):
    for config in mismatch_configs():
        write_run(isolated_data_dir, VICTIM, config)
        assert RunStore(isolated_data_dir).load(VICTIM).arrays.W.shape == (len(instance_table(config)), config.m,
                                                                            config.n)
        for path in (isolated_data_dir / "runs" / VICTIM).iterdir():
            path.unlink()
        (isolated_data_dir / "runs" / VICTIM).rmdir()


# -------------------------------------------------------------------------- special files where files belong
def make_special(path: Path, kind: str, size: int) -> None:
    if path.is_dir():
        path.rmdir()
    else:
        path.unlink(missing_ok=True)
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "zero":
        path.symlink_to("/dev/zero")
    elif kind == "huge":  # sparse: no disk, but larger than its bound
        with open(path, "wb") as fh:
            fh.truncate(size)
    elif kind == "garbage":
        path.write_bytes(bytes(RANDOM.randrange(256) for _ in range(4096)))


KINDS = ("fifo", "folder", "zero", "huge", "garbage")
PLACES = {  # where, relative to the data dir, and how large "huge" is
    "manifest": (f"runs/{VICTIM}/manifest.json", MANIFEST_MAX_BYTES + 1),
    "arrays": (f"runs/{VICTIM}/arrays.npz", 1 << 40),
    "live": (f"runs/{VICTIM}/live.npz", 1 << 40),
    "history": (f"runs/{VICTIM}/history.bin", 1 << 40),
    "sweep": ("sweeps/sweep-x.json", 1 << 40),
    "index": ("runs-index.json", INDEX_MAX_BYTES + 1),
}


def every_command(place: str, tmp_path: Path) -> list[list[str]]:
    commands = [["runs"], ["runs", "--json"], ["show", GOOD], ["show", VICTIM], ["show", VICTIM, "--json"], ["sweeps"],
                ["wait", GOOD]]
    if place in ("manifest", "arrays"):  # the files export reads (it draws: slow, so only where it matters)
        commands.append(["export", VICTIM, "--out", str(tmp_path / "figs"), "--force"])
    return commands


def remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        for child in path.iterdir():
            remove(child)
        path.rmdir()
    elif path.exists() or path.is_symlink():
        path.unlink()


@pytest.mark.parametrize("place", sorted(PLACES))
def test_a_special_file_in_a_run_folder_costs_one_line_never_a_hang(place, capsys, tmp_path, isolated_data_dir):
    from engine.store.live import LiveReader

    tried = 0
    for kind in KINDS:
        write_run(isolated_data_dir, GOOD)
        victim = write_run(isolated_data_dir, VICTIM)
        (isolated_data_dir / "sweeps").mkdir(exist_ok=True)
        (isolated_data_dir / "sweeps" / "sweep-x.json").write_text(f'{{"id": "sweep-x", "runs": ["{GOOD}"]}}')
        relative, huge = PLACES[place]
        make_special(isolated_data_dir / relative, kind, huge)
        for argv in every_command(place, tmp_path):
            with within(60):
                code = main(argv)
            out, err = capsys.readouterr()
            tried += 1
            assert "Traceback" not in err and err.count("\n") <= 1, (place, kind, argv, err[:500])
            if GOOD in argv:
                assert code == 0, (place, kind, argv, err[:300])  # the good run is never stopped by the bad one
            elif code != 0:
                assert code == 2 and VICTIM in err or "manifest" in err or "arrays.npz" in err, (argv, err[:300])
        with within(30):
            reader = LiveReader(victim, len(instance_table(CONFIG)))
            reader.poll()  # the app's live view: nothing read, nothing raised
        tried += 1
        for name in ("runs", "sweeps", "runs-index.json"):
            remove(isolated_data_dir / name)
    print(f"{place}: {len(KINDS)} kinds x {len(every_command(place, tmp_path))} commands + live reader = {tried} cases")
