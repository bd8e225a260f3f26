"""Pictures of the widgets with fixed data (seeded), compared against the saved SVGs.

Regenerate after an intended visual change with
`python -m pytest tests/widgets/test_snapshots.py --snapshot-update` and look at the diff."""

import pytest

from tests.widgets.harness import demo


@pytest.mark.parametrize(
    "which, size, keys",
    [
        ("heatmap", (80, 24), ("right", "down", "down")),
        ("bars", (80, 24), ()),
        ("phase", (80, 24), ("up", "right")),
        ("loss7", (80, 24), ()),
        ("norms", (80, 24), ()),
        ("cosine", (80, 24), ()),
        ("all", (120, 40), ()),
    ],
    ids=["heatmap-80x24", "bars-80x24", "phase-80x24", "loss7-80x24", "norms-80x24", "cosine-80x24", "all-120x40"],
)
def test_widget_snapshot(snap_compare, which, size, keys):
    assert snap_compare(demo(which), press=keys, terminal_size=size)
