from __future__ import annotations

import shutil
import time

import pytest

from tests.app.fixtures import CORRELATED_CONFIGS, make_fixture_runs


@pytest.fixture(autouse=True)
def _utc_and_isolated(monkeypatch, tmp_path):
    """Times render in UTC, and nothing can reach the real user data directory."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setenv("SUPERTUI_DATA_DIR", str(tmp_path / "default-data-dir"))
    yield
    time.tzset()


@pytest.fixture(scope="session")
def _fixture_runs_master(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("fixture-runs")
    make_fixture_runs(data_dir)
    return data_dir


@pytest.fixture
def saved_runs(_fixture_runs_master, tmp_path):
    """A private copy of the six fixture runs (two activations of each preset)."""
    data_dir = tmp_path / "data"
    shutil.copytree(_fixture_runs_master, data_dir)
    return data_dir


@pytest.fixture
def empty_data_dir(tmp_path):
    data_dir = tmp_path / "empty"
    data_dir.mkdir()
    return data_dir


@pytest.fixture(scope="session")
def correlated_runs(tmp_path_factory):
    """Two correlated-features runs (relu, tanh), in a data directory of their own."""
    data_dir = tmp_path_factory.mktemp("correlated-runs")
    make_fixture_runs(data_dir, configs=CORRELATED_CONFIGS)
    return data_dir
