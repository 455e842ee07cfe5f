"""A real browser for the tests: headless Chromium (the Debian package, `make browser`) driven
over the DevTools protocol with a small websocket client, the network switched off.

``Chromium.start()`` raises ``BrowserUnavailable`` (the tests skip, saying why) when no Chromium
is installed or it does not start; anything that goes wrong after it started is a failure.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import websocket  # websocket-client (dev extra)

CANDIDATES = ("/usr/lib/chromium/chromium", "chromium", "chromium-browser", "google-chrome")
FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
    "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>",  # nothing leaves the box
    "--remote-debugging-port=0", "--window-size=1280,900",
)  # fmt: skip


class BrowserUnavailable(RuntimeError):
    """Chromium is not installed or would not start: the browser tests skip with this."""


def find_chromium() -> str | None:
    for name in CANDIDATES:
        found = shutil.which(name) or (name if Path(name).is_file() else None)
        if found:
            return found
    return None


@dataclass
class PageVisit:
    """What one page did: console messages and errors, exceptions, and DOM counts."""

    url: str
    title: str = ""
    console: list[dict] = field(default_factory=list)  # {"level", "text", "source"}
    exceptions: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    text: str = ""

    @property
    def errors(self) -> list[str]:
        bad = [f"{m['level']}: {m['text']}" for m in self.console if m["level"] == "error"]
        return bad + [f"exception: {e}" for e in self.exceptions]


class Chromium:
    """One headless Chromium with one page; ``visit(url)`` loads a page offline."""

    def __init__(self, process: subprocess.Popen, profile: str, ws: websocket.WebSocket) -> None:
        self.process, self.profile, self.ws = process, profile, ws
        self._ids = itertools.count(1)
        self._events: list[dict] = []

    @classmethod
    def start(cls, timeout: float = 60.0) -> Chromium:
        binary = find_chromium()
        if binary is None:
            raise BrowserUnavailable("no Chromium installed: run `make browser` (as root)")
        profile = tempfile.mkdtemp(prefix="perf-chromium-")
        process = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        port_file = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + timeout
        while not port_file.is_file() or not port_file.read_text().strip():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                process.wait()
                shutil.rmtree(profile, ignore_errors=True)
                raise BrowserUnavailable(f"{binary} did not start (exit {process.returncode})")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as reply:
            pages = [t for t in json.load(reply) if t["type"] == "page"]
        ws = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=30)
        browser = cls(process, profile, ws)
        for domain in ("Page", "Runtime", "Log", "Network"):
            browser.call(f"{domain}.enable")
        # the network off: only file:// (and nothing else) loads
        browser.call("Network.emulateNetworkConditions", offline=True, latency=0,
                     downloadThroughput=-1, uploadThroughput=-1)  # fmt: skip
        return browser

    def call(self, method: str, **params: object) -> dict:
        ident = next(self._ids)
        self.ws.send(json.dumps({"id": ident, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})
            self._events.append(message)

    def _wait_for(self, event: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(e.get("method") == event for e in self._events):
            if time.monotonic() > deadline:
                raise TimeoutError(f"no {event} within {timeout} s")
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            self._events.append(json.loads(self.ws.recv()))

    def evaluate(self, expression: str) -> object:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result["result"].get("value")

    def visit(self, url: str, selectors: tuple[str, ...] = (), timeout: float = 30.0) -> PageVisit:
        """Load ``url``, let it settle, and report its console and its DOM."""
        self._events.clear()
        self.call("Page.navigate", url=url)
        self._wait_for("Page.loadEventFired", timeout)
        self.evaluate("new Promise(r => setTimeout(r, 300))")  # late scripts and errors
        time.sleep(0.3)
        self.call("Runtime.evaluate", expression="1")  # drain the events that came meanwhile
        visit = PageVisit(url, title=str(self.evaluate("document.title")))
        for event in self._events:
            method, params = event.get("method"), event.get("params", {})
            if method == "Runtime.consoleAPICalled":
                args = params["args"]
                text = " ".join(str(a.get("value", a.get("description", ""))) for a in args)
                level = "error" if params["type"] in {"error", "assert"} else params["type"]
                visit.console.append({"level": level, "text": text, "source": "console"})
            elif method == "Log.entryAdded":
                entry = params["entry"]
                visit.console.append(
                    {"level": entry["level"], "text": entry["text"], "source": entry["source"]}
                )
            elif method == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                visit.exceptions.append(
                    details.get("exception", {}).get("description", details.get("text", ""))
                )
            elif method == "Network.loadingFailed":
                visit.console.append(
                    {"level": "error", "text": f"failed to load: {params.get('errorText')}",
                     "source": "network"}
                )  # fmt: skip
        for selector in selectors:
            visit.counts[selector] = int(
                self.evaluate(f"document.querySelectorAll({json.dumps(selector)}).length") or 0
            )
        visit.text = str(self.evaluate("document.body ? document.body.innerText : ''"))
        return visit

    def screenshot(self, dest: Path, full_page: bool = True) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"],
                              "height": min(size["height"], 12000), "scale": 1}  # fmt: skip
            params["captureBeyondViewport"] = True
        data = self.call("Page.captureScreenshot", **params)["data"]
        dest.write_bytes(base64.b64decode(data))
        return dest

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)
