"""Launch: a preset, one or more activations, every config field, an optional sweep; ctrl+r starts.

The form is validated on every change with RunConfig.validate() (the CLI's own rules), errors
show beside their field, and nothing can start while any remain.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, OptionList, RadioButton, RadioSet, Select, SelectionList, Static
from textual.widgets.option_list import Option

from engine.activations import BLOG_ACTIVATIONS, activation_names
from engine.config import RunConfig
from engine.device import select_device
from engine.errors import ConfigError
from engine.experiments import experiment_names, get_experiment
from engine.presets import QUALITIES
from engine.sweep import SWEEPABLE, expand_sweep
from supertui.messages import JobUpdated
from supertui.widgets.config_form import FIELD_NAMES, SPEC, ConfigForm, parse_value
from supertui.widgets.job_queue import JobQueueTable

PRESET_CHOICES = tuple(experiment_names())
SWEEP_FIELDS = tuple(name for name in SWEEPABLE if name != "activation")  # activations are picked in the list
SWEEP_ROWS = 2


def preset_base(preset: str, quality: str) -> RunConfig:
    return get_experiment(preset).config(quality)


def collect_errors(config: RunConfig, fallback: RunConfig) -> dict[str, str]:
    """Every field validate() objects to, not just the first: each bad field is swapped for the
    preset's (valid) value and the config checked again."""
    errors: dict[str, str] = {}
    for _ in range(len(FIELD_NAMES) + 2):
        try:
            config.validate()
            select_device(config.device)
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
        Binding("ctrl+t", "all_activations", "All 7 activations", id="launch.all_activations"),
        Binding("ctrl+o", "toggle_quality", "Quick/paper", id="launch.quality"),
        Binding("escape", "back", "Back", id="launch.back"),
    ]

    def __init__(self, preset: str = "sparsity"):
        super().__init__()
        self.preset = preset
        self.quality = "quick"
        self.errors: dict[str, str] = {}
        self.configs: list[RunConfig] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="launch-body"):
            with Vertical(id="choices"):
                yield OptionList(
                    *[Option(self._preset_label(name), id=name) for name in PRESET_CHOICES], id="presets"
                )
                with RadioSet(id="quality", compact=True):
                    for quality in QUALITIES:
                        yield RadioButton(quality, value=quality == self.quality, id=f"quality-{quality}")
                yield SelectionList[str](
                    *[(name, name, name == "relu") for name in self._activation_choices()], id="activations"
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

    def on_mount(self) -> None:
        self.query_one("#presets", OptionList).border_title = "preset"
        self.query_one("#activations", SelectionList).border_title = "activations (space toggles)"
        self.query_one("#form").border_title = "config"
        self.query_one(JobQueueTable).show_jobs(self.app.queue.active)
        presets = self.query_one("#presets", OptionList)
        presets.highlighted = PRESET_CHOICES.index(self.preset)
        self.fill()
        presets.focus()

    # Form state --------------------------------------------------------------------------
    def fill(self) -> None:
        self.query_one(ConfigForm).fill(preset_base(self.preset, self.quality))
        self.call_after_refresh(self.revalidate)

    def selected_activations(self) -> list[str]:
        selected = set(self.query_one("#activations", SelectionList).selected)
        return [name for name in self._activation_choices() if name in selected]

    def sweep_axes(self) -> tuple[dict[str, list], str | None]:
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
            spec = SPEC.get(field)
            tokens = [t for t in text.replace(" ", ",").split(",") if t]
            if not tokens:
                return axes, f"sweep: {field} needs at least one value"
            axes[field] = [parse_value(spec, t) if spec else t for t in tokens]
        return axes, None

    def revalidate(self) -> None:
        form = self.query_one(ConfigForm)
        values, errors = form.read()
        activations = self.selected_activations()
        fallback = preset_base(self.preset, self.quality)
        config = fallback.replace(preset=self.preset, activation=activations[0] if activations else "relu", **values)
        errors = {**collect_errors(config, fallback), **errors}
        if not activations:
            errors["activation"] = "activation: pick at least one (space toggles, ctrl+t picks all seven)"
        self.configs = []
        axes, sweep_error = self.sweep_axes()
        if sweep_error:
            errors["sweep"] = sweep_error
        if not errors:
            try:
                self.configs = expand_sweep(config, {"activation": activations, **axes})
            except ConfigError as exc:
                errors["sweep"] = f"sweep: {exc}"
        self.errors = errors
        form.show_errors(errors)
        for name in ("activation", "sweep"):
            box = self.query_one(f"#error-{name}", Static)
            box.display = name in errors
            box.update(Text(f"✗ {errors.get(name, '')}"))
        self._update_summary()

    def _update_summary(self) -> None:
        summary = self.query_one("#launch-summary", Static)
        if self.errors:
            summary.update(Text(f"✗ {len(self.errors)} field(s) to fix before starting: {', '.join(self.errors)}"))
        else:
            first = self.configs[0]
            instances = sum(c.num_instances for c in self.configs)
            steps = sum(c.steps for c in self.configs)
            summary.update(
                Text.assemble(
                    (f"{len(self.configs)} run(s)", "bold"),
                    f": {', '.join(sorted({c.activation for c in self.configs}))}; "
                    f"{first.num_instances} instance(s) each ({instances} in all), {steps:,} steps in all.  ",
                    ("ctrl+r starts", "bold green"),
                )
            )
        summary.set_class(bool(self.errors), "invalid")

    # Events ------------------------------------------------------------------------------
    def on_option_list_option_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_list.id == "presets" and event.option.id != self.preset:
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

    def on_job_updated(self, message: JobUpdated) -> None:
        self.query_one(JobQueueTable).update_job(message.job)

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
            self.notify(first, title="Not started: fix the config first", severity="error")
            return
        jobs = self.app.queue.submit(self.configs)
        self.app.job_queue_changed()
        self.notify(f"{len(jobs)} run(s) queued", title="Training")
        self.dismiss()
        self.app.open_job(jobs[0])

