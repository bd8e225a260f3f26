"""The summary of a sweep as one figure: final loss (log) and the experiment's headline metric
against the first swept field, one line per value of the second, drawn from the same
engine.sweeps.summary curves as the app's sweep screen."""

from __future__ import annotations

import numpy as np

from engine.export.figures import plain_log_ticks
from engine.export.style import new_figure, styled
from engine.palette import label_color
from engine.sweeps.summary import SweepSummary, summary_curves, x_labels


MAX_LABELLED_TICKS = 12  # up to this many swept values, each gets its own tick label


def _same_curve(x, y, other_x, other_y) -> bool:
    return len(x) == len(other_x) and np.allclose(x, other_x) and np.allclose(y, other_y, rtol=1e-9, atol=0)


def _tick(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3g}"


@styled
def figure_sweep_summary(summary: SweepSummary):
    from matplotlib.ticker import MaxNLocator, NullLocator

    fig = new_figure(9.0, 3.8)
    axes = fig.subplots(1, 2)
    ticks = x_labels(summary)
    x_axis, group_axis = summary.x_axis or "", summary.group_axis
    numeric_x = ticks is None
    for ax, metric, title in ((axes[0], "final_loss", "final loss (evaluation batch)"),
                              (axes[1], "headline", summary.headline_label)):
        curves = summary_curves(summary, metric)
        drawn: dict[str, tuple] = {}
        for label, (x, y) in curves.items():
            under = next((other for other, (ox, oy) in drawn.items() if _same_curve(x, y, ox, oy)), None)
            # a line exactly on another would hide it: dash it and say so in the legend
            ax.plot(x, y, marker="o", linewidth=1.4, markersize=4 if under is None else 7, color=label_color(label),
                    linestyle="-" if under is None else (0, (3, 3)), fillstyle="full" if under is None else "none",
                    label=(label if under is None else f"{label} (on {under})") if group_axis else None)
            drawn[label] = (x, y)
        if metric == "final_loss" and any(len(y) for _, y in curves.values()):
            ax.set_yscale("log")
        xs = [v for x, _ in curves.values() for v in x]
        if numeric_x and xs and min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        if ticks is not None:
            ax.set_xticks(range(len(ticks)), ticks)
        elif xs and len(set(xs)) <= MAX_LABELLED_TICKS:
            # every swept value gets its labelled tick (a log axis labelled 1e-3 and 1e-2 only, and
            # an integer field drawn at 9.6 … 10.4, hid what was swept)
            values = sorted(set(xs))
            ax.xaxis.set_minor_locator(NullLocator())
            ax.set_xticks(values, [_tick(v) for v in values])
        ys = [v for _, y in curves.values() for v in y]
        if ys and metric != "final_loss" and all(float(v).is_integer() for v in ys):
            ax.yaxis.set_major_locator(MaxNLocator(integer=True))  # a count: whole ticks only
            if min(ys) == max(ys):
                ax.set_ylim(min(ys) - 1, max(ys) + 1)
        ax.set_xlabel(x_axis)
        ax.set_title(title)
    if group_axis:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", frameon=False,
                   ncols=min(6, len(summary_curves(summary, "final_loss"))))
    done = sum(r.status == "completed" for r in summary.rows)
    fig.suptitle(f"Sweep {summary.sweep_id}: {done} of {len(summary.rows)} runs completed; "
                 f"swept {', '.join(summary.axes)}", fontsize=10)
    return fig
