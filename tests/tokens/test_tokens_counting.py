"""perf.tokens.counting: text as plain text (special strings too), chat messages as billed."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from perf.errors import ConfigurationError, UnknownModelError
from perf.tokens import count_message_tokens, count_tokens, get_encoding

# OpenAI's cookbook example; the API billed 129 prompt tokens on gpt-4/gpt-3.5-turbo and 124
# on gpt-4o/gpt-4o-mini ("How to count tokens with tiktoken", section 6).
COOKBOOK_MESSAGES = [
    {
        "role": "system",
        "content": "You are a helpful, pattern-following assistant that translates corporate "
        "jargon into plain English.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "New synergies will help drive top-line growth.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Things working well together will increase revenue.",
    },
    {
        "role": "system",
        "name": "example_user",
        "content": "Let's circle back when we have more bandwidth to touch base on opportunities "
        "for increased leverage.",
    },
    {
        "role": "system",
        "name": "example_assistant",
        "content": "Let's talk later when we're less busy about how to do better.",
    },
    {
        "role": "user",
        "content": "This late pivot means we don't have time to boil the ocean for the client "
        "deliverable.",
    },
]

SPECIALS = ["<|endoftext|>", "<|endofprompt|>", "<|fim_prefix|>", "<|im_start|>", "<|call|>"]
texts = st.lists(
    st.one_of(
        st.text(max_size=40), st.sampled_from(SPECIALS), st.sampled_from(["😀", "👩‍💻", "\n"])
    ),
    max_size=8,
).map("".join)


@pytest.mark.parametrize(
    ("model", "billed"),
    [("gpt-4o", 124), ("gpt-4o-mini", 124), ("gpt-4", 129), ("gpt-3.5-turbo", 129)],
)
def test_messages_count_as_the_api_billed_them(model, billed):
    assert count_message_tokens(COOKBOOK_MESSAGES, model) == billed


def test_message_overhead_and_reply_priming():
    one = [{"role": "user", "content": "hello"}]
    # 3 per message + "user" (1) + "hello" (1) + 3 reply priming
    assert count_message_tokens(one) == 8
    assert count_message_tokens(one, include_reply_priming=False) == 5
    assert count_message_tokens([]) == 3
    named = [{"role": "user", "name": "bob", "content": "hello"}]
    assert count_message_tokens(named) == 8 + 1 + 1  # the name's token, plus 1 per name
    # gpt-3.5-turbo-0301 billed 4 per message and dropped the role when a name was given
    assert count_message_tokens(named, "gpt-3.5-turbo-0301") == 4 + 1 + 1 + 1 - 1 + 3


def test_special_token_strings_count_as_plain_text():
    text = "stop here <|endoftext|> and go on"
    encoding = get_encoding("o200k_base")
    assert count_tokens(text) == len(encoding.encode(text, disallowed_special=()))
    assert count_tokens("<|endoftext|>") > 1  # as text it is several tokens, not one special
    messages = [{"role": "user", "content": "<|endoftext|>"}]
    assert count_message_tokens(messages) == 3 + 1 + count_tokens("<|endoftext|>") + 3


@settings(max_examples=60, deadline=None)
@given(text=texts)
def test_counts_equal_tiktokens(text):
    for model, name in (("gpt-4o", "o200k_base"), ("gpt-4", "cl100k_base")):
        expected = len(get_encoding(name).encode(text, disallowed_special=()))
        assert count_tokens(text, model) == expected


def test_none_content_costs_nothing_and_bad_fields_are_rejected():
    tool_call = [{"role": "assistant", "content": None}]
    assert count_message_tokens(tool_call) == 3 + 1 + 3
    with pytest.raises(ConfigurationError, match="'content' must be a str"):
        count_message_tokens([{"role": "user", "content": ["parts"]}])
    with pytest.raises(ConfigurationError, match="mapping"):
        count_message_tokens(["just a string"])
    with pytest.raises(ConfigurationError, match="count_tokens"):
        count_message_tokens("hello")
    with pytest.raises(ConfigurationError, match="needs a str"):
        count_tokens(b"bytes")


def test_counting_for_an_unknown_model_needs_a_fallback():
    with pytest.raises(UnknownModelError):
        count_tokens("hello", "my-llama")
    assert count_tokens("hello world", "my-llama", fallback_encoding="cl100k_base") == 2
