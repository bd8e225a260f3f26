"""Every test runs against its own data directory: the real user data directory is never touched.
Every app sees a truecolor terminal unless a test says otherwise, so pictures do not depend on
the TERM of whoever runs the tests (widgets quantise their colours to the terminal's system)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def isolated_data_dir(tmp_path_factory, monkeypatch):
    data_dir = tmp_path_factory.mktemp("supertui-data")
    monkeypatch.setenv("SUPERTUI_DATA_DIR", str(data_dir))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("COLORTERM", "truecolor")
    return data_dir
