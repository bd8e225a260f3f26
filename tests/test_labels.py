"""Labels that tell compared runs apart (engine.store.labels): the fields shown are the ones that
differ between the runs, and among those the ones that split them, not the first in config order."""

from __future__ import annotations

from types import SimpleNamespace

from engine.config import RunConfig
from engine.store.labels import difference_labels


def runs(*configs: RunConfig) -> list:
    return [SimpleNamespace(config=c, id=f"20260101-000000-x-{i:08d}") for i, c in enumerate(configs)]


def test_the_fields_shown_tell_every_run_apart():
    dims = RunConfig(preset="dims", n=20, m=4, steps=200)
    other = RunConfig(preset="correlated", n=4, m=2, steps=300, densities=(0.5, 0.1))
    labels = difference_labels(runs(dims.replace(batch_size=512, lr=3e-4), dims.replace(batch_size=128), other))
    # preset, n, m, densities and steps all split the runs the same way: one of them says it
    assert labels == ["preset=dims, batch_size=512, lr=0.0003, +4 more", "preset=dims, batch_size=128, lr=0.001, +4 more",
                      "preset=correlated, batch_size=1024, lr=0.001, +4 more"]
    assert len(set(labels)) == 3


def test_a_sweep_and_an_activation_are_labelled_as_before():
    base = RunConfig(preset="dims", n=20, m=4)
    assert difference_labels(runs(base, base.replace(activation="gelu"))) == ["relu", "gelu"]
    sweep = [base.replace(lr=lr, init=init) for lr in (1e-3, 1e-2) for init in ("xavier", "xavier_batched")]
    assert difference_labels(runs(*sweep))[1] == "lr=0.001, init=xavier_batched"
    assert difference_labels(runs(base, base)) == ["run 00000000", "run 00000001"]
