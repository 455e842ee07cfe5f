"""``enforce_token_budget``: cut a prompt's components until every budget holds, exactly.

Components (``prompt_dict`` keys): ``system_prompt``, ``entity_context``,
``enrichment_context``, ``conversation_history`` (a string or a list of ``{"role", "content"}``
messages) and ``user_prompt``; any other key is kept as is and counts toward the total (a
string by its tokens, anything else by the tokens of its JSON text).

1. Each capped component is cut to its own budget: contexts keep their head, a history keeps
   its most recent messages (whole messages; a string history keeps its tail).
2. If the sum is still over ``max_total_tokens``, components give up tokens in ``cut_order``
   (default: enrichment, then history, then entity context). The system prompt, the user
   prompt and extra keys are never cut; if they alone exceed the total, TokenBudgetError.

Every count is of the text actually returned (re-encoded after a cut); a message costs what
the API bills for it (see :mod:`perf.tokens.counting`); the total is the sum of the components.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TypedDict

import tiktoken

from perf.errors import ConfigurationError, TokenBudgetError
from perf.tokens.budget_config import (
    DEFAULT_CUT_ORDER,
    DEFAULT_TOKEN_BUDGET,
    PROMPT_COMPONENTS,
    TokenBudget,
)
from perf.tokens.counting import MessageCosts, message_costs_for_model, single_message_tokens
from perf.tokens.encodings import encoding_name_for_model, get_encoding
from perf.tokens.trimming import MessageListPart, TextPart

__all__ = [
    "ComponentCut",
    "TokenBudgetReport",
    "enforce_token_budget",
    "enforce_token_budget_with_report",
]


class ComponentCut(TypedDict):
    """What was cut from one component, and why."""

    strategy: str  # keep_head | keep_tail | keep_recent_messages
    tokens_removed: int
    messages_removed: int
    reasons: list[str]  # component_budget and/or total_budget


class TokenBudgetReport(TypedDict):
    """JSON-ready account of one enforcement (one record of ``tokens.jsonl``)."""

    model: str
    encoding: str
    budget: dict[str, int | None]
    tokens_before: dict[str, int]
    tokens_after: dict[str, int]
    total_tokens_before: int
    total_tokens_after: int
    cut: dict[str, ComponentCut]


_CUTTABLE = ("entity_context", "enrichment_context", "conversation_history")
_Part = TextPart | MessageListPart


def _text_part(key: str, value: str, encoding: tiktoken.Encoding) -> TextPart:
    return TextPart(value, encoding.encode_ordinary(value), encoding, key == "conversation_history")


def _history_part(
    value: Sequence[object], encoding: tiktoken.Encoding, costs: MessageCosts
) -> MessageListPart:
    messages: list[Mapping[str, object]] = []
    for message in value:
        if not isinstance(message, Mapping):
            raise ConfigurationError(
                "conversation_history must be a str or a list of {'role': str, 'content': str} "
                f"messages; got an item {message!r:.80}"
            )
        messages.append(message)
    return MessageListPart(messages, [single_message_tokens(m, encoding, costs) for m in messages])


def _fixed_count(key: str, value: object, encoding: tiktoken.Encoding) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return len(encoding.encode_ordinary(value))
    if key == "conversation_history":
        raise ConfigurationError(
            f"conversation_history must be a str, a list of messages or None, got {value!r:.80}"
        )
    if key in PROMPT_COMPONENTS:
        raise ConfigurationError(
            f"prompt component {key!r} must be a str or None, got {value!r:.80}"
        )
    return len(encoding.encode_ordinary(json.dumps(value, ensure_ascii=False, default=str)))


def _parse(
    prompt: Mapping[str, object], encoding: tiktoken.Encoding, costs: MessageCosts
) -> tuple[dict[str, _Part], dict[str, int]]:
    """Split the prompt into cuttable parts (encoded once) and fixed token counts."""
    if not isinstance(prompt, Mapping):
        raise ConfigurationError(f"prompt_dict must be a mapping, got {type(prompt).__name__}")
    parts: dict[str, _Part] = {}
    fixed: dict[str, int] = {}
    for key, value in prompt.items():
        if not isinstance(key, str):  # str(key) could collide with another key and hide tokens
            raise ConfigurationError(
                f"prompt_dict keys must be str, got {key!r}; name each component with a string"
            )
        if key in _CUTTABLE and isinstance(value, str):
            parts[key] = _text_part(key, value, encoding)
        elif key == "conversation_history" and isinstance(value, Sequence):
            parts[key] = _history_part(value, encoding, costs)
        else:
            fixed[key] = _fixed_count(key, value, encoding)
    return parts, fixed


def _fit_total(parts: dict[str, _Part], fixed: dict[str, int], budget: TokenBudget) -> set[str]:
    """Cut parts in the budget's order until the total fits; return the parts that were cut."""
    limit = budget.max_total_tokens
    cut: set[str] = set()
    if limit is None:
        return cut

    def total() -> int:
        return sum(fixed.values()) + sum(p.count for p in parts.values())

    never_cut = {**fixed, **{k: p.count for k, p in parts.items() if k not in budget.cut_order}}
    if sum(never_cut.values()) > limit:
        detail = ", ".join(f"{k}={n}" for k, n in never_cut.items() if n)
        raise TokenBudgetError(
            f"the parts that are never cut ({detail}) need {sum(never_cut.values())} tokens, "
            f"over max_total_tokens={limit}; shorten them or raise the total budget"
        )
    for key in budget.cut_order:
        over = total() - limit
        if over <= 0:
            break
        part = parts.get(key)
        if part is not None and part.count > 0:
            part.cut_to(max(0, part.count - over))
            cut.add(key)
    return cut


def enforce_token_budget_with_report(
    prompt_dict: Mapping[str, object],
    token_budget: Mapping[str, object] = DEFAULT_TOKEN_BUDGET,
    model: str = "gpt-4o",
    *,
    fallback_encoding: str | None = None,
    cut_order: tuple[str, ...] = DEFAULT_CUT_ORDER,
) -> tuple[dict[str, object], TokenBudgetReport]:
    """The prompt cut to fit ``token_budget`` (same keys), and a report of what was cut."""
    budget = TokenBudget.from_mapping(token_budget, cut_order)
    encoding_name = encoding_name_for_model(model, fallback_encoding)
    encoding = get_encoding(encoding_name)
    parts, fixed = _parse(prompt_dict, encoding, message_costs_for_model(model))
    before = {**fixed, **{k: p.count for k, p in parts.items()}}

    reasons: dict[str, list[str]] = {}
    for key, part in parts.items():
        cap = budget.component_caps.get(key)
        if cap is not None and part.count > cap:
            part.cut_to(cap)
            reasons[key] = ["component_budget"]
    for key in _fit_total(parts, fixed, budget):
        reasons.setdefault(key, []).append("total_budget")

    result = dict(prompt_dict)
    for key in reasons:
        result[key] = parts[key].value()
    after = {**fixed, **{k: p.count for k, p in parts.items()}}
    report: TokenBudgetReport = {
        "model": model,
        "encoding": encoding_name,
        "budget": budget.as_dict(),
        "tokens_before": {c: 0 for c in PROMPT_COMPONENTS} | before,
        "tokens_after": {c: 0 for c in PROMPT_COMPONENTS} | after,
        "total_tokens_before": sum(before.values()),
        "total_tokens_after": sum(after.values()),
        "cut": {
            key: {
                "strategy": parts[key].strategy,
                "tokens_removed": before[key] - after[key],
                "messages_removed": parts[key].units_removed,
                "reasons": why,
            }
            for key, why in reasons.items()
        },
    }
    return result, report


def enforce_token_budget(
    prompt_dict: Mapping[str, object],
    token_budget: Mapping[str, object] = DEFAULT_TOKEN_BUDGET,
    model: str = "gpt-4o",
    *,
    fallback_encoding: str | None = None,
    cut_order: tuple[str, ...] = DEFAULT_CUT_ORDER,
) -> dict[str, object]:
    """The prompt cut so every budget holds (same keys); see the module docstring for rules."""
    prompt, _ = enforce_token_budget_with_report(
        prompt_dict,
        token_budget,
        model,
        fallback_encoding=fallback_encoding,
        cut_order=cut_order,
    )
    return prompt
