"""The reports in a real browser: headless Chromium (`make browser`) opens index.html and every
report page from file:// with the network switched off, and nothing fails: no console error,
no uncaught exception, no resource it could not load; every page has its title and its plots.

Skips, saying why, only when Chromium is not installed or does not start. Set
PERF_SCREENSHOTS=<folder> to keep a full-page screenshot of each page.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from browser import BrowserUnavailable, Chromium

# the figures each page must show (inline <svg>, or <img> for PNG)
PLOTS = {"hit_rates": 1, "latency": 3, "tokens": 2, "benchmarks": 2}


@pytest.fixture(scope="module")
def chromium():
    try:
        browser = Chromium.start()
    except BrowserUnavailable as exc:
        pytest.skip(f"no real browser: {exc}")
    yield browser
    browser.close()


def _shoot(browser: Chromium, name: str) -> None:
    folder = os.environ.get("PERF_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        browser.screenshot(Path(folder) / f"{name}.png")


@pytest.mark.slow
def test_the_index_opens_offline_with_the_verdict_first(reported, chromium) -> None:
    index = reported.run / "report" / "index.html"
    visit = chromium.visit(index.as_uri(), ("table", "a[href]", "nav a"))
    _shoot(chromium, "index")
    assert visit.errors == []
    assert visit.title.startswith("PASS · run ")
    lines = [line for line in visit.text.splitlines() if line.strip()]
    assert lines[0].startswith("index")  # the navigation line
    assert lines[1].startswith("PASS: every check passed (12 of 12 passed)")  # then the verdict
    assert visit.counts["table"] == 1
    for link in ("locust", "gate.json", "manifest.json", "requests.jsonl", "latency.html"):
        assert (
            chromium.evaluate(
                f"[...document.querySelectorAll('a')].some(a => a.href.includes({link!r}))"
            )
            or link == "locust"
        ), link  # the synthetic run has no locust.html
    pages = [p for p in (reported.run / "report").glob("*.html") if p.name != "index.html"]
    assert len(pages) >= len(PLOTS)
    assert visit.counts["nav a"] == 1 + len(pages)  # the index and every report page
    # every link in the index resolves to a file of the run
    hrefs = chromium.evaluate("[...document.querySelectorAll('a')].map(a => a.href)")
    for href in hrefs:
        assert href.startswith("file://")
        assert Path(href.removeprefix("file://")).is_file(), href


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PLOTS))
def test_each_report_opens_offline_with_its_plots(reported, chromium, name: str) -> None:
    page = reported.run / "report" / f"{name}.html"
    visit = chromium.visit(page.as_uri(), ("svg", "img", "table", "pre.error", "script", "link"))
    _shoot(chromium, name)
    assert visit.errors == []
    assert visit.title.endswith(f"· run {reported.run.name}") and "Notebook" not in visit.title
    assert visit.counts["svg"] + visit.counts["img"] >= PLOTS[name]
    assert visit.counts["pre.error"] == 0 and visit.counts["script"] == 0
    assert visit.counts["table"] >= 1
    for href in chromium.evaluate("[...document.querySelectorAll('nav a')].map(a => a.href)"):
        assert Path(href.removeprefix("file://")).is_file(), href  # no link to a skipped page
    # the stylesheet loaded (from file://, beside the page): the verdict badges are coloured
    colour = chromium.evaluate(
        "getComputedStyle(document.querySelector('.verdict.pass')).backgroundColor"
    )
    assert colour == "rgb(26, 127, 55)"
    # every figure carries its target (the legends of the plots name one)
    assert "target" in chromium.evaluate(
        "[...document.querySelectorAll('svg text')].map(t => t.textContent).join(' ')"
    )
