"""Counting tokens in text and in chat messages, the way the OpenAI API bills them.

Text is encoded with ``encode_ordinary``: special-token strings such as ``<|endoftext|>`` in
user text count as the plain text they are, never an exception. Chat messages follow OpenAI's
cookbook ("How to count tokens with tiktoken"): every message costs a fixed overhead plus its
encoded fields, a ``name`` field one more token, and every reply is primed with 3 tokens
(``<|start|>assistant<|message|>``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import tiktoken

from perf.errors import ConfigurationError
from perf.tokens.encodings import encoding_for_model

__all__ = [
    "REPLY_PRIMING_TOKENS",
    "MessageCosts",
    "count_message_tokens",
    "count_tokens",
    "message_costs_for_model",
    "single_message_tokens",
]

REPLY_PRIMING_TOKENS = 3  # <|start|>assistant<|message|>


@dataclass(frozen=True, slots=True)
class MessageCosts:
    """The per-message overhead of a chat model, in tokens."""

    per_message: int = 3
    per_name: int = 1


_GPT_35_TURBO_0301 = MessageCosts(per_message=4, per_name=-1)  # name replaces the role


def message_costs_for_model(model: str) -> MessageCosts:
    """The cookbook's overhead: 3 per message and 1 per name, except gpt-3.5-turbo-0301."""
    if model in ("gpt-3.5-turbo-0301", "gpt-35-turbo-0301"):
        return _GPT_35_TURBO_0301
    return MessageCosts()


def count_tokens(text: str, model: str = "gpt-4o", *, fallback_encoding: str | None = None) -> int:
    """The number of tokens ``model`` sees in ``text`` (special-token strings as plain text)."""
    if not isinstance(text, str):
        raise ConfigurationError(f"count_tokens needs a str, got {type(text).__name__}")
    return len(encoding_for_model(model, fallback_encoding).encode_ordinary(text))


def single_message_tokens(
    message: Mapping[str, object], encoding: tiktoken.Encoding, costs: MessageCosts
) -> int:
    """One message's billed tokens: overhead, every string field, and the name surcharge.

    A ``None`` field (e.g. the content of an assistant message that only calls tools) costs
    nothing; any other non-string field is a ConfigurationError, since its billing is unknown.
    """
    if not isinstance(message, Mapping):
        raise ConfigurationError(
            f"a chat message must be a mapping like {{'role': ..., 'content': ...}}, "
            f"got {type(message).__name__}"
        )
    tokens = costs.per_message
    for key, value in message.items():
        if value is None:
            continue
        if not isinstance(value, str):
            raise ConfigurationError(
                f"message field {key!r} must be a str (or None), got {type(value).__name__}"
            )
        tokens += len(encoding.encode_ordinary(value))
        if key == "name":
            tokens += costs.per_name
    return tokens


def count_message_tokens(
    messages: Iterable[Mapping[str, object]],
    model: str = "gpt-4o",
    *,
    fallback_encoding: str | None = None,
    include_reply_priming: bool = True,
) -> int:
    """Tokens the API bills for ``messages`` as a chat prompt (with the reply priming)."""
    if isinstance(messages, str | bytes | Mapping):
        raise ConfigurationError(
            "count_message_tokens needs a list of messages; use count_tokens for plain text"
        )
    encoding = encoding_for_model(model, fallback_encoding)
    costs = message_costs_for_model(model)
    total = sum(single_message_tokens(m, encoding, costs) for m in messages)
    return total + (REPLY_PRIMING_TOKENS if include_reply_priming else 0)
