"""Widgets of the supertui app, one per file. The visual ones (heatmap, neuron bars, phase grid,
loss and D* plots) render from cached state and only refresh when their data changes, because
training updates arrive several times a second."""

from supertui.widgets.dstar_plot import DStarPlot
from supertui.widgets.heatmap import HeatMap
from supertui.widgets.loss_plot import LossPlot
from supertui.widgets.neuron_bars import NeuronBars
from supertui.widgets.phase_grid import PhaseGrid
from supertui.widgets.sparkline import sparkline_text

__all__ = ["DStarPlot", "HeatMap", "LossPlot", "NeuronBars", "PhaseGrid", "sparkline_text"]
