"""The sweep PNG labels every swept value, keeps counts on whole ticks and says when a line lies
exactly on another (it would be hidden)."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg

from engine.export.style import clipped_artists
from engine.export.sweep import figure_sweep_summary
from engine.sweeps.summary import SweepRow, SweepSummary


def summary(axes, rows):
    return SweepSummary("sweep-20260101-000000-sparsity-abcdef12", axes, "features represented", rows)


def tick_texts(axis) -> list[str]:
    return [t.get_text() for t in axis.get_majorticklabels() if t.get_text()]


def test_every_swept_value_gets_a_tick_and_counts_whole_ticks():
    rows = [SweepRow(f"r{i}", "completed", {"lr": lr}, 0.1 / (i + 1), 10.0) for i, lr in enumerate((1e-3, 3e-3, 1e-2))]
    fig = figure_sweep_summary(summary(["lr"], rows))
    FigureCanvasAgg(fig).draw()
    loss_ax, count_ax = fig.axes[:2]
    assert tick_texts(loss_ax.xaxis) == ["0.001", "0.003", "0.01"]  # all three, not two decades
    counts = tick_texts(count_ax.yaxis)
    assert counts and all(t.lstrip("−-").isdigit() for t in counts), counts  # not 9.6 … 10.4
    rows = [SweepRow(f"r{i}", "completed", {"n": n}, 0.1, 1.0) for i, n in enumerate((10, 11, 12))]
    fig = figure_sweep_summary(summary(["n"], rows))
    FigureCanvasAgg(fig).draw()
    assert tick_texts(fig.axes[0].xaxis) == ["10", "11", "12"]
    assert clipped_artists(fig) == []


def test_a_line_on_another_says_so():
    rows = [SweepRow(f"r{i}", "completed", {"activation": a, "lr": lr}, 0.05, 3.0)
            for i, (a, lr) in enumerate((a, lr) for a in ("relu", "gelu") for lr in (1e-3, 1e-2))]
    fig = figure_sweep_summary(summary(["activation", "lr"], rows))
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["lr=0.001", "lr=0.01 (on lr=0.001)"]


def test_sweep_runs_are_told_apart_on_the_command_line(tmp_path, capsys):
    from supertui.cli import main
    from supertui.cli.progress import TrainDisplay
    from tests.app.test_sweep_view import make_sweep

    sweep_id, ids = make_sweep(tmp_path)
    assert main(["runs", "--sweep", sweep_id, "--data-dir", str(tmp_path)]) == 0
    header, *lines = capsys.readouterr().out.splitlines()
    assert header.split()[-2:] == ["lr", "init"]
    assert sorted(tuple(line.split()[-2:]) for line in lines) == sorted(
        (lr, init) for lr in ("0.001", "0.01") for init in ("xavier", "xavier_batched"))
    assert main(["sweeps", "--data-dir", str(tmp_path)]) == 0
    assert "swept lr, init (2 × 2 values)" in capsys.readouterr().out  # the figure's words, not lr×2
    from engine.store.runs import RunStore

    record = RunStore(tmp_path).load(ids[0])
    with TrainDisplay(live=False) as display:
        display.start(record.config, record.id, member=record.manifest["sweep"]["axes"])
    line = capsys.readouterr().out
    assert "sparsity/relu lr=0.001, init=xavier" in line or "sparsity/relu lr=0.01" in line, line
