"""The summary of a sweep as one figure: final loss (log) and the experiment's headline metric
against the first swept field, one line per value of the second, drawn from the same
engine.sweeps.summary curves as the app's sweep screen."""

from __future__ import annotations

from engine.export.figures import plain_log_ticks
from engine.export.style import new_figure, styled
from engine.palette import label_color
from engine.sweeps.summary import SweepSummary, summary_curves, x_labels


@styled
def figure_sweep_summary(summary: SweepSummary):
    fig = new_figure(9.0, 3.8)
    axes = fig.subplots(1, 2)
    ticks = x_labels(summary)
    x_axis, group_axis = summary.x_axis or "", summary.group_axis
    numeric_x = ticks is None
    for ax, metric, title in ((axes[0], "final_loss", "final loss (evaluation batch)"),
                              (axes[1], "headline", summary.headline_label)):
        curves = summary_curves(summary, metric)
        for label, (x, y) in curves.items():
            ax.plot(x, y, marker="o", linewidth=1.4, markersize=4, color=label_color(label),
                    label=label if group_axis else None)
        if metric == "final_loss" and any(len(y) for _, y in curves.values()):
            ax.set_yscale("log")
        xs = [v for x, _ in curves.values() for v in x]
        if numeric_x and xs and min(xs) > 0 and max(xs) / min(xs) >= 10:
            ax.set_xscale("log")
            plain_log_ticks(ax.xaxis)
        if ticks is not None:
            ax.set_xticks(range(len(ticks)), ticks)
        ax.set_xlabel(x_axis)
        ax.set_title(title)
    if group_axis:
        fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", frameon=False,
                   ncols=min(6, len(summary_curves(summary, "final_loss"))))
    done = sum(r.status == "completed" for r in summary.rows)
    fig.suptitle(f"Sweep {summary.sweep_id}: {done} of {len(summary.rows)} runs completed; "
                 f"swept {', '.join(summary.axes)}", fontsize=10)
    return fig
