"""The token budget: which keys exist, their defaults, and validation of a caller's budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from perf.errors import ConfigurationError

__all__ = [
    "BUDGET_KEYS",
    "DEFAULT_CUT_ORDER",
    "DEFAULT_TOKEN_BUDGET",
    "PROMPT_COMPONENTS",
    "TokenBudget",
]

# The prompt's components, in the order they are usually assembled.
PROMPT_COMPONENTS: Final = (
    "system_prompt",
    "entity_context",
    "enrichment_context",
    "conversation_history",
    "user_prompt",
)

# Which budget key caps which component (the total caps the sum of everything).
_COMPONENT_KEYS: Final = MappingProxyType(
    {
        "max_entity_context_tokens": "entity_context",
        "max_enrichment_context_tokens": "enrichment_context",
        "max_conversation_history_tokens": "conversation_history",
    }
)
BUDGET_KEYS: Final = (*_COMPONENT_KEYS, "max_total_tokens")

# The spec's example budget.
DEFAULT_TOKEN_BUDGET: Final[Mapping[str, int]] = MappingProxyType(
    {
        "max_entity_context_tokens": 10_000,
        "max_enrichment_context_tokens": 2_000,
        "max_conversation_history_tokens": 1_000,
        "max_total_tokens": 30_000,
    }
)

# When the total is over, the component that gives up tokens first comes first.
# The system prompt, the user's prompt and any extra keys are never cut.
DEFAULT_CUT_ORDER: Final = ("enrichment_context", "conversation_history", "entity_context")


@dataclass(frozen=True, slots=True)
class TokenBudget:
    """A validated budget: per-component caps (None = uncapped), a total, and the cut order."""

    component_caps: Mapping[str, int | None]
    max_total_tokens: int | None
    cut_order: tuple[str, ...]

    @classmethod
    def from_mapping(
        cls, budget: Mapping[str, object], cut_order: tuple[str, ...] = DEFAULT_CUT_ORDER
    ) -> TokenBudget:
        """Validate a budget dict; a missing key means that part is not capped."""
        if not isinstance(budget, Mapping):
            raise ConfigurationError(
                f"token_budget must be a mapping of {', '.join(BUDGET_KEYS)} to token counts, "
                f"got {type(budget).__name__}"
            )
        unknown = sorted(str(k) for k in budget if k not in BUDGET_KEYS)
        if unknown:
            raise ConfigurationError(
                f"unknown token budget key(s) {', '.join(unknown)}; "
                f"the keys are {', '.join(BUDGET_KEYS)}"
            )
        values = {key: _checked_count(key, budget[key]) for key in budget}
        caps = {component: values.get(key) for key, component in _COMPONENT_KEYS.items()}
        return cls(caps, values.get("max_total_tokens"), _checked_cut_order(cut_order))

    def as_dict(self) -> dict[str, int | None]:
        """The budget in the caller's key names (uncapped parts as None)."""
        result = {key: self.component_caps[c] for key, c in _COMPONENT_KEYS.items()}
        result["max_total_tokens"] = self.max_total_tokens
        return result


def _checked_count(key: str, value: object) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigurationError(
            f"token budget {key!r} must be a whole number of tokens (or None for no cap), "
            f"got {value!r}"
        )
    if value < 0:
        raise ConfigurationError(f"token budget {key!r} must be >= 0, got {value}")
    return value


def _checked_cut_order(cut_order: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(cut_order, str):
        raise ConfigurationError(
            f"cut_order must be a tuple of component names, got the string {cut_order!r}; "
            f"write ({cut_order!r},)"
        )
    order = tuple(cut_order)
    allowed = set(_COMPONENT_KEYS.values())
    bad = [c for c in order if c not in allowed]
    if bad or len(set(order)) != len(order):
        raise ConfigurationError(
            f"cut_order must list distinct components among {', '.join(sorted(allowed))}, "
            f"got {order!r} (system_prompt and user_prompt are never cut)"
        )
    return order
