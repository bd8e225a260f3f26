"""Bad data in the store (issue 15): a damaged, foreign, renamed or hostile run folder is named
once and skipped (or shown as plain text); every command and the scheduler go on with the rest.

Each case damages one field of a real run's manifest (types, sizes, markup, escape codes,
nesting), beside an undamaged run, and runs the commands that read the store in this process."""

from __future__ import annotations

import json
import os
import re
import shutil
import zipfile

import numpy as np
import pytest

from engine.errors import StoreError
from engine.store.runs import RunStore
from handmade import arrays_for, edit_manifest, write_run
from supertui.cli import main

GOOD = "20260101-100000-custom-relu-00000000"
VICTIM = "20260101-110000-custom-relu-11111111"
# Anything a terminal would obey: C0 and C1 controls but the newline, and bidi overrides.
CONTROL = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def field(name, value):
    return lambda m: m.__setitem__(name, value)


def config_field(name, value):
    return lambda m: m["config"].__setitem__(name, value)


def summary_field(name, value):
    return lambda m: m["summary"].__setitem__(name, value)


def nested(depth):
    value = []
    for _ in range(depth):
        value = [value]
    return value


# (id, edit of the manifest dict or its whole text, what must happen: "list" or "skip:<word in the reason>")
CASES = [
    ("tags-int", field("tags", 5), "skip:tags"),
    ("tags-of-ints", field("tags", [1, 2]), "skip:tags"),
    ("tags-markup", field("tags", ["[/x]", "[bold red]x", "\x1b[31mred"]), "list"),
    ("format-version-text", field("format_version", "2"), "skip:format_version"),
    ("format-version-newer", field("format_version", 99), "skip:newer"),
    ("format-missing", lambda m: m.pop("format"), "skip:not a supertui run"),
    ("densities-text", config_field("densities", "abc"), "skip:densities"),
    ("densities-empty", config_field("densities", []), "skip:densities"),
    ("densities-huge-count", config_field("densities", [0.5] * 20_000), "skip:densities"),
    ("n-text", config_field("n", "4"), "skip:n"),
    ("n-huge", config_field("n", 10**30), "skip:n"),
    ("steps-huge", config_field("steps", 10**30), "skip:steps"),
    ("config-unknown-field", config_field("colour", "red"), "skip:colour"),
    ("config-list", field("config", []), "skip:config"),
    ("config-missing", lambda m: m.pop("config"), "skip:config"),
    ("lr-old-bound", config_field("lr", 1e30), "list"),  # older versions accepted it: shown as saved
    ("summary-list", field("summary", []), "skip:summary"),
    ("final-loss-text", summary_field("final_loss", "x"), "skip:final_loss"),
    ("final-loss-inf", summary_field("final_loss", float("inf")), "list"),
    ("final-loss-nan", summary_field("final_loss", float("nan")), "list"),
    ("sparkline-junk", summary_field("loss_sparkline", ["a", float("nan"), 0.1]), "list"),
    ("created-int", field("created", 5), "skip:created"),
    ("created-escape", field("created", "\x1b]0;pwned\x07\x1b[2J"), "list"),
    ("status-int", field("status", 5), "skip:status"),
    ("status-unknown", field("status", "exploded"), "skip:status"),
    ("status-running-dead", field("status", "running"), "list"),
    ("note-markup", field("note", "[/x] [link=file:///etc/passwd]x[/link]"), "list"),
    ("note-escape", field("note", "\x1b[31mred\x1b]8;;http://evil\x07link\u202eevil"), "list"),
    ("note-int", field("note", 5), "skip:note"),
    ("note-huge", field("note", "x" * 100_000), "skip:note"),
    ("error-escape", field("error", "\x1b[2J\x1b[H[/bold]"), "list"),
    ("error-list", field("error", ["x"]), "skip:error"),
    ("activation-markup", config_field("activation", "[/x]"), "skip:activation"),
    ("activation-path", config_field("activation", "x/../../../../elsewhere/PWNED"), "skip:activation"),
    ("activation-escape", config_field("activation", "\x1b[31mrelu"), "skip:activation"),
    ("activation-from-the-future", config_field("activation", "swish2"), "list"),
    ("preset-from-the-future", config_field("preset", "holography"), "list"),
    ("preset-path", config_field("preset", "../x"), "skip:preset"),
    ("instances-text", field("instances", "4"), "skip:instances"),
    ("steps-done-negative", field("steps_done", -1), "skip:steps_done"),
    ("pid-text", field("pid", "x"), "skip:pid"),
    ("device-int", field("device", 5), "skip:device"),
    ("compiled-text", field("compiled", "yes"), "skip:compiled"),
    ("versions-junk", field("versions", {"torch": 2}), "skip:versions"),
    ("warnings-ints", field("warnings", [1]), "skip:warnings"),
    ("seeds-text", field("seeds", ["x"]), "skip:seeds"),
    ("sweep-int", field("sweep", 5), "skip:sweep"),
    ("sweep-markup", field("sweep", {"id": "[/x]\x1b[31m", "axes": {"lr": [1, 2]}}), "list"),
    ("sweep-deep", field("sweep", {"id": "s", "axes": {"lr": nested(50)}}), "skip:sweep"),
    ("executor-deep", field("executor", {"kind": nested(50)}), "skip:executor"),
    ("nested-100000", "[" * 100_000 + "]" * 100_000, "skip:nested too deep"),
    ("not-json", "{", "skip:corrupt"),
    ("empty", "", "skip:corrupt"),
    ("not-utf8", b"\xff\xfe\x00garbage", "skip:corrupt"),
    ("json-list", "[]", "skip:not a supertui run"),
    ("json-null", "null", "skip:not a supertui run"),
    ("too-large", '{"format": "supertui-run", "x": "' + "x" * (5 << 20) + '"}', "skip:larger than"),
]


@pytest.fixture
def damaged(isolated_data_dir, request):
    """The data directory with a good run and a damaged one (queued, in a sweep, on the queue)."""
    write_run(isolated_data_dir, GOOD)
    victim = write_run(isolated_data_dir, VICTIM)
    case_id, edit, expect = request.param
    if callable(edit):
        edit_manifest(victim, edit)
    else:
        (victim / "manifest.json").write_bytes(edit if isinstance(edit, bytes) else edit.encode())
    (isolated_data_dir / "queue").mkdir()
    (isolated_data_dir / "queue" / f"{0:020d}-{VICTIM}").write_bytes(b"")
    (isolated_data_dir / "sweeps").mkdir()
    (isolated_data_dir / "sweeps" / "sweep-x.json").write_text(json.dumps({"id": "sweep-x", "runs": [GOOD, VICTIM]}))
    return expect


def strict_json(text: str):
    """JSON as the spec has it: NaN and Infinity are not JSON."""
    return json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON output"))


def assert_plain(text: str) -> None:
    assert not CONTROL.search(text), repr(CONTROL.search(text))


@pytest.mark.parametrize("damaged", CASES, ids=[c[0] for c in CASES], indirect=True)
def test_a_damaged_manifest_never_breaks_the_commands_or_the_scheduler(damaged, isolated_data_dir, capsys):
    expect = damaged
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert_plain(out + err)
    assert GOOD in out
    skipped = [line for line in err.splitlines() if "skipped" in line]
    if expect == "list":
        assert VICTIM in out and not skipped, err
    else:
        assert VICTIM not in out
        assert len(skipped) == 1 and VICTIM in skipped[0] and expect.split(":", 1)[1] in skipped[0], err

    assert main(["runs", "--json"]) == 0
    out, err = capsys.readouterr()
    listed = {row["id"] for row in strict_json(out)}
    assert GOOD in listed and (VICTIM in listed) == (expect == "list")
    assert_plain(err)

    for argv in (["show", VICTIM], ["show", VICTIM, "--json"], ["jobs"], ["jobs", "--json"], ["sweeps"],
                 ["runs", "--sweep", "sweep-x"], ["export", VICTIM, "--out", str(isolated_data_dir / "figs")]):
        code = main(argv)
        out, err = capsys.readouterr()
        assert code in (0, 2), (argv, code, err)
        assert_plain(out + err)
        if code == 2:
            assert err.count("\n") == 1 and err.startswith("supertui: error: "), err
        if code == 0 and "--json" in argv:
            strict_json(out)
    assert not (isolated_data_dir.parent / "elsewhere").exists()

    from engine.system.locks import try_lock
    from engine.jobs.scheduler import Scheduler, SchedulerPaths

    from engine.jobs.queue import JobQueue

    store = RunStore(isolated_data_dir)
    JobQueue(store).reconcile()
    store.clean_stale(0)
    scheduler = Scheduler(store, try_lock(SchedulerPaths.of(store).lock))
    scheduler.dispatch()  # no slots yet: it reads the queue and drops what is unreadable
    assert GOOD in [r.id for r in store.list_runs()]


def test_an_unreadable_manifest_is_unreadable_not_corrupt(public_data_dir, capsys, unprivileged):
    write_run(public_data_dir, GOOD)
    victim = write_run(public_data_dir, VICTIM)
    for path in (public_data_dir / "runs", victim, victim.parent / GOOD):
        path.chmod(0o755)
    (victim / "manifest.json").chmod(0o000)
    with unprivileged():
        assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert GOOD in out and VICTIM not in out
    assert f"skipped {VICTIM}: manifest.json is unreadable (permission denied)" in err
    assert "corrupt" not in err


def test_an_unreadable_runs_folder_is_one_line_exit_2(public_data_dir, capsys, unprivileged):
    write_run(public_data_dir, GOOD)
    (public_data_dir / "runs").chmod(0o000)
    with unprivileged():
        assert main(["runs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "runs: " in err and "unreadable (permission denied)" in err


def test_a_renamed_run_folder_is_skipped_with_a_reason_and_never_crashes(isolated_data_dir, capsys):
    write_run(isolated_data_dir, GOOD)
    shutil.copytree(isolated_data_dir / "runs" / GOOD, isolated_data_dir / "runs" / "zz run (copy)")
    assert main(["runs"]) == 0
    out, err = capsys.readouterr()
    assert GOOD in out and "copy" not in out
    assert "skipped zz run (copy): the folder name is not a run id" in err and "rename it" in err
    assert main(["show", "zz run (copy)"]) == 2
    assert main(["rm", "zz run (copy)"]) == 2
    assert "invalid run id" in capsys.readouterr().err
    assert len(RunStore(isolated_data_dir).list_runs()) == 1


# --------------------------------------------------------------------------- arrays


def test_only_known_arrays_are_loaded_and_a_zip_bomb_is_refused_before_inflating(isolated_data_dir, capsys):
    path = write_run(isolated_data_dir, GOOD)
    with zipfile.ZipFile(path / "arrays.npz", "a", compression=zipfile.ZIP_DEFLATED) as archive:
        # 1 GiB of zeros in a few MiB: an extra entry nothing reads
        with archive.open("extra.npy", "w", force_zip64=True) as fh:
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f8", "fortran_order": False, "shape": (2**27,)})
            block = bytes(1 << 20)
            for _ in range(1024):
                fh.write(block)
    assert (path / "arrays.npz").stat().st_size < 16 << 20
    record = RunStore(isolated_data_dir).load(GOOD)
    assert record.arrays.W.shape == (4, 2, 4)  # the known entries, and not the extra one

    arrays = arrays_for()
    arrays["W"] = np.zeros((4, 2, 4 * 2**20), np.float32)  # a known entry far larger than its run
    (path / "arrays.npz").unlink()
    np.savez_compressed(path / "arrays.npz", **arrays)
    with pytest.raises(StoreError, match="'W' would take"):
        _ = RunStore(isolated_data_dir).load(GOOD).arrays
    assert main(["show", GOOD]) == 2
    assert "'W' would take" in capsys.readouterr().err


def test_live_files_of_a_crafted_run_are_bounded(isolated_data_dir):
    from engine.store.live import HISTORY, LIVE, LiveReader, history_dtype

    path = write_run(isolated_data_dir, GOOD)
    np.savez_compressed(path / LIVE, step=np.int64(5), steps=np.int64(10), losses=np.zeros(10**7, np.float32))
    rows = np.zeros(100_000, dtype=history_dtype(4))
    (path / HISTORY).write_bytes(rows.tobytes())
    reader = LiveReader(path, 4)
    reader.poll()
    assert reader.state.losses is None  # refused (far larger than 4 instances), not loaded
    assert len(reader.state.history) <= 2004


# --------------------------------------------------------------------------- the listing index


def test_the_listing_index_is_never_trusted_blindly(isolated_data_dir, capsys):
    store = RunStore(isolated_data_dir)
    for i in range(3):
        write_run(isolated_data_dir, f"20260101-10000{i}-custom-relu-0000000{i}")
    first = [(r.id, r.status, r.final_loss) for r in store.listing()]
    assert [r.id for r in store.list_runs()] == [row[0] for row in first]
    index = isolated_data_dir / "runs-index.json"
    assert index.exists()

    # an edited manifest is read again (a new file: new inode and times)
    victim = isolated_data_dir / "runs" / first[0][0]
    edit_manifest(victim, lambda m: m.update(note="new note", tags=["[/x]"]))
    again = {r.id: r for r in store.listing()}
    assert again[first[0][0]].note == "new note" and again[first[0][0]].tags == ["[/x]"]

    # a tampered entry (types) is read again from its manifest; a corrupt index is rebuilt
    data = json.loads(index.read_text())
    data["entries"][first[1][0]]["row"][0] = ["not", "a", "name"]
    index.write_text(json.dumps(data))
    assert [r.preset for r in store.listing()] == ["custom"] * 3
    for garbage in ("{", "[" * 100_000, '{"format": "supertui-run-index", "version": 1, "entries": 5}', "NaN"):
        index.write_text(garbage)
        assert [r.id for r in store.listing()] == [row[0] for row in first]
    # a folder that becomes bad is reported, every time it is listed
    edit_manifest(victim, lambda m: m.update(tags=5))
    for _ in range(2):
        assert main(["runs"]) == 0
        assert capsys.readouterr().err.count("skipped") == 1
    # and a data directory where the index cannot be written still lists (the index is best effort)
    index.unlink()
    index.mkdir()
    assert len(store.listing()) == 2


def test_listing_matches_the_full_records(isolated_data_dir):
    write_run(isolated_data_dir, GOOD, status="running", tags=["a"], note="n", sweep={"id": "s", "axes": {"lr": 0.1}})
    write_run(isolated_data_dir, VICTIM, summary={"final_loss": None, "diverged": 4, "loss_sparkline": []})
    store = RunStore(isolated_data_dir)
    for row, record in zip(store.listing(), store.list_runs()):
        for name in ("id", "preset", "activation", "status", "saved_status", "created", "final_loss", "tags", "note",
                     "error", "is_live", "path", "lock_path"):
            assert getattr(row, name) == getattr(record, name), name
        assert row.summary["loss_sparkline"] == record.summary["loss_sparkline"]
    statuses = {row.id: row.status for row in store.listing()}
    assert statuses == {GOOD: "interrupted", VICTIM: "completed"}  # running, but nobody holds its lock


def test_a_listing_leaves_no_stray_files(isolated_data_dir):
    write_run(isolated_data_dir, GOOD)
    RunStore(isolated_data_dir).listing()
    assert sorted(os.listdir(isolated_data_dir)) == ["runs", "runs-index.json"]
