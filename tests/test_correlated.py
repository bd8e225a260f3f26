"""The correlated-features experiment: its sampler against the definition, batching invariance,
the known ReLU geometry, and what `show --json` and export give for it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from engine import RunConfig, RunStore, run_experiment, resolve_run, train
from engine.experiments import get_experiment
from engine.experiments.correlated import KINDS, pair_layout
from engine.science.metrics import feature_pairs, pair_cosines
from engine.experiments import instance_table

CORRELATED = get_experiment("correlated")


def config(**changes) -> RunConfig:
    base = RunConfig(preset="correlated", activation="relu", n=4, m=2, densities=(0.3, 0.05), importance_decay=1.0,
                     seeds=2, steps=40, batch_size=128, lr=3e-3, snapshots=2, compile=False)
    return base.replace(**changes)


@pytest.fixture(scope="module")
def draws():
    """500,000 samples of each instance at three densities: (table, x [K, n, batch] as numpy)."""
    cfg = config(densities=(0.5, 0.3, 0.1), seeds=1)
    table = instance_table(cfg)
    return table, CORRELATED.sample(table, 500_000, step=3).numpy()


def within_one_percent(observed: float, expected: float) -> bool:
    return abs(observed - expected) <= 0.01 * expected


def test_the_sampler_matches_the_definition_within_one_percent(draws):
    table, x = draws
    for k in range(len(table)):
        p = float(table.density[k])
        kind = KINDS[k % 2]
        present = x[k] > 0  # [n, batch]
        for i, j, pair_kind in feature_pairs(table.partner[k], table.pair_kind[k]):
            assert pair_kind == kind
            both = (present[i] & present[j]).mean()
            either = (present[i] | present[j]).mean()
            for f in (i, j):
                assert within_one_percent(present[f].mean(), p), (kind, p, f, present[f].mean())  # marginal density p
            if kind == "correlated":  # present together with probability p, absent together otherwise
                assert within_one_percent(both, p) and within_one_percent(either, p), (p, both, either)
            else:  # exactly one of the two with probability 2p, never both
                assert both == 0 and within_one_percent(either, 2 * p), (p, either)
        values = x[k][present]
        assert values.max() < 1 and abs(values.mean() - 0.5) < 0.005 and abs(values.var() - 1 / 12) < 0.002  # U[0, 1)


def test_correlated_magnitudes_are_independent_within_a_pair(draws):
    table, x = draws
    k = 0  # density 0.5, correlated
    together = (x[k, 0] > 0) & (x[k, 1] > 0)
    assert abs(np.corrcoef(x[k, 0][together], x[k, 1][together])[0, 1]) < 0.01


def test_an_instance_draws_the_same_data_whatever_shares_its_batch():
    cfg = config(densities=(0.3, 0.05, 0.2), seeds=3)
    table = instance_table(cfg)
    together = CORRELATED.sample(table, 256, step=11)
    for k in (0, 5, 13, len(table) - 1):
        alone = CORRELATED.sample(_subset(table, [k]), 256, step=11)
        assert torch.equal(alone[0], together[k])


def _subset(table, index):
    from dataclasses import replace

    pick = lambda a: None if a is None else a[index]  # noqa: E731
    return replace(table, density=table.density[index], importance=table.importance[index], seed=table.seed[index],
                   point=table.point[index], partner=pick(table.partner), pair_kind=pick(table.pair_kind))


def test_instances_trained_together_match_each_trained_with_other_batch_mates():
    cfg = config(densities=(0.4, 0.1, 0.02), seeds=2, steps=20)
    together = train(resolve_run(cfg))
    table = instance_table(cfg)
    for k in (3, 6, 11):  # anticorrelated, correlated, anticorrelated; seeds 1, 0, 1
        small = cfg.replace(densities=(float(table.density[k]),), seed=int(table.seed[k]), seeds=1)
        alone = train(resolve_run(small))
        j = int(table.pair_kind[k, 0]) - 1  # its point in the small run: correlated first, then anticorrelated
        np.testing.assert_allclose(alone.W[j], together.W[k], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(alone.loss_history[:, j], together.loss_history[:, k], rtol=1e-5)


@pytest.mark.parametrize("activation", ["linear", "relu", "gelu", "silu", "sigmoid", "tanh", "solu"])
def test_every_activation_trains_on_pairs(activation):
    result = train(resolve_run(config(activation=activation, steps=20)))
    assert result.status == "completed" and np.isfinite(result.W).all() and not result.diverged.any()


def test_relu_puts_anticorrelated_partners_antipodal_when_sparse():
    cfg = config(densities=(0.05,), seeds=3, steps=1500, batch_size=512, lr=1e-2)
    result = train(resolve_run(cfg))
    table = instance_table(cfg)
    cosines = []
    for k in np.flatnonzero(table.pair_kind[:, 0] == 2):  # the anticorrelated instances, every seed
        pairs = feature_pairs(table.partner[k], table.pair_kind[k])
        cosines += list(pair_cosines(result.W[k], pairs))
    assert np.nanmean(cosines) < -0.5, cosines


def test_pair_layout_partners_neighbours():
    partner, kind = pair_layout(6, "anticorrelated")
    assert partner.tolist() == [1, 0, 3, 2, 5, 4] and set(kind.tolist()) == {2}


def test_show_json_gives_each_instance_its_feature_pairs(tmp_path, capsys):
    from supertui.cli import main

    data = tmp_path / "data"
    argv = ["train", "correlated", "-a", "gelu", "--n", "6", "--m", "3", "--densities", "0.4", "0.04", "--seeds", "2",
            "--steps", "20", "--batch-size", "64", "--no-compile", "--data-dir", str(data)]
    assert main(argv) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["show", run_id, "--json", "--data-dir", str(data)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["preset"] == "correlated" and shown["phase_grid"] is None
    assert len(shown["instances"]) == 2 * 2 * 2  # densities x pair kinds x seeds
    for index, entry in enumerate(shown["instances"]):
        kind = KINDS[(index // 2) % 2]
        assert [(p["i"], p["j"], p["kind"]) for p in entry["feature_pairs"]] == [(0, 1, kind), (2, 3, kind), (4, 5, kind)]
        assert all(p["cosine"] is None or -1 <= p["cosine"] <= 1 for p in entry["feature_pairs"])
    assert [p["pairs"] for p in shown["points"]] == list(KINDS) * 2
    assert shown["headline"]["label"].startswith("anticorrelated partner cosine")


def test_bad_correlated_input_is_one_line_naming_the_field(tmp_path, capsys):
    from supertui.cli import main

    assert main(["train", "correlated", "--densities", "0.6", "--data-dir", str(tmp_path)]) == 2
    assert "densities: an anticorrelated pair is present with probability 2p" in capsys.readouterr().err
    assert main(["train", "correlated", "--n", "5", "--m", "2", "--data-dir", str(tmp_path)]) == 2
    assert "n: features come in pairs" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_export_draws_the_pairs_and_the_partner_cosine(tmp_path):
    from PIL import Image

    from engine.export import export_runs
    from engine.export.style import DPI

    store = RunStore(tmp_path / "data")
    records = [run_experiment(config(activation=a, steps=10), store) for a in ("relu", "tanh")]
    paths = export_runs(records, tmp_path / "figs")
    names = [p.name for p in paths]
    for record in records:
        assert [n for n in names if n.startswith(record.id)] == [f"{record.id}_{k}.png" for k in ("pairs", "cosine", "loss")]
    assert "compare_partner_cosine_2runs_relu-tanh.png" in names
    with Image.open(tmp_path / "figs" / f"{records[0].id}_cosine.png") as image:
        assert image.size == (round(6.4 * DPI), round(4.2 * DPI))
