"""The one way to read a file from the data directory or the command line: never blocks, never
reads more than its bound, never recurses into hostile nesting."""

import os
import signal
import subprocess
import sys
import time

import pytest

from engine.system.input_files import (
    InputFileError,
    json_depth,
    parse_bounded_json,
    read_bounded_bytes,
    read_bounded_json,
)


def test_a_regular_file_within_its_bound_is_read_whole(tmp_path):
    path = tmp_path / "m.json"
    path.write_text('{"a": [1, 2.5, "]"]}')
    assert read_bounded_json(path, 1000) == {"a": [1, 2.5, "]"]}


@pytest.mark.parametrize("kind", ["fifo", "folder", "device", "too_big"])
def test_what_is_not_a_small_regular_file_is_one_error_not_a_hang(tmp_path, kind):
    path = tmp_path / "manifest.json"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    elif kind == "device":
        path = "/dev/zero"
    else:
        path.write_bytes(b"x" * 2000)
    with pytest.raises(InputFileError) as caught:
        read_bounded_bytes(path, 1000)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)


@pytest.mark.parametrize(
    "text, reason",
    [
        ("[" * 100_000 + "]" * 100_000, "nests deeper"),
        ('{"a":' * 5_000 + "1" + "}" * 5_000, "nests deeper"),
        ("1" * 5_000, "number of 5,000 characters"),
        ('{"x": NaN}', "NaN"),
        ('{"x": ', "not valid JSON"),
    ],
)
def test_hostile_json_is_one_line_naming_the_file(text, reason):
    with pytest.raises(InputFileError) as caught:
        parse_bounded_json(text, "ref.json")
    assert reason in str(caught.value) and str(caught.value).startswith("ref.json: ")


def test_depth_ignores_brackets_inside_strings():
    assert json_depth('{"a": "[[[[", "b": [[1]]}') == 3


def test_a_child_with_a_lifeline_dies_with_its_parent(tmp_path):
    pid_file = tmp_path / "child.pid"
    parent_code = (
        "import subprocess, sys, time\n"
        "from engine.system.lifeline import die_with_parent\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'], preexec_fn=die_with_parent)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code], cwd=os.getcwd())
    deadline = time.monotonic() + 60
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and parent.poll() is None
        time.sleep(0.05)
    child_pid = int(pid_file.read_text())
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 30
    while os.path.exists(f"/proc/{child_pid}") and _state(child_pid) != "Z":
        assert time.monotonic() < deadline, "the child outlived its killed parent"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        return open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"
