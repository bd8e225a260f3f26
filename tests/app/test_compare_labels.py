"""Compare names every marked run: the overlaid losses' legend gives each run a line of its own
(a long label used to wrap and push the others out of sight), and the config diff is headed by
the runs' names, not their ids."""

from __future__ import annotations

import pytest

from engine.store.labels import difference_labels
from engine.store.runs import RunStore
from handmade import CONFIG, edit_manifest, write_run
from supertui.app import SupertuiApp
from supertui.screens.compare import CompareScreen
from supertui.widgets.loss_plot import LossPlot
from supertui.widgets.plot_base import fit_label

CHANGES = [dict(lr=3e-4, batch_size=512, optimizer="adamw", weight_decay=0.01),
           dict(lr=3e-3, batch_size=128, optimizer="adamw", weight_decay=0.001),
           dict(lr=1e-3, batch_size=256, init="xavier_batched"),
           dict(lr=1e-2, batch_size=64, schedule="linear")]


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
async def test_every_marked_run_is_in_the_loss_legend_and_named_in_the_diff(tmp_path, size):
    for i, change in enumerate(CHANGES):
        path = write_run(tmp_path, f"run-{i}", CONFIG.replace(**change))
        if i < 3:
            edit_manifest(path, lambda m, i=i: m.update(name=f"custom-relu-try{i}"))
    store = RunStore(tmp_path)
    records = [store.load(f"run-{i}") for i in range(len(CHANGES))]
    labels = difference_labels(records)
    app = SupertuiApp(tmp_path)
    async with app.run_test(size=size) as pilot:
        app.open_compare([r.id for r in records])
        await pilot.pause(0.5)
        screen = app.screen
        assert isinstance(screen, CompareScreen)
        plot = screen.query_one("#view-losses", LossPlot)
        width, height = plot.size
        legend = [line.plain for line in plot.legend_strip(width, height)]
        room = width - 3
        assert legend == [f"━━ {fit_label(label, room)}" for label in labels]  # one line each, none left out
        rendered = plot.render().plain.splitlines()
        assert rendered[-len(legend):] == legend and len(rendered) <= height
        diff = screen.query_one("#diff")
        heads = [str(column.label) for column in diff.ordered_columns[1:]]
        assert heads == ["custom-relu-try0", "custom-relu-try1", "custom-relu-try2", records[3].name]
