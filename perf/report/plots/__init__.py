"""The reports' figures (matplotlib, drawn from the frames of ``perf.report``): every figure
draws its target (a line labelled ``target ...``), colours pass / fail / inconclusive, and
states its units. ``setup()`` makes the notebooks emit compact SVG (text as text).
"""

from perf.report.plots.benchmarks import bars_plot, compare_bars_plot, medians_plot, trend_plot
from perf.report.plots.caches import hit_rates_plot
from perf.report.plots.capacity import capacity_plot
from perf.report.plots.latency import compare_spectra_plot, db_plot, load_plot, spectrum_plot
from perf.report.plots.style import COLOURS, TARGET_COLOUR, setup
from perf.report.plots.tokens import token_components_plot, tokens_per_query_plot

__all__ = [
    "COLOURS",
    "TARGET_COLOUR",
    "bars_plot",
    "capacity_plot",
    "compare_bars_plot",
    "compare_spectra_plot",
    "db_plot",
    "hit_rates_plot",
    "load_plot",
    "medians_plot",
    "setup",
    "spectrum_plot",
    "token_components_plot",
    "tokens_per_query_plot",
    "trend_plot",
]
