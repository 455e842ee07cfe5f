"""``report/index.html``: one run at a glance, written from the final ``gate.json``.

The first line is the gate's verdict; then the checks, failures and inconclusive ones first;
the run's context (commit, machine, load, model, duration, warm-up cut); links to every report
page, Locust's own report, the profile (``perf load --profile``: flame graph, speedscope file,
top frames) and the raw files. ``perf report`` writes it after the notebooks;
``perf gate`` rewrites it whenever the run already has a report, so the page never shows an
earlier verdict than ``gate.json``.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from perf._internal.atomic import write_text_atomic
from perf.report.display import (
    VERDICT_ORDER,
    fmt_duration,
    fmt_interval,
    fmt_percent,
    fmt_value,
    verdict_badge,
    verdict_class,
)
from perf.report.html import STYLESHEET, STYLESHEET_NAME, page
from perf.results import manifest as schema
from perf.results.files import (
    GATE,
    LOCUST_HTML,
    MANIFEST,
    PROFILE_FLAMEGRAPH,
    PROFILE_SPEEDSCOPE,
    REPORT_DIR,
)

__all__ = [
    "INDEX",
    "headline",
    "index_html",
    "nav_label",
    "ordered_checks",
    "write_index",
    "write_stylesheet",
]

INDEX = "index.html"


def ordered_checks(checks: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Counted checks by verdict (fail, no data, inconclusive, pass), then skipped ones; the
    gate's order within each."""
    return sorted(
        checks, key=lambda c: (bool(c.get("skipped")), VERDICT_ORDER.get(c["verdict"], 9))
    )


def headline(gate: Mapping[str, Any] | None) -> tuple[str, str]:
    """``(verdict, sentence)``: the index's first line."""
    if gate is None:
        return "no data", f"NO VERDICT: this run has no {GATE} (run `perf gate`)"
    counts = gate.get("counts", {})
    total = sum(v for k, v in counts.items() if k != "skipped")
    verdict = str(gate["verdict"])
    parts = [f"{counts[v]} {v}" for v in ("fail", "inconclusive", "no data") if counts.get(v)]
    detail = ", ".join(parts) if parts else "every check passed"
    return verdict, f"{verdict.upper()}: {detail} ({counts.get('pass', 0)} of {total} passed)"


def _warmup(check: Mapping[str, Any]) -> str:
    window = check.get("window")
    if not window:
        return ""
    cut = f"{window['warmup_seconds']:.0f} s cut"
    return cut if window.get("settled", True) else f"{cut}, still warming up"


def _checks_table(gate: Mapping[str, Any]) -> str:
    rows = []
    for c in ordered_checks(gate.get("checks", [])):
        unit = c.get("unit", "")
        measured = fmt_value(c.get("measured"), unit) if c.get("measured") is not None else "n/a"
        css = verdict_class(c["verdict"]) + (" skipped" if c.get("skipped") else "")
        skipped = ' <span class="muted small">(skipped)</span>' if c.get("skipped") else ""
        rows.append(
            f'<tr class="{css}"><td>{verdict_badge(c["verdict"])}</td>'
            f"<td><code>{html.escape(c['name'])}</code>{skipped}</td>"
            f'<td class="num">{html.escape(measured)}</td>'
            f'<td class="num">{html.escape(fmt_interval(c.get("interval"), unit))}</td>'
            f"<td>{html.escape(_target(c))}</td><td>{html.escape(_warmup(c))}</td>"
            f'<td class="small">{html.escape(c.get("message", ""))}</td></tr>'
        )
    head = (
        "<tr><th>verdict</th><th>check</th><th class=num>steady state</th>"
        "<th class=num>95 % interval</th><th>target</th><th>warm-up (MSER-5)</th>"
        "<th>message</th></tr>"
    )
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def _target(check: Mapping[str, Any]) -> str:
    op, _, limit = str(check.get("target", "")).partition(" ")
    try:
        return f"{op} {fmt_value(float(limit), check.get('unit', ''))}"
    except ValueError:
        return str(check.get("target", ""))


def _load_model(workload: Mapping[str, Any]) -> str:
    if workload.get("model") == "open":
        return f"open: {workload.get('open_rate')} requests/s on a fixed schedule"
    if "think_min_s" in workload:
        return (
            f"closed: each user waits for its response, then thinks "
            f"{workload['think_min_s']:g} to {workload['think_max_s']:g} s"
        )
    return str(workload.get("model", "n/a"))


def _context(manifest: Mapping[str, Any], gate: Mapping[str, Any] | None) -> list[tuple[str, str]]:
    machine = manifest.get("machine") or {}
    load = schema.stage(manifest, schema.LOAD_STAGE)
    workload = schema.workload(manifest)
    service = (load.get("settings") or {}).get(schema.SERVICE_SETTINGS) or {}
    dirty = " (uncommitted changes)" if manifest.get("dirty") else ""
    items = [
        ("run", str(manifest.get("run_id", ""))),
        ("commit", f"{manifest.get('commit', 'n/a')}{dirty}"),
        ("machine", f"{machine.get('cpu', '?')}, {machine.get('cores', '?')} cores, "
                    f"Python {machine.get('python', '?')} on {machine.get('system', '?')}"),
        ("started", str(manifest.get("started_at", "n/a"))),
    ]  # fmt: skip
    if workload:
        host = workload.get("host") or "the reference service, started by perf load"
        items += [
            ("load", f"{workload.get('users', '?')} users against {host}"),
            ("load model", _load_model(workload)),
            ("duration", fmt_duration(workload.get("duration_seconds"))),
        ]
    knees = schema.stage(manifest, schema.CAPACITY_STAGE).get("knees") or {}
    items += [(f"capacity ({name})", knee["message"]) for name, knee in knees.items() if knee]
    if service.get("llm_model"):
        stub = service.get("stub_latency_median_ms", "?")
        items.append(("LLM model", f"{service['llm_model']} (the stub: {stub} ms median)"))
    cuts = [(c["name"], c["window"]) for c in (gate or {}).get("checks", []) if c.get("window")]
    if cuts:
        longest = max(cuts, key=lambda item: item[1]["warmup_seconds"])
        items.append(
            ("warm-up cut", f"MSER-5 per check, 0 to {longest[1]['warmup_seconds']:.0f} s "
                            f"(longest: {longest[0]})")
        )  # fmt: skip
    if gate:
        items.append(("gate", f"{gate.get('created_at', '')}, exit code {gate.get('exit_code')}"))
    return items


def _profile(run: Path, manifest: Mapping[str, Any]) -> str:
    """Where the service's time went (``perf load --profile``): links and the top frames."""
    record = schema.stage(manifest, schema.LOAD_STAGE).get(schema.PROFILE)
    if not record:
        return ""
    if record.get("error"):
        return f'<h2>Profile</h2><p class="note">No profile: {html.escape(record["error"])}</p>'
    links = []
    if (run / PROFILE_FLAMEGRAPH).is_file():
        links.append(f'<a href="../{PROFILE_FLAMEGRAPH}">flame graph ({PROFILE_FLAMEGRAPH})</a>')
    if (run / PROFILE_SPEEDSCOPE).is_file():
        links.append(
            f'<a href="../{PROFILE_SPEEDSCOPE}">speedscope file ({PROFILE_SPEEDSCOPE})</a> '
            '<span class="muted small">(open it at https://www.speedscope.app: zoom, search, '
            "per-process views)</span>"
        )
    rows = "".join(
        f'<tr><td class="num">{fmt_percent(f["self_share"])}</td>'
        f'<td class="num">{fmt_percent(f["total_share"])}</td>'
        f"<td><code>{html.escape(f['function'])}</code></td></tr>"
        for f in record.get("top_frames", [])
    )
    seconds = record.get("seconds", record.get("planned_seconds", 0))
    about = (
        f"py-spy at {record.get('rate_hz', 0):g} Hz for {seconds:.0f} s from "
        f"{record.get('start_offset_seconds', 0):.0f} s into the run (its second half: steady "
        f"state), {record.get('samples', 0):,} samples of the service's threads holding the GIL"
    )
    return (
        f'<h2>Profile: where the service\'s Python time went</h2><p class="small">{about}</p>'
        f"<ul>{''.join(f'<li>{link}</li>' for link in links)}</ul>"
        "<table><thead><tr><th class=num>self</th><th class=num>total</th><th>function</th>"
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _links(run: Path, manifest: Mapping[str, Any], pages: Sequence[Mapping[str, Any]]) -> str:
    reports = []
    for p in pages:
        target = p.get("html")
        label = html.escape(str(p.get("title") or p["name"]))
        link = f'<a href="{html.escape(Path(target).name)}">{label}</a>' if target else label
        status = p.get("status", "")
        note = f' <span class="muted small">({html.escape(status)}'
        note += f": {html.escape(str(p['error']))}" if p.get("error") else ""
        reports.append(f"<li>{link}{note})</span></li>")
    files = [f for f in manifest.get("files", []) if not f.startswith(f"{REPORT_DIR}/")]
    for extra in (MANIFEST, GATE):
        if (run / extra).is_file() and extra not in files:
            files.append(extra)
    raw = "".join(
        f'<li><a href="../{html.escape(f)}">{html.escape(f)}</a></li>' for f in sorted(files)
    )
    locust = ""
    if (run / LOCUST_HTML).is_file():
        locust = f'<p><a href="../{LOCUST_HTML}">Locust\'s own report ({LOCUST_HTML})</a></p>'
    return (
        f"<h2>Reports</h2><ul>{''.join(reports) or '<li>none yet: run perf report</li>'}</ul>"
        f'{locust}<h2>Raw files</h2><ul class="links">{raw}</ul>'
    )


def index_html(
    run: Path, manifest: Mapping[str, Any], gate: Mapping[str, Any] | None,
    pages: Sequence[Mapping[str, Any]],
) -> str:  # fmt: skip
    """The index page of ``run``; ``pages`` are ``{name, title, html, status, error}``."""
    verdict, sentence = headline(gate)
    body = [f'<h1 class="headline {verdict_class(verdict)}">{html.escape(sentence)}</h1>']
    if gate is not None:
        body.append(_checks_table(gate))
    context = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in _context(manifest, gate)
    )
    body.append(f'<h2>Run</h2><dl class="context">{context}</dl>')
    body.append(_profile(run, manifest))
    body.append(_links(run, manifest, pages))
    nav = [("index", INDEX)] + [
        (nav_label(str(p["name"])), Path(p["html"]).name) for p in pages if p.get("html")
    ]
    return page(f"{verdict.upper()} · run {run.name}", "\n".join(body), nav=nav)


def nav_label(name: str) -> str:
    """A report's short name in the navigation line: ``hit_rates`` -> ``hit rates``."""
    return name.replace("_", " ")


def write_stylesheet(out: Path) -> None:
    write_text_atomic(out / STYLESHEET_NAME, STYLESHEET)


def write_index(run: Path, pages: Sequence[Mapping[str, Any]] | None = None) -> Path:
    """Write ``<run>/report/index.html`` (and the stylesheet) from the run's ``gate.json``;
    ``pages`` default to the report stage recorded in the manifest."""
    manifest = json.loads((run / MANIFEST).read_text(encoding="utf-8"))
    gate_path = run / GATE
    gate = json.loads(gate_path.read_text(encoding="utf-8")) if gate_path.is_file() else None
    if pages is None:
        pages = schema.stage(manifest, schema.REPORT_STAGE).get("pages") or []
    out = run / REPORT_DIR
    out.mkdir(exist_ok=True)
    write_stylesheet(out)
    dest = out / INDEX
    write_text_atomic(dest, index_html(run, manifest, gate, pages))
    return dest
