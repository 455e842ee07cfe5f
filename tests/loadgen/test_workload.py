"""Pure parts of the load producer: the workload model, durations, load options."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from perf.errors import ConfigurationError
from perf.loadgen.load_run import (
    LoadOptions,
    locust_command,
    locust_worker_command,
    parse_duration,
)
from perf.loadgen.workload import (
    Catalog,
    QueryGenerator,
    WorkloadParams,
    catalog_from_dataset,
    compose_query,
    zipf_cumulative,
)

CATALOG = Catalog(
    entity_ids=tuple(f"light.lamp_{i}" for i in range(50)),
    friendly_names=tuple(f"Lamp {i}" for i in range(50)),
    areas=("Kitchen", "Office"),
)


# -- workload ---------------------------------------------------------------------------------


def test_zipf_weights_skew_towards_the_first_ranks():
    cumulative = zipf_cumulative(4, 1.0)
    assert cumulative == pytest.approx([1.0, 1.5, 1.5 + 1 / 3, 1.5 + 1 / 3 + 0.25])
    assert zipf_cumulative(3, 0.0) == [1.0, 2.0, 3.0]  # s = 0: uniform
    with pytest.raises(ValueError, match="at least one"):
        zipf_cumulative(0, 1.0)


def test_compose_query_is_a_pure_function_of_the_rng_state():
    cumulative = zipf_cumulative(len(CATALOG.entity_ids), 1.0)
    first = [compose_query(random.Random(7), CATALOG, cumulative, [], 0.5) for _ in range(3)]
    assert first[0] == first[1] == first[2]
    text, repeated = first[0]
    assert not repeated and ("Lamp" in text or "light.lamp_" in text)


def test_repeats_come_from_history_at_the_requested_share():
    rng = random.Random(1)
    cumulative = zipf_cumulative(len(CATALOG.entity_ids), 1.0)
    history = ["an earlier question"]
    results = [compose_query(rng, CATALOG, cumulative, history, 0.25) for _ in range(4000)]
    repeats = [text for text, repeated in results if repeated]
    assert set(repeats) == {"an earlier question"}
    assert 0.22 < len(repeats) / len(results) < 0.28


def test_popular_entities_dominate():
    generator = QueryGenerator(WorkloadParams(repeat_share=0.0), CATALOG, user_index=0)
    mentions = Counter()
    for _ in range(3000):
        text, _ = generator.next_query()
        for i, name in enumerate(CATALOG.friendly_names):
            if f"{name} " in text + " " or f"{name}," in text or f"{name}." in text:
                mentions[i] += 1
    assert mentions[0] > 5 * mentions[40]


def test_generators_are_seeded_per_user_and_conversations_last_a_few_turns():
    params = WorkloadParams(turns_per_conversation=3)
    a1, a2 = (QueryGenerator(params, CATALOG, 0) for _ in range(2))
    b = QueryGenerator(params, CATALOG, 1)
    stream_a1 = [a1.next_query() for _ in range(7)]
    assert stream_a1 == [a2.next_query() for _ in range(7)]
    assert stream_a1 != [b.next_query() for _ in range(7)]
    conversations = [conversation for _, conversation in stream_a1]
    assert conversations == [conversations[0]] * 3 + [conversations[3]] * 3 + [conversations[6]]
    assert len(set(conversations)) == 3
    assert {a1.next_action() for _ in range(300)} == {"query", "health", "stats"}
    assert all(1.0 <= a1.think_time() <= 3.0 for _ in range(100))


def test_workload_params_validate_and_parse_strings():
    params = WorkloadParams.from_mapping({"zipf_s": "1.2", "entity_count": "40", "seed": ""})
    assert params.zipf_s == 1.2 and params.entity_count == 40 and params.seed == 1234
    with pytest.raises(ValueError, match="repeat_share"):
        WorkloadParams(repeat_share=1.5)
    with pytest.raises(ValueError, match="think"):
        WorkloadParams(think_min_s=3, think_max_s=1)


def test_catalog_uses_the_services_synthetic_home():
    catalog = catalog_from_dataset(WorkloadParams(entity_count=25))
    assert len(catalog.entity_ids) == 25
    assert not any(e.startswith("sensor.") for e in catalog.entity_ids)
    assert "Kitchen" in catalog.areas
    assert catalog == catalog_from_dataset(WorkloadParams(entity_count=25))


# -- durations and options -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"), [("60s", 60), ("2m", 120), ("1m30s", 90), ("90", 90), ("1h", 3600),
                          ("0.5s", 0.5)]
)  # fmt: skip
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "10x", "0s", "-5s", "m"])
def test_bad_durations_say_how_to_write_one(text):
    with pytest.raises(ConfigurationError, match=r"duration|must be longer"):
        parse_duration(text)


def test_load_options_refuse_nonsense():
    with pytest.raises(ConfigurationError, match="--users"):
        LoadOptions(users=0)
    with pytest.raises(ConfigurationError, match="--open-rate"):
        LoadOptions(open_rate=-1)
    assert LoadOptions(open_rate=5).recorded()["model"] == "open"


def test_a_master_for_workers_elsewhere_and_its_workers_share_the_plugin_options(tmp_path):
    options = LoadOptions(
        host="http://10.0.0.2:8000", expect_workers=2, master_bind_host="10.0.0.3",
        open_rate=4, workload=WorkloadParams(zipf_s=1.2),
    )  # fmt: skip
    master = locust_command(tmp_path, options.host, options, tmp_path)
    worker = locust_worker_command(tmp_path, "10.0.0.3", options, tmp_path, python="python3")
    at = master.index("--master")
    assert master[at : at + 5] == [
        "--master", "--master-bind-host", "10.0.0.3", "--expect-workers", "2",
    ]  # fmt: skip
    assert worker[:5] == [
        "python3",
        "-m",
        "locust",
        "-f",
        str(tmp_path / "loadtests/locustfile.py"),
    ]
    assert worker[5:8] == ["--worker", "--master-host", "10.0.0.3"]
    plugin = worker[8:]  # the request log, the open rate, the workload: as the master's
    assert plugin == master[master.index("--perf-request-log") : at]
    assert plugin[plugin.index("--perf-zipf-s") :][:2] == ["--perf-zipf-s", "1.2"]
    assert options.recorded()["locust_workers"] == 2


@pytest.mark.parametrize(
    "options",
    [
        {"expect_workers": 2},  # no --host: the workers could not reach our loopback service
        {"expect_workers": 2, "host": "http://h:1", "processes": 2},
        {"expect_workers": 0, "host": "http://h:1"},
    ],
)
def test_expect_workers_needs_a_reachable_host_and_no_local_processes(options):
    with pytest.raises(ConfigurationError, match="--expect-workers"):
        LoadOptions(**options)
