"""Issue 14 §3: the faults a fault-injection pass found in the service, each over real HTTP
against real uvicorn servers on loopback (the service and the LLM stub)."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from support import TOKEN, primary_names, serving, small_settings, wait_until

from perf.report import frames
from perf.results import readers
from perf.service.app import create_app
from perf.service.stub import StubConfig, create_stub_app


def counters(url: str) -> dict:
    return httpx.get(url + "/performance/stats").json()["counters"]


# -- query parameters: bounded, with their own message ---------------------------------------

BAD_PARAMETERS = [
    ("/entities?offset=9223372036854775808", "offset"),  # was a 500 (OverflowError)
    ("/entities?offset=-1", "offset"),
    ("/entities?offset=1000000001", "offset"),
    ("/entities?limit=0", "limit"),
    ("/entities?limit=100000000000000000000000", "limit"),
    ("/entities?limit=ten", "limit"),
    ("/health?deep=perhaps", "deep"),
    ("/performance/stats?settle=2", "settle"),
]


def test_numeric_query_parameters_are_bounded_and_errors_name_the_parameter(tmp_path):
    with serving(tmp_path) as (url, _, _), httpx.Client(base_url=url) as client:
        answers = [client.get(path) for path, _ in BAD_PARAMETERS]
        analyze = client.post("/admin/analyze?full=maybe")
        largest = client.get("/entities?offset=1000000000&limit=1000")
        seen = counters(url)
    for (path, name), answer in zip(BAD_PARAMETERS, answers, strict=True):
        body = answer.json()
        assert (answer.status_code, body["error"]) == (422, "invalid_parameter"), path
        assert f"{name}:" in body["message"], path
        assert "body" not in body["message"], path  # not "the body must be JSON"
    assert analyze.status_code == 422 and "full:" in analyze.json()["message"]
    assert largest.status_code == 200 and largest.json() == {"entities": []}
    assert seen["bad_requests"] == len(BAD_PARAMETERS) + 1
    assert "internal_errors" not in seen


# -- malformed and oversized bodies ----------------------------------------------------------

MALFORMED = [
    (b"[" * 50_000, 400, "invalid_body", "nests too deeply"),
    (b'{"query": "caf\xe9 lights"}', 400, "invalid_body", "UTF-8"),  # Latin-1, not UTF-8
    (b'{"query": "\\ud800 lamp"}', 422, "invalid_request", "JSON"),  # a lone surrogate
    (b'{"query": "hi"', 422, "invalid_request", "not valid JSON"),
]


def test_malformed_json_bodies_answer_the_documented_shape_and_are_counted(tmp_path):
    with serving(tmp_path) as (url, _, _), httpx.Client(base_url=url) as client:
        headers = {"content-type": "application/json"}
        answers = [client.post("/query", content=body, headers=headers) for body, *_ in MALFORMED]
        seen = counters(url)
    for (body, status, error, words), answer in zip(MALFORMED, answers, strict=True):
        assert answer.status_code == status, body[:30]
        assert set(answer.json()) >= {"error", "message"}, body[:30]
        assert answer.json()["error"] == error, body[:30]
        assert words in answer.json()["message"], body[:30]
    assert seen["bad_requests"] == len(MALFORMED)
    assert "internal_errors" not in seen


def _raw_exchange(url: str, head: bytes, body_parts: list[bytes]) -> bytes:
    """Send ``head`` and ``body_parts`` over one socket, never finishing the body; return what
    the server answered (a server that waits for the rest of the body answers nothing)."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(head)
        for part in body_parts:
            sock.sendall(part)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_oversized_bodies_are_refused_before_they_are_read(tmp_path):
    with serving(tmp_path) as (url, _, settings):
        limit = settings.max_body_bytes
        # 50 MB declared, 10 bytes sent: the answer comes without the rest of the body
        declared = _raw_exchange(
            url,
            b"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 50000000\r\n\r\n",
            [b'{"query": '],
        )
        # chunked, no length: refused once the bytes pass the limit (the last chunk never sent)
        chunk = b"x" * 16_384
        streamed = _raw_exchange(
            url,
            b"POST /query HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n",
            [b"%x\r\n%s\r\n" % (len(chunk), chunk)] * (limit // len(chunk) + 1),
        )
        # under the limit, the body reaches the app (which refuses the query's length)
        fits = httpx.post(url + "/query", json={"query": "x" * (limit // 2)})
        seen = counters(url)
    for answer in (declared, streamed):
        status_line, _, rest = answer.partition(b"\r\n")
        assert status_line.startswith(b"HTTP/1.1 413 "), answer[:200]
        body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
        assert body["error"] == "body_too_large"
        assert f"limit of {limit} bytes" in body["message"]
    assert fits.status_code == 413 and fits.json()["error"] == "query_too_long"
    assert seen["bad_requests"] == 3


# -- /openapi.json ---------------------------------------------------------------------------


def test_openapi_documents_every_status_the_limits_and_the_models(tmp_path):
    with serving(tmp_path, max_query_chars=4000, llm_models=["gpt-4.1"]) as (url, _, _):
        schema = httpx.get(url + "/openapi.json").json()
        unknown = httpx.post(url + "/query", json={"query": "hi", "model": "gpt-4o-2024-08-06"})
    paths = schema["paths"]
    error_ref = {"$ref": "#/components/schemas/ErrorBody"}
    query = paths["/query"]["post"]["responses"]
    assert set(query) == {"200", "400", "404", "413", "422", "503"}
    for status in ("400", "404", "413", "422", "503"):
        assert query[status]["content"]["application/json"]["schema"] == error_ref, status
    assert "query_too_long" in query["413"]["description"]
    error_body = schema["components"]["schemas"]["ErrorBody"]
    assert error_body["required"] == ["error", "message"]
    request = schema["components"]["schemas"]["QueryRequest"]["properties"]
    assert request["query"]["maxLength"] == 4000
    assert request["model"]["anyOf"][0]["enum"] == ["gpt-4o", "gpt-4o-mini", "gpt-4.1"]
    assert unknown.status_code == 422 and unknown.json()["error"] == "unknown_model"
    assert "gpt-4o, gpt-4o-mini, gpt-4.1" in unknown.json()["message"]
    metrics = paths["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(metrics) == ["text/plain"]
    offset = next(p for p in paths["/entities"]["get"]["parameters"] if p["name"] == "offset")
    assert offset["schema"]["maximum"] == 1_000_000_000
    for path, operations in paths.items():
        for method, operation in operations.items():
            assert "HTTPValidationError" not in json.dumps(operation), (method, path)
            if path.startswith("/admin/"):
                assert {"401", "403"} <= set(operation["responses"]), path
    assert "65536 bytes" in schema["info"]["description"]


# -- /admin/* --------------------------------------------------------------------------------


def test_admin_without_a_token_answers_loopback_same_origin_requests_only(tmp_path):
    with serving(tmp_path) as (url, _, _), httpx.Client(base_url=url) as client:
        port = url.rsplit(":", 1)[1]
        tool = client.post("/admin/reset-stats")  # what perf load and the tests send
        localhost = client.post("/admin/clear-caches", headers={"host": f"localhost:{port}"})
        same_origin = client.post("/admin/clear-caches", headers={"origin": url})
        cross = client.post("/admin/reset-stats", headers={"origin": "http://evil.example"})
        fetch = client.post("/admin/reset-stats", headers={"sec-fetch-site": "cross-site"})
        rebound = client.post(  # DNS rebinding: evil.example resolved to 127.0.0.1
            "/admin/reset-stats",
            headers={"host": f"evil.example:{port}", "origin": f"http://evil.example:{port}"},
        )
        seen = counters(url)
    assert tool.status_code == localhost.status_code == same_origin.status_code == 200
    assert tool.json() == {"reset": True}
    assert (cross.status_code, cross.json()["error"]) == (403, "cross_origin")
    assert (fetch.status_code, fetch.json()["error"]) == (403, "cross_origin")
    assert (rebound.status_code, rebound.json()["error"]) == (403, "admin_loopback_only")
    assert "PERF_ADMIN_TOKEN" in rebound.json()["message"]
    assert seen["admin_refused"] == 3


def test_admin_from_beyond_loopback_needs_the_token(tmp_path):
    """A client address beyond loopback (in-process: a real socket would need a second
    interface) is refused without a token; with one, only the right bearer passes."""

    async def scenario(settings):
        stub = httpx.ASGITransport(app=create_stub_app(StubConfig(latency_median_s=0.0)))
        app = create_app(settings, llm_transport=stub)
        transport = httpx.ASGITransport(app=app, client=("192.0.2.7", 40000))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=transport, base_url="http://192.0.2.1") as client,
        ):
            none = await client.post("/admin/reset-stats")
            wrong = await client.post("/admin/reset-stats", headers=_bearer("x" * 24))
            right = await client.post("/admin/reset-stats", headers=_bearer(TOKEN))
            cross = await client.post(
                "/admin/reset-stats", headers={**_bearer(TOKEN), "origin": "http://evil.example"}
            )
            query = await client.post("/query", json={"query": "hello"})
            return none, wrong, right, cross, query

    open_, *_ = asyncio.run(scenario(small_settings(tmp_path / "open")))
    assert (open_.status_code, open_.json()["error"]) == (403, "admin_loopback_only")
    none, wrong, right, cross, query = asyncio.run(
        scenario(small_settings(tmp_path / "guarded", admin_token=TOKEN))
    )
    assert (none.status_code, none.json()["error"]) == (401, "admin_token_required")
    assert none.headers["www-authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert right.status_code == 200 and right.json() == {"reset": True}
    assert cross.status_code == 403
    assert query.status_code == 200  # the token guards /admin/* only


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_a_short_admin_token_is_refused_with_how_to_make_one(tmp_path):
    with pytest.raises(ValueError, match=r"at least 16 characters.*secrets\.token_urlsafe"):
        small_settings(tmp_path, admin_token="secret")


# -- single-flight ---------------------------------------------------------------------------


def test_fifty_identical_concurrent_misses_make_one_llm_call(tmp_path):
    name = primary_names(1)[0]

    async def fifty(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            query = {"query": f"Automate the {name} at sunset"}
            return await asyncio.gather(*(client.post("/query", json=query) for _ in range(50)))

    with serving(tmp_path, latency_s=1.0, db_pool_size=20) as (url, stub_url, _):
        answers = asyncio.run(fifty(url))
        calls = httpx.get(stub_url + "/stub/stats").json()["requests"]
        tokens = httpx.get(url + "/performance/stats").json()["tokens"]
    assert [a.status_code for a in answers] == [200] * 50
    assert len({a.json()["answer"] for a in answers}) == 1
    assert calls == 1
    assert tokens["calls"] == tokens["queries"] == 50
    assert tokens["cached_calls"] == 49  # answered by the one call in flight, or the cache


# -- the token log: every call under the id of the query that made it ------------------------


def test_a_conversation_summary_is_logged_under_the_query_that_caused_it(tmp_path):
    run = tmp_path / "run"
    with (
        serving(tmp_path, conversation_history_turns=1) as (url, _, settings),
        httpx.Client(base_url=url) as client,
    ):
        answers = [
            client.post("/query", json={"query": q, "conversation_id": "c1"}).json()
            for q in ("What can you automate?", "And at night?", "And on weekends?")
        ]
        tokens = client.get("/performance/stats").json()["tokens"]
    records = [json.loads(line) for line in settings.token_log_path.read_text().splitlines()]
    ids = [a["request_id"] for a in answers]
    # one turn of history is kept: the second and the third query each summarize older turns
    assert [(r["request_id"], r["purpose"]) for r in records] == [
        (ids[0], "answer"),
        (ids[1], "answer"), (ids[1], "summary"),
        (ids[2], "answer"), (ids[2], "summary"),
    ]  # fmt: skip
    assert tokens["calls"] == 5 and tokens["queries"] == 3
    assert tokens["calls_by_purpose"] == {"answer": 3, "summary": 2}
    whole = sum(r["total_tokens_after"] for r in records)
    assert tokens["mean_prompt_tokens_per_query"] == pytest.approx(whole / 3)
    per_query = readers.per_query_tokens(records)
    assert len(per_query) == 3 and sum(per_query.values()) == whole
    by_frame = frames.tokens_per_query(run)
    assert by_frame["tokens_after"].to_dict() == per_query
    assert by_frame.loc[ids[1], "calls"] == 2


def test_per_query_readers_agree_on_calls_without_a_request_id(tmp_path):
    records = [
        {"request_id": "a", "purpose": "answer", "total_tokens_after": 10},
        {"request_id": "a", "purpose": "summary", "total_tokens_after": 5},
        {"purpose": "answer", "total_tokens_after": 7},  # an older log: no request_id
        {"request_id": "", "purpose": "answer", "total_tokens_after": 3},
    ]
    (tmp_path / "tokens.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    per_query = readers.per_query_tokens(records)
    assert per_query == {"a": 15, "tokens.jsonl:3": 7, "tokens.jsonl:4": 3}
    assert frames.tokens_per_query(tmp_path)["tokens_after"].to_dict() == per_query


# -- overload: queries beyond the limit are shed, abandoned ones cancelled --------------------


def health_queries(url: str) -> dict:
    return httpx.get(url + "/health").json()["queries"]


def test_queries_beyond_the_in_flight_limit_are_shed_at_once_with_retry_after(tmp_path):
    names = primary_names(6)

    async def six(url):
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            return await asyncio.gather(
                *(client.post("/query", json={"query": f"Is the {n} on?"}) for n in names)
            )

    with serving(tmp_path, latency_s=3.0, max_queries_in_flight=2) as (url, _, _):
        answers = asyncio.run(six(url))
        seen = counters(url)
        after = health_queries(url)
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200, 200, 503, 503, 503, 503]
    for shed in (a for a in answers if a.status_code == 503):
        assert shed.json()["error"] == "overloaded"
        assert "PERF_MAX_QUERIES_IN_FLIGHT" in shed.json()["message"]
        assert shed.headers["retry-after"] == "1"
        assert shed.headers.get("connection") != "close"  # the client keeps its connection
    assert seen["overloaded"] == 4
    assert after == {"in_flight": 0, "limit": 2}


def _send_query(url: str, query: str) -> socket.socket:
    """A socket that has sent ``POST /query`` and not read the answer."""
    body = json.dumps({"query": query}).encode()
    host, port = url.removeprefix("http://").split(":")
    raw = socket.create_connection((host, int(port)))
    head = f"POST /query HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
    raw.sendall(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
    return raw


def test_a_query_whose_client_hangs_up_is_cancelled_and_frees_its_place(tmp_path):
    names = primary_names(2)
    # The stub answers in 10 s: a place frees up within 5 s only if its query is cancelled.
    with serving(tmp_path, latency_s=10.0, max_queries_in_flight=1) as (url, _, _):
        for number, name in enumerate(names, 1):
            with _send_query(url, f"Why is the {name} off?"):
                assert wait_until(lambda: health_queries(url)["in_flight"] == 1, 5)
            assert wait_until(lambda: health_queries(url)["in_flight"] == 0, 5)
            assert counters(url)["client_gone"] == number
        seen = counters(url)
    assert "overloaded" not in seen  # the second query was admitted: the first left no trace
    assert "internal_errors" not in seen
