"""Every file a user hands the CLI, and every name typed on its command line, is hostile until
checked (issue 26, classes 1 and 5): generated deep, huge and malformed inputs each get one line
naming what is wrong, exit status 2, no traceback, and nothing written."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from engine.bounds import USER_FIELD_MAX_CHARS, USER_FILE_MAX_BYTES, USER_FILE_MAX_DEPTH
from handmade import write_run
from supertui.cli import main

RUN = "20260101-100000-custom-relu-00000000"
RANDOM = random.Random(26)  # generated cases are the same every run


def nested(depth: int, opener: str, closer: str, inner: str = "1") -> str:
    return opener * depth + inner + closer * depth


# -------------------------------------------------------------------------- generated cases
def toml_cases() -> list[tuple[str, bytes | None, str]]:
    """(name, file contents or None for a special file, what the one line must say)."""
    depths = [USER_FILE_MAX_DEPTH + 1, 100, 999, 1_001, 5_000, 100_000, *RANDOM.sample(range(40, 50_000), 4)]
    cases = []
    for depth in depths:
        cases.append((f"array{depth}", f'preset = "dims"\nx = {nested(depth, "[", "]")}\n'.encode(), "nests deeper"))
        cases.append((f"inline{depth}", f'preset = "dims"\nx = {nested(depth, "{a=", "}")}\n'.encode(), "nests deeper"))
        cases.append((f"dotted{depth}", f'preset = "dims"\n[fixed]\n{".".join(["a"] * depth)} = 1\n'.encode(),
                      "nests deeper"))
        cases.append((f"headers{depth}", f'preset = "dims"\n[{".".join(["t"] * depth)}]\nx = 1\n'.encode(),
                      "nests deeper"))
    for seed in (-1, -2, -(2**63), 2**63, 2**64 + RANDOM.randrange(1000)):
        text = f'preset = "custom"\nmode = "random"\ncount = 2\nseed = {seed}\n[sweep]\nlr = "1e-3:1e-2"\n'
        cases.append((f"seed{seed}", text.encode(), "seed: must be a whole number from 0"))
    cases += [
        ("huge", b"# " + b"x" * USER_FILE_MAX_BYTES + b"\npreset = 'dims'\n", "more than the"),
        ("binary", bytes(RANDOM.randrange(128, 256) for _ in range(256)), "not UTF-8"),
        ("broken", b'preset = "dims\n', "not valid TOML"),
        ("fifo", None, "not a regular file"),
        ("folder", None, "not a regular file"),
        ("zero", None, "not a regular file"),
    ]
    return cases


def reference_cases() -> list[tuple[str, str | None, str]]:
    cases = []
    for digits in (65, 400, 5_000, 100_000, RANDOM.randrange(66, 20_000)):
        number = "1" * digits
        cases.append((f"json-int{digits}", f'[{{"x": {number}, "y": 1, "label": "relu"}}]', "characters (at most 64)"))
        cases.append((f"json-float{digits}", f'[{{"x": 0.{number}, "y": 1, "label": "relu"}}]',
                      "characters (at most 64)"))
    for depth in (USER_FILE_MAX_DEPTH + 1, 1_000, 5_000, 100_000, RANDOM.randrange(40, 50_000)):
        cases.append((f"json-list{depth}", nested(depth, "[", "]"), "nests deeper"))
        cases.append((f"json-object{depth}", '{"curves": ' + nested(depth, '{"a": ', "}") + "}", "nests deeper"))
    for constant in ("NaN", "Infinity", "-Infinity"):
        cases.append((f"json-{constant}", f'[{{"x": {constant}, "y": 1, "label": "relu"}}]', "not a number JSON"))
    for size in (USER_FIELD_MAX_CHARS + 1, 131_072, 131_073, 500_000, RANDOM.randrange(20_000, 1_000_000)):
        cases.append((f"csv-label{size}", f"x,y,label\n1,2,{'r' * size}\n", "characters (at most"))
        cases.append((f"csv-quoted{size}", f'x,y,label\n1,2,"{"q" * size}"\n', "characters (at most"))
        cases.append((f"csv-header{size}", f"x,y,{'h' * size}\n", "CSV row 1"))
    cases += [
        ("huge", "x,y,label\n" + "1,2,relu\n" * (USER_FILE_MAX_BYTES // 9 + 1), "more than the"),
        ("fifo", None, "not a regular file"),
        ("folder", None, "not a regular file"),
        ("zero", None, "not a regular file"),
    ]
    return cases


def materialise(folder: Path, name: str, contents) -> str:
    """The case as a path: a file with `contents`, or the special file its name says."""
    path = folder / name
    if contents is None:
        if name == "fifo":
            os.mkfifo(path)
        elif name == "folder":
            path.mkdir()
        else:
            return "/dev/zero"
    else:
        path.write_bytes(contents if isinstance(contents, bytes) else contents.encode())
    return str(path)


def refused_in_one_line(argv: list[str], capsys, expected: str | None = None) -> str:
    assert main(argv) == 2, argv[:3]
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and err.startswith("supertui: error: "), err[:400]
    assert "Traceback" not in err and len(err) < 1_000, err[:400]
    if expected is not None:
        assert expected in err, err[:400]
    return err


TOML = toml_cases()
REFERENCE = reference_cases()


def test_sweep_files_deep_huge_or_special_are_one_line_exit_2_nothing_queued(tmp_path, capsys, isolated_data_dir):
    for name, contents, expected in TOML:
        path = materialise(tmp_path, f"{name}" if contents is None else f"{name}.toml", contents)
        err = refused_in_one_line(["sweep", path, "--detach"], capsys)
        assert expected in err, (name, err[:300])
        assert not (isolated_data_dir / "runs").exists() and not (isolated_data_dir / "queue").exists(), name
    print(f"{len(TOML)} generated sweep files")


def test_reference_files_deep_huge_or_special_are_one_line_exit_2_nothing_written(tmp_path, capsys,
                                                                                   isolated_data_dir):
    write_run(isolated_data_dir, RUN)
    out = tmp_path / "figures"
    for name, contents, expected in REFERENCE:
        path = materialise(tmp_path, name, contents)
        err = refused_in_one_line(["export", RUN, "--reference", path, "--out", str(out)], capsys)
        assert err.startswith("supertui: error: reference: ") and expected in err, (name, err[:300])
        assert not out.exists(), name
    print(f"{len(REFERENCE)} generated reference files")


def test_a_real_process_refuses_a_deep_file_without_a_traceback(tmp_path):
    """One of each kind through the real binary: the interpreter's own stderr stays one line."""
    toml = tmp_path / "deep.toml"
    toml.write_text(f'preset = "dims"\nx = {nested(100_000, "[", "]")}\n')
    reference = tmp_path / "deep.json"
    reference.write_text(nested(100_000, "[", "]"))
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    for argv in (["sweep", str(toml), "--detach"], ["export", RUN, "--reference", str(reference)]):
        done = subprocess.run([sys.executable, "-m", "supertui", *argv], capture_output=True, text=True, env=env,
                              timeout=120)
        assert done.returncode == 2 and done.stderr.count("\n") == 1 and "nests deeper" in done.stderr, done.stderr[-500:]


# -------------------------------------------------------------------------- names on the command line
def run_id_cases() -> list[str]:
    lengths = [129, 256, 4_096, 100_000, *RANDOM.sample(range(130, 200_000), 4)]
    ids = ["a" * length for length in lengths]
    ids += ["".join(RANDOM.choice("abc-_.") for _ in range(length)) + "\n" + "x" * 10 for length in (5, 300)]
    ids += ["a" * 1_000 + "/../x", "../" * 5_000]
    return ids


RUN_IDS = run_id_cases()
COMMANDS_TAKING_RUNS = (["show"], ["export"], ["rm"], ["cancel"], ["wait"], ["export", "--sweep"])


def test_a_run_id_of_any_length_is_invalid_in_one_short_line(capsys, isolated_data_dir):
    write_run(isolated_data_dir, RUN)
    tried = 0
    for run_id in RUN_IDS:
        for command in COMMANDS_TAKING_RUNS:
            code = main([*command, run_id])
            out, err = capsys.readouterr()
            tried += 1
            assert code == 2 and err.count("\n") == 1 and len(err) < 400, (command, len(run_id), err[:300])
            assert "invalid run id" in err or "no sweep" in err, err[:300]
            assert "too long" not in err
    assert (isolated_data_dir / "runs" / RUN / "manifest.json").is_file()  # nothing lost
    print(f"{tried} generated run ids x commands")


OUT_FOLDERS = ["figs\nnext", "\nfigs", "figs\n", "a/b\nc/d", "figs\r\nx", "figs\x1b[31mred", "figs\tx", "f\x00x"[:1] + "\x85"]


@pytest.mark.parametrize("command", [["export", RUN], ["reproduce", "--quality", "quick"]])
def test_an_out_folder_with_a_newline_is_refused_in_one_line(command, tmp_path, capsys, isolated_data_dir):
    write_run(isolated_data_dir, RUN)
    os.chdir(tmp_path)
    for out in OUT_FOLDERS:
        refused_in_one_line([*command, "--out", out], capsys, "out: ")
        assert sorted(p.name for p in tmp_path.iterdir()) == [], out  # no folder made, nothing written
    assert [p.name for p in (isolated_data_dir / "runs").iterdir()] == [RUN]  # nothing queued


def test_compile_notes_from_a_fifo_a_folder_an_endless_or_a_garbled_file_are_no_notes(tmp_path):
    """The compile cache lives in a shared temp folder: its notes are read bounded and never block."""
    from engine.training.compile_step import CompileNotes

    os.mkfifo(tmp_path / "fifo.json")
    (tmp_path / "folder.json").mkdir()
    (tmp_path / "garbled.json").write_text('{"cold_seconds": [1], "eager_rate": -3, "warm_seconds": "inf"}')
    for path in (tmp_path / "fifo.json", tmp_path / "folder.json", Path("/dev/zero"), tmp_path / "garbled.json"):
        assert CompileNotes.read(path) == CompileNotes()
    (tmp_path / "good.json").write_text('{"cold_seconds": 3.5, "compiled_rate": 900, "unknown": 1}')
    assert CompileNotes.read(tmp_path / "good.json") == CompileNotes(cold_seconds=3.5, compiled_rate=900.0)
