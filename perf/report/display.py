"""Numbers as people read them: rounded, with units, verdicts coloured; and lean HTML tables
(no per-cell styles) for the notebooks and the index. Standard library only: the notebooks
pass DataFrames, the index plain rows.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "VERDICT_ORDER",
    "Html",
    "Table",
    "fmt_count",
    "fmt_duration",
    "fmt_interval",
    "fmt_ms",
    "fmt_percent",
    "fmt_ratio",
    "fmt_tokens",
    "fmt_value",
    "verdict_badge",
    "verdict_class",
]

# failures first, then what could not be decided, then what passed
VERDICT_ORDER = {"fail": 0, "no data": 1, "inconclusive": 2, "pass": 3}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def fmt_ms(value: float | None) -> str:
    """``0.42 ms``, ``3.8 ms``, ``151 ms``, ``1,234 ms``: three significant digits, at most."""
    if _missing(value):
        return "n/a"
    assert value is not None
    if not math.isfinite(value):
        return f"{value} ms"
    if abs(value) >= 100:
        return f"{value:,.0f} ms"
    if abs(value) >= 10:
        return f"{value:.1f} ms"
    return f"{value:.2f} ms"


def fmt_duration(seconds: float | None) -> str:
    """A time in the unit that reads best: ``85 ns``, ``2.3 µs``, ``41 ms``, ``1.5 s``."""
    if _missing(seconds):
        return "n/a"
    assert seconds is not None
    for scale, unit in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
        if abs(seconds) >= scale or unit == "ns":
            value = seconds / scale
            digits = 0 if abs(value) >= 100 else 1 if abs(value) >= 10 else 2
            return f"{value:,.{digits}f} {unit}"
    raise AssertionError("unreachable")  # pragma: no cover


def fmt_percent(value: float | None, digits: int = 1) -> str:
    return "n/a" if _missing(value) else f"{value:.{digits}%}"


def fmt_ratio(value: float | None) -> str:
    """A ratio of medians: ``0.021x``, ``0.53x``, ``1.2x``, ``14x``."""
    if _missing(value):
        return "n/a"
    assert value is not None
    if not math.isfinite(value) or value == 0:
        return f"{value}x"
    digits = max(0, 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{digits}f}x"


def fmt_count(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{value:,.0f}"


def fmt_tokens(value: float | None) -> str:
    return "n/a" if _missing(value) else f"{value:,.0f} tokens"


def fmt_value(value: float | None, unit: str) -> str:
    """A check's value in its unit (``ms``, ``ratio``, ``x``, ``tokens``, ``calls``...)."""
    if unit == "ms":
        return fmt_ms(value)
    if unit == "ratio":
        return fmt_percent(value)
    if unit == "x":
        return fmt_ratio(value)
    if _missing(value):
        return "n/a"
    assert value is not None
    shown = f"{value:,.0f}" if abs(value) >= 100 or value == int(value) else f"{value:,.3g}"
    return f"{shown} {unit}".strip()


def fmt_interval(interval: Mapping[str, Any] | None, unit: str) -> str:
    """``[88.7%, 93.2%]``; empty without an interval."""
    if not interval:
        return ""
    low, high = interval.get("low"), interval.get("high")
    if low is None or high is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    return f"[{fmt_value(low, unit)}, {fmt_value(high, unit)}]"


def verdict_class(verdict: str) -> str:
    return verdict.replace(" ", "-")


def verdict_badge(verdict: str) -> str:
    return f'<span class="verdict {verdict_class(verdict)}">{html.escape(verdict)}</span>'


Formatter = Callable[[Any], str]


@dataclass
class Table:
    """A lean HTML table: ``rows`` of dicts, ``columns`` ``{key: header}``, a formatter per
    key (default: ``str``), numeric keys right-aligned, a ``verdict`` key coloured; a row is
    tinted by its own ``verdict``. Jupyter shows it through ``_repr_html_``."""

    rows: Sequence[Mapping[str, Any]]
    columns: Mapping[str, str]
    formats: Mapping[str, Formatter] = field(default_factory=dict)
    numeric: frozenset[str] = frozenset()
    caption: str = ""

    @classmethod
    def from_frame(cls, frame: Any, columns: Mapping[str, str], **kwargs: Any) -> Table:
        """From a DataFrame (its index becomes a column when it is named)."""
        if getattr(frame.index, "name", None):
            frame = frame.reset_index()
        records: list[dict[str, Any]] = frame.to_dict("records")
        return cls(records, columns, **kwargs)

    def _cell(self, key: str, row: Mapping[str, Any]) -> str:
        value = row.get(key)
        if key == "verdict" and isinstance(value, str):
            return f"<td>{verdict_badge(value)}</td>"
        text = "" if _missing(value) and key not in self.formats else None
        if text is None:
            text = self.formats.get(key, _plain)(value)
        css = ' class="num"' if key in self.numeric else ""
        return f"<td{css}>{html.escape(text)}</td>"

    def to_html(self) -> str:
        head = "".join(
            f"<th{' class=num' if k in self.numeric else ''}>{html.escape(v)}</th>"
            for k, v in self.columns.items()
        )
        body = []
        for row in self.rows:
            verdict = row.get("verdict")
            css = f' class="{verdict_class(verdict)}"' if isinstance(verdict, str) else ""
            cells = "".join(self._cell(k, row) for k in self.columns)
            body.append(f"<tr{css}>{cells}</tr>")
        caption = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        rows = "".join(body)
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"

    def _repr_html_(self) -> str:
        return self.to_html()


def _plain(value: Any) -> str:
    if _missing(value):
        return ""
    if isinstance(value, float):
        return f"{value:,.3g}"
    return str(value)


@dataclass(frozen=True)
class Html:
    """Ready HTML for a notebook output (``_repr_html_``), e.g. a sentence with a verdict."""

    html: str

    def _repr_html_(self) -> str:
        return self.html
