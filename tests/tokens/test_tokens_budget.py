"""perf.tokens.budget: every budget holds exactly, nothing that fits is cut, clear errors."""

from __future__ import annotations

import json

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from perf.errors import ConfigurationError, TokenBudgetError, UnknownModelError
from perf.tokens import (
    DEFAULT_TOKEN_BUDGET,
    enforce_token_budget,
    enforce_token_budget_with_report,
    get_encoding,
)
from perf.tokens.trimming import keep_head, keep_tail

ENC = get_encoding("o200k_base")  # loaded once for the module (about half a second)


def tokens(text):
    return len(ENC.encode(text, disallowed_special=()))  # tiktoken itself, specials as text


def message_tokens(messages):
    return sum(3 + tokens(m["role"]) + tokens(m["content"]) for m in messages)


def recount(prompt):
    """Each component's tokens, counted from scratch on the returned prompt."""
    counts = {}
    for key, value in prompt.items():
        if isinstance(value, list):
            counts[key] = message_tokens(value)
        elif isinstance(value, str):
            counts[key] = tokens(value)
        elif value is None:
            counts[key] = 0
        else:
            counts[key] = tokens(json.dumps(value, ensure_ascii=False))
    return counts


# -- strategies: random unicode, emoji, code and special-token strings -------------------------
SPECIALS = ["<|endoftext|>", "<|endofprompt|>", "<|fim_middle|>", "<|im_end|>"]
CODE = ["def f(x):\n    return x ** 2\n", "for (int i = 0; i < n; ++i) {}", "SELECT * FROM t;"]
EMOJI = ["😀", "👩‍💻", "🇫🇷", "🎉🎉", "é", "\u0301", "中文", "  ", "\n\n", "'s"]
pieces = st.one_of(
    st.text(max_size=30),
    st.sampled_from(SPECIALS),
    st.sampled_from(CODE),
    st.sampled_from(EMOJI),
)
texts = st.lists(pieces, max_size=12).map("".join)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant"]), "content": texts}),
    max_size=6,
)
caps = st.none() | st.integers(min_value=0, max_value=120)
budgets = st.fixed_dictionaries(
    {
        "max_entity_context_tokens": caps,
        "max_enrichment_context_tokens": caps,
        "max_conversation_history_tokens": caps,
        "max_total_tokens": st.none() | st.integers(min_value=0, max_value=400),
    }
)
prompts = st.fixed_dictionaries(
    {
        "system_prompt": texts,
        "entity_context": texts,
        "enrichment_context": texts,
        "conversation_history": st.one_of(texts, messages),
        "user_prompt": texts,
    },
    optional={"request_id": st.text(max_size=10)},
)
CAPPED = {
    "entity_context": "max_entity_context_tokens",
    "enrichment_context": "max_enrichment_context_tokens",
    "conversation_history": "max_conversation_history_tokens",
}


@settings(max_examples=80, deadline=None)
@given(prompt=prompts, budget=budgets)
def test_no_budget_is_ever_exceeded_and_nothing_that_fits_is_cut(prompt, budget):
    before = recount(prompt)
    fixed = sum(n for k, n in before.items() if k not in CAPPED)
    total = budget["max_total_tokens"]
    try:
        result, report = enforce_token_budget_with_report(prompt, budget)
    except TokenBudgetError:
        assert total is not None and fixed > total  # only when the uncuttable parts are over
        return
    after = recount(result)
    assert set(result) == set(prompt)
    assert report["tokens_after"] == {**report["tokens_after"], **after}  # report is exact
    assert report["tokens_before"] == {**report["tokens_before"], **before}
    for component, key in CAPPED.items():
        if budget[key] is not None:
            assert after[component] <= budget[key]
    if total is not None:
        assert sum(after.values()) <= total
    assert report["total_tokens_after"] == sum(after.values())
    for component, cut in report["cut"].items():
        if "component_budget" in cut["reasons"]:
            assert before[component] > budget[CAPPED[component]]  # it did not fit
        if "total_budget" in cut["reasons"]:
            assert sum(before.values()) > total
    for key, value in prompt.items():
        if key not in CAPPED:
            assert result[key] == value  # system prompt, user prompt, extras: never cut
        elif key not in report["cut"]:
            assert result[key] is value
        elif isinstance(value, list):
            kept = result[key]
            assert kept == value[len(value) - len(kept) :]  # most recent whole messages
        elif key == "conversation_history":
            assert value.endswith(result[key])
        else:
            assert value.startswith(result[key])  # contexts keep their head
    json.dumps(report)


@settings(max_examples=60, deadline=None)
@given(prompt=prompts, budget=budgets)
def test_a_prompt_that_fits_comes_back_unchanged(prompt, budget):
    counts = recount(prompt)
    for component, key in CAPPED.items():
        assume(budget[key] is None or counts[component] <= budget[key])
    assume(budget["max_total_tokens"] is None or sum(counts.values()) <= budget["max_total_tokens"])
    result, report = enforce_token_budget_with_report(prompt, budget)
    assert result == prompt
    assert report["cut"] == {}


@settings(max_examples=60, deadline=None)
@given(text=texts, limit=st.integers(min_value=0, max_value=60))
def test_head_and_tail_cuts_hold_exactly(text, limit):
    token_ids = ENC.encode_ordinary(text)
    for cut, check in ((keep_head, str.startswith), (keep_tail, str.endswith)):
        kept, count = cut(ENC, token_ids, limit)
        assert count == tokens(kept) <= limit
        assert check(text, kept)
        if len(token_ids) <= limit:
            assert kept == text


def test_a_tail_cut_that_grows_when_re_encoded_is_cut_again():
    # Found by search: the last 32 tokens of this text re-encode to 33 (a cut emoji, and
    # whitespace that merges differently), and naively decoding with replacement characters
    # also grows. keep_tail re-checks and cuts again.
    text = (
        "'s{😀ก\r\nี   \u0627 world,\r\n23DEF\n\n world👩\u200d💻#"
        "\r\n\n\nA   23\t\U0001d518\u0627\n中 "
    )
    token_ids = ENC.encode_ordinary(text)
    naive = ENC.decode_bytes(token_ids[-32:]).decode("utf-8", errors="ignore")
    assert tokens(naive) == 33
    kept, count = keep_tail(ENC, token_ids, 32)
    assert count == tokens(kept) <= 32
    assert text.endswith(kept)
    replaced = ENC.decode(ENC.encode_ordinary("éü  \U0001d518's\u200d1a/\U0001d518's")[-2:])
    assert tokens(replaced) == 3  # decode() with U+FFFD would have overshot a 2-token budget


def test_spec_example_budget_on_a_large_prompt():
    history = [{"role": "user", "content": f"message {i} " + "word " * 60} for i in range(40)]
    prompt = {
        "system_prompt": "You analyse correlations.",
        "entity_context": "entity fact. " * 6000,
        "enrichment_context": "enrichment 😀 " * 2000,
        "conversation_history": history,
        "user_prompt": "Why did <|endoftext|> appear?",
        "model_options": {"temperature": 0.2},
    }
    result, report = enforce_token_budget_with_report(prompt, DEFAULT_TOKEN_BUDGET)
    after = recount(result)
    assert after["entity_context"] == 10_000  # plain text: the head is cut exactly at the cap
    assert 1_990 <= after["enrichment_context"] <= 2_000
    assert after["conversation_history"] <= 1_000
    assert result["conversation_history"] == history[-len(result["conversation_history"]) :]
    assert report["cut"]["conversation_history"]["messages_removed"] == 40 - len(
        result["conversation_history"]
    )
    assert report["cut"]["entity_context"] == {
        "strategy": "keep_head",
        "tokens_removed": report["tokens_before"]["entity_context"] - 10_000,
        "messages_removed": 0,
        "reasons": ["component_budget"],
    }
    assert result["model_options"] is prompt["model_options"]
    assert report["model"] == "gpt-4o"
    assert report["encoding"] == "o200k_base"
    assert report["budget"] == dict(DEFAULT_TOKEN_BUDGET)
    assert enforce_token_budget(prompt, DEFAULT_TOKEN_BUDGET) == result


def test_total_budget_cuts_in_priority_order():
    prompt = {
        "system_prompt": "system " * 10,
        "entity_context": "entity " * 100,
        "enrichment_context": "enrich " * 100,
        "conversation_history": "history " * 100,
        "user_prompt": "question " * 10,
    }
    before = recount(prompt)  # 11 + 101 + 102 + 101 + 11 tokens
    budget = {"max_total_tokens": 150}
    result, report = enforce_token_budget_with_report(prompt, budget)
    after = recount(result)
    assert sum(after.values()) == 150  # plain words: cut exactly, not a token more
    assert after["enrichment_context"] == 0  # gives up its tokens first
    assert after["entity_context"] == before["entity_context"]  # last in the order: untouched
    assert after["conversation_history"] > 0
    assert result["conversation_history"].endswith("history ")  # the most recent end kept
    assert report["cut"]["conversation_history"]["reasons"] == ["total_budget"]
    assert set(report["cut"]) == {"enrichment_context", "conversation_history"}

    custom, report = enforce_token_budget_with_report(
        prompt, budget, cut_order=("entity_context", "enrichment_context")
    )
    custom_after = recount(custom)
    assert custom_after["entity_context"] == 0
    assert custom_after["conversation_history"] == before["conversation_history"]  # not listed
    assert set(report["cut"]) == {"entity_context", "enrichment_context"}


def test_missing_components_and_none_values():
    result, report = enforce_token_budget_with_report(
        {"user_prompt": "hi", "entity_context": None}, {"max_total_tokens": 10}
    )
    assert result == {"user_prompt": "hi", "entity_context": None}
    assert report["tokens_after"]["conversation_history"] == 0


def test_parts_that_are_never_cut_over_the_total_is_a_clear_error():
    prompt = {
        "system_prompt": "rules " * 50,
        "user_prompt": "question " * 50,
        "entity_context": "x",
    }
    with pytest.raises(TokenBudgetError, match="never cut") as caught:
        enforce_token_budget(prompt, {"max_total_tokens": 60})
    assert "system_prompt=51, user_prompt=51" in str(caught.value)
    assert "max_total_tokens=60" in str(caught.value)


@pytest.mark.parametrize(
    ("budget", "match"),
    [
        ({"max_tokens": 10}, "unknown token budget key"),
        ({"max_total_tokens": -1}, ">= 0"),
        ({"max_total_tokens": 1.5}, "whole number"),
        ({"max_total_tokens": "100"}, "whole number"),
        ({"max_total_tokens": True}, "whole number"),
        ([("max_total_tokens", 10)], "mapping"),
    ],
)
def test_bad_budgets_are_configuration_errors(budget, match):
    with pytest.raises(ConfigurationError, match=match):
        enforce_token_budget({"user_prompt": "hi"}, budget)


@pytest.mark.parametrize(
    ("prompt", "match"),
    [
        ({"entity_context": 42}, "'entity_context' must be a str"),
        ({"user_prompt": ["a"]}, "'user_prompt' must be a str"),
        ({"conversation_history": ["not a message"]}, "conversation_history"),
        ({"conversation_history": [{"role": "user", "content": 3}]}, "'content' must be a str"),
        ({"conversation_history": {"role": "user"}}, "list of messages"),
        ("just text", "mapping"),
    ],
)
def test_bad_prompts_are_configuration_errors(prompt, match):
    with pytest.raises(ConfigurationError, match=match):
        enforce_token_budget(prompt, DEFAULT_TOKEN_BUDGET)


def test_bad_cut_order_and_unknown_model():
    with pytest.raises(ConfigurationError, match="never cut"):
        enforce_token_budget({}, DEFAULT_TOKEN_BUDGET, cut_order=("user_prompt",))
    with pytest.raises(UnknownModelError, match="gpt-4o"):
        enforce_token_budget({}, DEFAULT_TOKEN_BUDGET, model="my-llama")
    result = enforce_token_budget(
        {"user_prompt": "hi"},
        DEFAULT_TOKEN_BUDGET,
        model="my-llama",
        fallback_encoding="cl100k_base",
    )
    assert result == {"user_prompt": "hi"}


def test_non_string_prompt_keys_are_refused_not_miscounted():
    # {1: ..., "1": ...} once counted as one key: 100 tokens of extras passed a 60-token total.
    prompt = {1: "a " * 50, "1": "b " * 50}
    with pytest.raises(ConfigurationError, match="keys must be str"):
        enforce_token_budget(prompt, {"max_total_tokens": 60})


def test_a_single_string_cut_order_and_a_non_string_model_are_clear_errors():
    with pytest.raises(ConfigurationError, match=r"write \('entity_context',\)"):
        enforce_token_budget({}, DEFAULT_TOKEN_BUDGET, cut_order="entity_context")
    with pytest.raises(ConfigurationError, match="model name such as 'gpt-4o'"):
        enforce_token_budget({}, DEFAULT_TOKEN_BUDGET, model=None)
