"""`supertui reproduce`: every experiment of the blog (and the correlated-features one) for all
seven activations, every figure, and report.md setting each figure beside the blog's claim with
the measured numbers and a verdict (supertui.cli.reproduce_report)."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from supertui.cli.common import check_out_folder, graceful_sigint, open_store

DEFAULT_OUT = "supertui-reproduction"


def register(subparsers) -> None:
    from supertui.cli import add_data_dir

    p = subparsers.add_parser(
        "reproduce",
        description=(
            "Train the sparsity, phase, dims and correlated experiments for linear, relu, gelu, silu, sigmoid, tanh "
            "and solu (reusing completed saved runs with the same config unless --fresh), export every figure, and "
            "write report.md beside them: each blog claim reproduced, explained (a measured mechanism accounts for "
            "what the blog saw), refuted or not reproduced, with its numbers. quick takes minutes on a laptop CPU; "
            "paper is the blog's full settings."
        ),
    )
    p.add_argument("--out", "-o", default=DEFAULT_OUT, metavar="DIR",
                   help=f"folder for report.md and figures/ (default: ./{DEFAULT_OUT})")
    p.add_argument("--quality", choices=("quick", "paper", "tiny"), default="quick",
                   help="quick (default), paper (the blog's settings; hours on a CPU), tiny (seconds, a smoke test)")
    p.add_argument("--experiments", nargs="+", metavar="NAME",
                   help="only these experiments (default: all: sparsity, phase, dims, correlated); e.g. the ones a "
                        "CPU can train at paper settings in an afternoon")
    p.add_argument("--fresh", action="store_true", help="train everything again instead of reusing saved runs")
    p.add_argument("--force", action="store_true", help="overwrite an existing report and figures in --out")
    p.add_argument("--detach", action="store_true",
                   help="queue the runs, print their ids and return; run reproduce again to write the figures")
    add_data_dir(p)
    p.set_defaults(func=run)


class _Display:
    """A rich progress bar for the whole job on a terminal; plain lines otherwise."""

    def __init__(self, live: bool, plain_interval: float = 10.0):
        self.live = live
        self.plain_interval = plain_interval
        self.last_line = 0.0
        self.last_key = None
        self.progress = None
        if live:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            # What is happening goes last, so a narrow terminal truncates only that.
            self.progress = Progress(
                BarColumn(bar_width=24),
                TextColumn("{task.percentage:>5.1f}%"),
                TimeElapsedColumn(),
                TextColumn("eta"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[what]}"),
            )
            self.task = self.progress.add_task("reproduce", total=1000, what="starting")

    def __enter__(self):
        if self.progress:
            self.progress.start()
        return self

    def __exit__(self, *exc):
        if self.progress:
            self.progress.stop()

    def __call__(self, p) -> None:
        if self.progress:
            if p.stage == "train":
                what = f"train {p.job}/{p.jobs} {p.label}  step {p.step}/{p.steps}"
            elif p.stage == "reuse":
                what = f"reuse {p.job}/{p.jobs} {p.label}"
            else:
                what = f"{p.stage} {p.label}"
            self.progress.update(self.task, completed=round(1000 * p.fraction), what=what)
            if p.stage in ("reuse",) or (p.stage == "train" and p.step == 0):
                self.progress.console.print(p.line(), highlight=False, markup=False)
            return
        # Plain lines: every job and stage change, and training progress at most every plain_interval s.
        key = (p.stage, p.job, p.label if p.stage != "train" else None)
        now = time.monotonic()
        if key != self.last_key or now - self.last_line >= self.plain_interval:
            print(p.line(), flush=True)
            self.last_key, self.last_line = key, now


def run(args) -> int:
    from engine.reproduce import ReproduceCancelled, reproduce, selected_experiments
    from supertui.blog import dims_reference
    from supertui.cli.reproduce_report import render_report

    check_out_folder(args.out)  # before anything trains: a newline would split every path printed
    if args.experiments:
        selected_experiments(args.experiments)  # a wrong name is refused before the data directory is made
    store = open_store(args)
    stop = None
    try:
        with graceful_sigint(second_raises=True) as stop, _Display(live=sys.stdout.isatty()) as display:
            result = reproduce(store, Path(args.out), quality=args.quality, fresh=args.fresh, on_progress=display,
                               force=args.force, should_stop=stop.is_set, report=render_report,
                               reference=dims_reference(), detach=args.detach,
                               **({"experiments": tuple(args.experiments)} if args.experiments else {}))
    except ReproduceCancelled as exc:
        print(f"supertui: {exc}", file=sys.stderr)
        return 130 if stop.is_set() else 1
    if args.detach:
        for run_id in result.queued:
            print(run_id)
        print(f"supertui: {len(result.queued)} runs queued, {len(result.reused)} reused; they train without this "
              f"command; `supertui reproduce` again writes the figures and report once they are done", file=sys.stderr)
        return 0
    for path in result.figures:
        print(path)
    print(result.report)
    print(f"{len(result.trained)} runs trained, {len(result.reused)} reused, {len(result.figures)} figures, "
          f"{result.elapsed:.0f} s", file=sys.stderr)
    return 0
