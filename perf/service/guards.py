"""What stands before the routes: a request-body size cap, admission of queries, and the admin
endpoints' guard.

``BodyLimit`` refuses a body larger than the limit (413) from its ``Content-Length`` before
reading a byte of it, and a streamed (chunked) body as soon as the bytes read pass the limit;
the app only ever sees bodies that fit. ``QueryAdmission`` lets at most ``limit`` queries be
in flight at once and answers the rest 503 ``overloaded`` at once (shedding one costs well
under a millisecond, a query several: a backlog without bound would make every later query
late), and cancels a query whose client hangs up, so abandoned work stops. ``admin_refusal``
decides whether a request may use ``/admin/*``: never a cross-origin (browser) request; with a
token, only ``Authorization: Bearer <token>``; without one, only a loopback client that named
a loopback host.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
from collections.abc import Callable, Collection
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["Admission", "BodyLimit", "QueryAdmission", "admin_refusal", "is_loopback_host"]

_LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost"}


def is_loopback_host(host: str) -> bool:
    """Whether ``host`` (a name or an address, without port) is this machine only."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class BodyLimit:
    """ASGI middleware: bodies over ``max_bytes`` get 413; ``on_refused()`` counts each refusal."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, on_refused: Callable[[], None]) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.on_refused = on_refused

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(send, f"the body declares {declared} bytes")
            return
        if declared == -1:
            self.on_refused()
            await _send_json(send, 400, "invalid_body", "Content-Length must be a number")
            return
        body, more = bytearray(), True
        while more:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_bytes:
                await self._refuse(send, f"the streamed body passed {self.max_bytes} bytes")
                return
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, send: Send, what: str) -> None:
        self.on_refused()
        message = f"{what}, over the limit of {self.max_bytes} bytes (PERF_MAX_BODY_BYTES)"
        await _send_json(send, 413, "body_too_large", message)


def _content_length(scope: Scope) -> int | None:
    """The declared length; ``None`` if absent, ``-1`` if unreadable."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()  # http.disconnect, when it comes

    return replay


@dataclass(slots=True)
class Admission:
    """The queries in flight in this worker, and how many may be."""

    limit: int
    in_flight: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"in_flight": self.in_flight, "limit": self.limit}


class QueryAdmission:
    """ASGI middleware for the requests to ``paths``: at most ``admission.limit`` at once (more
    get 503 ``overloaded``, counted by ``count("overloaded")``), and each one cancelled when its
    client hangs up (``count("client_gone")``). Sits inside ``BodyLimit``: the body is read."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        admission: Admission,
        paths: Collection[str],
        count: Callable[[str], None],
    ) -> None:
        self.app = app
        self.admission = admission
        self.paths = frozenset(paths)
        self.count = count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in self.paths:
            await self.app(scope, receive, send)
            return
        admission = self.admission
        if admission.in_flight >= admission.limit:
            self.count("overloaded")
            message = (
                f"{admission.limit} queries are in flight, the most this worker takes at once "
                "(PERF_MAX_QUERIES_IN_FLIGHT); retry shortly"
            )
            await _send_json(send, 503, "overloaded", message, close=False, retry_after=1)
            return
        admission.in_flight += 1
        try:
            if await _run_unless_client_leaves(self.app, scope, receive, send):
                self.count("client_gone")
        finally:
            admission.in_flight -= 1


async def _run_unless_client_leaves(
    app: ASGIApp, scope: Scope, receive: Receive, send: Send
) -> bool:
    """Run ``app`` on a request whose body has been read; cancel it if the client disconnects
    first (the server would otherwise finish work nobody waits for). True if it was cancelled."""
    first = await receive()
    if first["type"] != "http.request":  # gone before we started
        return True
    # The real receive() returns only when the client disconnects (or the response is done).
    watch = asyncio.ensure_future(receive())
    delivered = False

    async def app_receive() -> Message:
        nonlocal delivered
        if not delivered:
            delivered = True
            return first
        return await asyncio.shield(watch)

    handler = asyncio.ensure_future(app(scope, app_receive, send))
    try:
        await asyncio.wait({handler, watch}, return_when=asyncio.FIRST_COMPLETED)
        if not handler.done() and watch.result()["type"] == "http.disconnect":
            handler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await handler
            return True
        await handler
        return False
    finally:  # also when this request itself is cancelled (shutdown)
        handler.cancel()
        watch.cancel()


async def _send_json(
    send: Send,
    status: int,
    code: str,
    message: str,
    *,
    close: bool = True,
    retry_after: int | None = None,
) -> None:
    """A JSON error answer. ``close``: end the connection (after a refusal that left the rest
    of the body unread, which must not be taken for the next request)."""
    payload = json.dumps({"error": code, "message": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    if retry_after is not None:
        headers.append((b"retry-after", str(retry_after).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})


def admin_refusal(request: Request, token: str | None) -> tuple[int, str, str] | None:
    """``(status, error, message)`` if ``request`` may not use an admin endpoint, else None."""
    origin = request.headers.get("origin")
    fetch_site = request.headers.get("sec-fetch-site", "none")
    host = request.headers.get("host", "")
    if (origin is not None and urlsplit(origin).netloc != host) or fetch_site not in {
        "none",
        "same-origin",
    }:
        return 403, "cross_origin", "the admin endpoints refuse cross-origin (browser) requests"
    if token is not None:
        sent = request.headers.get("authorization", "")
        scheme, _, value = sent.partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(value.encode(), token.encode()):
            return None
        return (
            401,
            "admin_token_required",
            "the admin endpoints need the header `Authorization: Bearer <PERF_ADMIN_TOKEN>`",
        )
    client = request.client.host if request.client else ""
    if is_loopback_host(client) and is_loopback_host(urlsplit("//" + host).hostname or ""):
        return None
    return (
        403,
        "admin_loopback_only",
        "without PERF_ADMIN_TOKEN the admin endpoints answer only requests from this machine "
        "to a loopback address; set PERF_ADMIN_TOKEN to use them from elsewhere",
    )
