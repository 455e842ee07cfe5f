"""Light, offline HTML for the reports: one lean page template and one shared stylesheet.

Every page of ``<run>/report/`` links ``style.css`` (written once per report) and loads no
script: no require.js, no MathJax, nothing from a CDN, so a page opens with the network off.
An executed notebook becomes a page with its input code hidden: its markdown, its tables (as
pandas or ``perf.report.plots`` render them) and its figures (inline SVG, or PNG as a data
URI). The page title is the notebook's first heading.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = [
    "STYLESHEET",
    "STYLESHEET_NAME",
    "compact_svg",
    "notebook_body",
    "notebook_title",
    "page",
]

STYLESHEET_NAME = "style.css"

STYLESHEET = """\
:root { --pass: #1a7f37; --fail: #cf222e; --inconclusive: #9a6700; --nodata: #6e7781;
  --ink: #1f2328; --muted: #59636e; --rule: #d1d9e0; --tint: #f6f8fa; }
* { box-sizing: border-box; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif;
  color: var(--ink); max-width: 1100px; margin: 0 auto; padding: 1rem 1.5rem 3rem; }
nav { font-size: .9rem; color: var(--muted); border-bottom: 1px solid var(--rule);
  padding-bottom: .4rem; margin-bottom: 1rem; }
nav a { margin-right: .8rem; }
h1 { font-size: 1.6rem; margin: .4rem 0 .6rem; }
h2 { font-size: 1.25rem; margin: 1.8rem 0 .5rem; border-bottom: 1px solid var(--rule); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
a { color: #0969da; text-decoration: none; } a:hover { text-decoration: underline; }
code { font: .88em ui-monospace, "DejaVu Sans Mono", monospace; background: var(--tint);
  padding: .1em .3em; border-radius: 4px; }
pre { font: .85em/1.4 ui-monospace, "DejaVu Sans Mono", monospace; background: var(--tint);
  padding: .6rem .8rem; overflow-x: auto; border-radius: 6px; }
pre.error { background: #ffebe9; color: var(--fail); }
table { border-collapse: collapse; margin: .6rem 0 1rem; font-size: .88rem; }
th, td { border-bottom: 1px solid var(--rule); padding: .25rem .6rem; text-align: left;
  vertical-align: top; }
th { background: var(--tint); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.figure { margin: .8rem 0 1.2rem; } .figure svg, .figure img { max-width: 100%; height: auto; }
.verdict { display: inline-block; padding: .05em .5em; border-radius: 1em; color: #fff;
  font-weight: 600; font-size: .85em; white-space: nowrap; }
.verdict.pass { background: var(--pass); } .verdict.fail { background: var(--fail); }
.verdict.inconclusive { background: var(--inconclusive); }
.verdict.no-data { background: var(--nodata); }
h1.headline.pass { color: var(--pass); } h1.headline.fail { color: var(--fail); }
h1.headline.inconclusive { color: var(--inconclusive); }
h1.headline.no-data { color: var(--nodata); }
tr.fail td { background: #fff5f5; } tr.inconclusive td { background: #fff8e1; }
tr.no-data td { background: #f6f8fa; }
.muted { color: var(--muted); } .small { font-size: .85rem; }
dl.context { display: grid; grid-template-columns: max-content 1fr; gap: .15rem 1rem; }
dl.context dt { color: var(--muted); } dl.context dd { margin: 0; }
ul.links { columns: 2; padding-left: 1.2rem; }
.note { border-left: 4px solid var(--rule); padding: .2rem .8rem; color: var(--muted); }
"""

_HEADING = re.compile(r"^\s*#\s+(.+?)\s*$", re.MULTILINE)
_SVG_METADATA = re.compile(r"<metadata>.*?</metadata>\s*", re.DOTALL)
_ANCHOR = re.compile(r'<a class="anchor-link"[^>]*>[^<]*</a>')


def page(title: str, body: str, *, nav: Iterable[tuple[str, str]] = ()) -> str:
    """A whole HTML document: ``title``, a navigation line of ``(label, href)`` links, and
    ``body`` (already HTML), styled by the shared stylesheet beside it."""
    links = "".join(f'<a href="{html.escape(h)}">{html.escape(t)}</a>' for t, h in nav)
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n"
        f'<link rel="stylesheet" href="{STYLESHEET_NAME}">\n</head>\n<body>\n'
        + (f"<nav>{links}</nav>\n" if links else "")
        + body
        + "\n</body>\n</html>\n"
    )


def notebook_title(notebook: Any, default: str) -> str:
    """The first ``# heading`` of the notebook's markdown cells, else ``default``."""
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            match = _HEADING.search(cell.source)
            if match:
                return match.group(1).strip().strip("`")
    return default


def _markdown(source: str) -> str:
    from nbconvert.filters.markdown_mistune import markdown2html_mistune  # noqa: PLC0415 - only a report renders

    rendered: str = markdown2html_mistune(source)
    return _ANCHOR.sub("", rendered)


def _output(output: Mapping[str, Any]) -> str:  # noqa: PLR0911 - one return per output kind
    kind = output.get("output_type")
    if kind == "stream":
        if output.get("name") == "stderr":
            return ""  # warnings of the kernel's libraries are not the report's content
        return f"<pre>{html.escape(_text(output.get('text', '')))}</pre>"
    if kind == "error":
        trace = "\n".join(output.get("traceback", []))
        plain = re.sub(r"\x1b\[[0-9;]*m", "", trace)
        return f'<pre class="error">{html.escape(plain)}</pre>'
    data = output.get("data", {})
    if "image/svg+xml" in data:
        svg = re.sub(r"^<\?xml[^>]*>\s*(<!DOCTYPE[^>]*>\s*)?", "", _text(data["image/svg+xml"]))
        svg = compact_svg(svg)
        return f'<div class="figure">{svg}</div>'
    if "image/png" in data:
        png = _text(data["image/png"]).replace("\n", "")
        return f'<div class="figure"><img alt="figure" src="data:image/png;base64,{png}"></div>'
    if "text/html" in data:
        return _text(data["text/html"])
    if "text/markdown" in data:
        return _markdown(_text(data["text/markdown"]))
    if "text/plain" in data:
        return f"<pre>{html.escape(_text(data['text/plain']))}</pre>"
    return ""


_FONTS = re.compile(r"font-family: [^;\"]*")
_DECIMALS = re.compile(r"(\d\.\d)\d{2,}")
_TAG = re.compile(r"<[^>]+>")
_BETWEEN_TAGS = re.compile(r">\s+<")
_BREAKS = re.compile(r"\s*\n\s*")


def compact_svg(svg: str) -> str:
    """A matplotlib SVG at a third of its bytes, looking the same: no RDF metadata, one short
    font list, coordinates to 0.1 pt (matplotlib writes 6 decimals), no indentation."""
    svg = _SVG_METADATA.sub("", svg)
    svg = _FONTS.sub("font-family: 'DejaVu Sans', sans-serif", svg)
    svg = _TAG.sub(lambda tag: _DECIMALS.sub(r"\1", tag.group(0)), svg)  # not in labels
    svg = _BETWEEN_TAGS.sub("><", svg)
    return _BREAKS.sub(" ", svg)


def _text(value: Any) -> str:
    return "".join(value) if isinstance(value, list) else str(value)


def notebook_body(notebook: Any) -> str:
    """The executed notebook's markdown and outputs as HTML, its input code hidden."""
    parts = []
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            parts.append(_markdown(cell.source))
        elif cell.cell_type == "code":
            parts.extend(_output(o) for o in cell.get("outputs", []))
    return "\n".join(p for p in parts if p)
