"""Launch: a preset, one or more activations, every config field, an optional sweep, where the
runs train (this machine's device slots, or a Ray cluster); ctrl+r queues them.

The form is validated on every change with validate_config(RunConfig) and engine.sweeps.plan (the CLI's
own rules), errors show beside their field, and nothing can start while any remain. The runs go
to the data directory's queue: they train in worker processes and outlive the app.
"""

from __future__ import annotations

import os

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, RadioButton, RadioSet, Select, SelectionList, Static
from textual.widgets.option_list import Option

from engine.experiments import instance_count, validate_config
from engine.training.activations import BLOG_ACTIVATIONS, activation_names
from engine.config import RunConfig
from engine.training.device import check_device_name
from engine.errors import ConfigError, StoreError
from engine.experiments import experiment_names, get_experiment
from engine.presets import QUALITIES
from engine.jobs.ray_executor import ADDRESS_ENV
from engine.jobs.scheduler import load_devices
from engine.sweeps.plan import FIELD_KINDS, SweepPlan, SweepPoint, parse_values
from supertui.messages import LiveRunUpdated
from supertui.widgets.config_form import FIELD_NAMES, ConfigForm
from supertui.widgets.job_queue import JobQueueTable
from supertui.widgets.toggles import ChoiceButton, MovingOptionList, TickList, hint_hidden

PRESET_CHOICES = tuple(experiment_names())
SWEEP_FIELDS = tuple(FIELD_KINDS)  # activations are picked in the list
SWEEP_ROWS = 2
EXECUTORS = (("this machine (device slots)", "local"), ("a Ray cluster", "ray"))


def one_line_reason(exc: Exception) -> str:
    """An error as one line for a notification (an OSError as `path: reason`)."""
    if isinstance(exc, OSError):
        from engine.system.files import describe_os_error

        return describe_os_error(exc)
    return " ".join(str(exc).split())


def preset_base(preset: str, quality: str) -> RunConfig:
    return get_experiment(preset).config(quality)


def collect_errors(config: RunConfig, fallback: RunConfig) -> dict[str, str]:
    """Every field validate() objects to, not just the first: each bad field is swapped for the
    preset's (valid) value and the config checked again."""
    errors: dict[str, str] = {}
    for _ in range(len(FIELD_NAMES) + 2):
        try:
            validate_config(config)
            check_device_name(config.device)  # whether a GPU exists is the worker's to find out
            return errors
        except ConfigError as exc:
            name = exc.field.split(".")[0]
            if name in errors or not hasattr(config, name):
                errors.setdefault(name, str(exc))
                return errors
            errors[name] = str(exc)
            config = config.replace(**{name: getattr(fallback, name)})
    return errors


class LaunchScreen(Screen):
    TITLE = "New run"
    BINDINGS = [
        Binding("ctrl+r", "start", "Start", id="launch.start", priority=True),
        Binding("ctrl+t", "all_activations", "All 7", id="launch.all_activations"),
        Binding("ctrl+o", "toggle_quality", "Quick/paper", id="launch.quality"),
        Binding("escape", "back", "Back", id="launch.back"),
    ]

    def __init__(self, preset: str | None = None):
        super().__init__()
        from supertui.settings import load_settings

        self.kept = load_settings().get("launch") or {}  # the form as it was last started
        kept_preset = self.kept.get("preset")
        self.preset = preset or (kept_preset if kept_preset in PRESET_CHOICES else "sparsity")
        self.quality = self.kept.get("quality") if self.kept.get("quality") in QUALITIES else "quick"
        self._checked: str | None = None  # what the form held when last validated
        self.errors: dict[str, str] = {}
        self.plan: SweepPlan | None = None
        self.points: list[SweepPoint] = []
        self.starting = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="launch-body"):
            with Vertical(id="choices"):
                yield MovingOptionList(
                    *[Option(self._preset_label(name), id=name) for name in PRESET_CHOICES], id="presets"
                )
                with RadioSet(id="quality", compact=True):
                    for quality in QUALITIES:
                        yield ChoiceButton(quality, value=quality == self.quality, id=f"quality-{quality}")
                yield TickList(
                    *[(name, name, name in self._first_activations()) for name in self._activation_choices()],
                    id="activations"
                )
                yield Static("", classes="field-error", id="error-activation")
            with VerticalScroll(id="form"):
                yield ConfigForm(id="config-form")
                yield Static("Sweep (one run per combination, optional)", classes="form-heading")
                for row in range(SWEEP_ROWS):
                    with Horizontal(classes="field"):
                        yield Select([(f, f) for f in SWEEP_FIELDS], prompt="sweep field", id=f"sweep-field-{row}", compact=True)
                        yield Input(placeholder="values, comma separated", id=f"sweep-values-{row}", compact=True)
                yield Static("", classes="field-error", id="error-sweep")
                yield Static("Where the runs train", classes="form-heading")
                with Horizontal(classes="field"):
                    yield Select(EXECUTORS, value="local", allow_blank=False, id="executor", compact=True)
                    yield Input(placeholder="Ray head HOST:PORT (ray only)", id="address", compact=True)
                yield Static("", classes="field-error", id="error-address")
                with Horizontal(classes="field"):
                    yield Static("device slots", classes="label")
                    yield Input(placeholder="automatic: every GPU, else one CPU (e.g. cuda:0,cuda:2)", id="devices",
                                compact=True)
                yield Static("", classes="field-error", id="error-devices")
        yield Static("", id="launch-summary")
        yield JobQueueTable(id="queue")
        yield Footer()

    @staticmethod
    def _preset_label(name: str) -> Text:
        experiment = get_experiment(name)
        return Text.assemble((experiment.title, "bold"), f"\n{experiment.description}")

    @staticmethod
    def _activation_choices() -> list[str]:
        return [*BLOG_ACTIVATIONS, *(a for a in activation_names() if a not in BLOG_ACTIVATIONS)]

    def _first_activations(self) -> set[str]:
        kept = self.kept.get("activations")
        names = set(self._activation_choices())
        return {a for a in kept if a in names} or {"relu"} if isinstance(kept, list) else {"relu"}

    def on_mount(self) -> None:
        for list_id in ("#presets", "#activations"):  # a list taller than its box says what it hides
            box = self.query_one(list_id)
            self.watch(box, "scroll_y", lambda *_, box=box: self._hint_hidden(box), init=False)
            self.watch(box, "virtual_size", lambda *_, box=box: self._hint_hidden(box), init=False)
        self.query_one("#presets", OptionList).border_title = "preset"
        self.query_one("#activations", SelectionList).border_title = "activations (space toggles)"
        self.query_one("#form").border_title = "config"
        self.query_one(JobQueueTable).show_runs(self.app.live_runs.active)
        self.query_one("#address", Input).value = os.environ.get(ADDRESS_ENV, "")
        self.query_one("#devices", Input).value = ",".join(load_devices(self.app.store) or [])
        presets = self.query_one("#presets", OptionList)
        presets.highlighted = PRESET_CHOICES.index(self.preset)
        self.fill(kept=self.kept.get("fields") if self.kept.get("preset") == self.preset else None)
        presets.focus()

    def on_resize(self) -> None:
        for list_id in ("#presets", "#activations"):
            self.call_after_refresh(self._hint_hidden, self.query_one(list_id))

    def _hint_hidden(self, box) -> None:
        hint_hidden(box)

    # Form state --------------------------------------------------------------------------
    def fill(self, kept: dict | None = None) -> None:
        """The preset's settings (with the fields kept from the last start, when given); the
        summary follows at once, not after the fields' change events have gone round."""
        form = self.query_one(ConfigForm)
        form.fill(preset_base(self.preset, self.quality))
        if isinstance(kept, dict):
            form.set_texts(kept)
        form.hide_fields(get_experiment(self.preset).ignored_fields)
        self.revalidate()

    def selected_activations(self) -> list[str]:
        selected = set(self.query_one("#activations", SelectionList).selected)
        return [name for name in self._activation_choices() if name in selected]

    def sweep_axes(self) -> tuple[dict[str, list], str | None]:
        """The swept fields, read by engine.sweeps.plan as the CLI's --sweep reads them."""
        axes: dict[str, list] = {}
        for row in range(SWEEP_ROWS):
            field = self.query_one(f"#sweep-field-{row}", Select).value
            text = self.query_one(f"#sweep-values-{row}", Input).value.strip()
            if field is Select.BLANK or not isinstance(field, str):
                if text:
                    return axes, "sweep: pick the field these values are for"
                continue
            if field in axes:
                return axes, f"sweep: {field} is swept twice"
            try:
                axes[field] = parse_values(field, text.replace(" ", ","))
            except ConfigError as exc:
                return axes, f"sweep: {exc}"
        return axes, None

    def where_errors(self) -> dict[str, str]:
        """Syntax of the executor and device slots; a Ray cluster is asked when starting."""
        errors = {}
        if self.executor == "ray":
            from engine.jobs.ray_executor import check_address

            try:
                check_address(self.query_one("#address", Input).value.strip())
            except ConfigError as exc:
                errors["address"] = str(exc)
        devices = self.query_one("#devices", Input).value.strip()
        if devices:
            from engine.jobs.scheduler import parse_devices

            try:
                parse_devices(devices)
            except ConfigError as exc:
                errors["devices"] = str(exc)
        return errors

    @property
    def configs(self) -> list[RunConfig]:
        """The runs ctrl+r would queue (empty while any field is wrong)."""
        return [p.config for p in self.points]

    @property
    def executor(self) -> str:
        return str(self.query_one("#executor", Select).value)

    def _form_state(self) -> str:
        inputs = [(w.id, w.value) for w in self.query(Input)] + [(w.id, str(w.value)) for w in self.query(Select)]
        return repr((self.preset, self.quality, self.selected_activations(), inputs, self.query_one(ConfigForm).texts()))

    def revalidate(self) -> None:
        # A preset fills twenty fields, each of which then reports its change: one check is enough.
        state = self._form_state()
        if state == self._checked:
            return
        self._checked = state
        form = self.query_one(ConfigForm)
        values, errors = form.read()
        activations = self.selected_activations()
        fallback = preset_base(self.preset, self.quality)
        config = fallback.replace(preset=self.preset, activation=activations[0] if activations else "relu", **values)
        errors = {**collect_errors(config, fallback), **errors}
        if not activations:
            errors["activation"] = "activation: pick at least one (space toggles, ctrl+t picks all seven)"
        self.plan, self.points = None, []
        axes, sweep_error = self.sweep_axes()
        if sweep_error:
            errors["sweep"] = sweep_error
        errors.update(self.where_errors())
        if not errors:
            try:
                self.plan = SweepPlan(config, activations, axes)
                self.points = self.plan.points()
            except ConfigError as exc:
                errors["sweep"] = f"sweep: {exc}"
        self.errors = errors
        form.show_errors(errors)
        for name in ("activation", "sweep", "address", "devices"):
            box = self.query_one(f"#error-{name}", Static)
            box.display = name in errors
            box.update(Text(f"✗ {errors.get(name, '')}"))
        self.query_one("#address", Input).display = self.executor == "ray"
        self._update_summary()

    def _update_summary(self) -> None:
        summary = self.query_one("#launch-summary", Static)
        if self.errors:
            summary.update(Text(f"✗ {len(self.errors)} field(s) to fix before starting: {', '.join(self.errors)}"))
        else:
            summary.update(self.summary_text())
        summary.set_class(bool(self.errors), "invalid")

    def summary_text(self) -> Text:
        """What ctrl+r queues: per run (each run trains its instances for its steps, the runs side
        by side), then the total instances of them all."""
        configs = [p.config for p in self.points]
        counts = [instance_count(c) for c in configs]
        sweep = f" in one sweep ({', '.join(self.plan.axes)})" if self.plan.axes else ""
        where = "on the Ray cluster" if self.executor == "ray" else "on this machine"

        def span(values: list[int]) -> str:
            low, high = min(values), max(values)
            return f"{low:,}" if low == high else f"{low:,}–{high:,}"

        per_run = f"each run {span(counts)} instance(s) × {span([c.steps for c in configs])} steps"
        total = f"; {sum(counts):,} instances in all" if len(configs) > 1 else ""
        return Text.assemble(
            (f"{len(configs)} run(s){sweep}", "bold"),
            f": {', '.join(sorted({c.activation for c in configs}))}; {per_run}{total}; {where}.  ",
            ("ctrl+r queues", "bold green"),
        )

    # Events ------------------------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id != "presets" or event.option_index != event.option_list.highlighted:
            return  # a stale event: the highlight has moved on (opening the form sets it once)
        if event.option.id != self.preset:
            self.preset = event.option.id
            self.fill()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        quality = str(event.pressed.label)
        if quality != self.quality:
            self.quality = quality
            self.fill()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.revalidate()

    def on_select_changed(self, event: Select.Changed) -> None:
        self.revalidate()

    def on_checkbox_changed(self, event) -> None:
        self.revalidate()

    def on_selection_list_selected_changed(self, event: SelectionList.SelectedChanged) -> None:
        self.revalidate()

    def on_live_run_updated(self, message: LiveRunUpdated) -> None:
        self.query_one(JobQueueTable).update_run(message.run)

    # Actions -----------------------------------------------------------------------------
    def action_all_activations(self) -> None:
        activations = self.query_one("#activations", SelectionList)
        if set(BLOG_ACTIVATIONS) <= set(activations.selected):
            activations.deselect_all()
            activations.select("relu")
        else:
            for name in BLOG_ACTIVATIONS:
                activations.select(name)

    def action_toggle_quality(self) -> None:
        other = QUALITIES[(QUALITIES.index(self.quality) + 1) % len(QUALITIES)]
        self.query_one(f"#quality-{other}", RadioButton).value = True

    def action_back(self) -> None:
        self.dismiss()

    def action_start(self) -> None:
        self.revalidate()
        if self.errors:
            first = next(iter(self.errors.values()))
            self.notify(first, title="Not started: fix the config first", severity="error", markup=False)
            return
        if self.starting:
            return
        try:  # a read-only or full data directory: one line, and the form stays open
            self.app.store.check_writable()
            devices = self.query_one("#devices", Input).value.strip()
            if devices:
                from engine.jobs.scheduler import parse_devices, save_devices

                save_devices(self.app.store, parse_devices(devices))
        except (ConfigError, OSError) as exc:
            self._not_started(one_line_reason(exc))
            return
        if self.executor == "ray":
            self.starting = True
            self.notify("asking the Ray cluster…", timeout=3)
            self.run_worker(self._check_cluster_then_queue, thread=True, exit_on_error=False, group="launch")
        else:
            self._queue(None)

    def _check_cluster_then_queue(self) -> None:
        """Off the event loop (joining a cluster takes seconds); back on it to queue."""
        from engine.jobs.ray_executor import RaySettings, check_cluster

        settings = RaySettings(self.query_one("#address", Input).value.strip())
        try:
            check_cluster(settings, sorted({p.config.device if p.config.device != "auto" else "cpu" for p in self.points}))
        except ConfigError as exc:
            self.app.call_from_thread(self._not_started, str(exc))
            return
        self.app.call_from_thread(self._queue, settings.to_manifest())

    def _not_started(self, message: str) -> None:
        self.starting = False
        self.notify(message, title="Not started", severity="error", markup=False, timeout=10)

    def _queue(self, executor: dict | None) -> None:
        self.app.keep_setting("launch", {"preset": self.preset, "quality": self.quality,
                                         "activations": self.selected_activations(),
                                         "fields": self.query_one(ConfigForm).texts()})
        sweep = self.plan if self.plan.axes else None
        try:
            records = self.app.submit(self.points, sweep=sweep, executor=executor)
        except (ConfigError, StoreError, OSError) as exc:
            self._not_started(one_line_reason(exc))
            return
        self.notify(f"{len(records)} run(s) queued; they train in worker processes and outlive the app",
                    title="Queued", markup=False)
        self.app.open_run(records[0].id, instead_of_this_screen=True)

