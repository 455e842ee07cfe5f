"""Token counting and budget enforcement with offline tiktoken encodings.

The encodings (o200k_base, cl100k_base) ship as package data and are built once per process
with tiktoken's own constructors and hash check: nothing is downloaded. Call
:func:`preload_encodings` at start-up to pay the ~0.6 s load before the first request.
"""

from __future__ import annotations

from perf.tokens.budget import (
    ComponentCut,
    TokenBudgetReport,
    enforce_token_budget,
    enforce_token_budget_with_report,
)
from perf.tokens.budget_config import (
    BUDGET_KEYS,
    DEFAULT_CUT_ORDER,
    DEFAULT_TOKEN_BUDGET,
    PROMPT_COMPONENTS,
)
from perf.tokens.counting import count_message_tokens, count_tokens
from perf.tokens.encodings import (
    SUPPORTED_ENCODINGS,
    EncodingDataError,
    encoding_for_model,
    encoding_name_for_model,
    get_encoding,
    known_models,
    preload_encodings,
)

__all__ = [
    "BUDGET_KEYS",
    "DEFAULT_CUT_ORDER",
    "DEFAULT_TOKEN_BUDGET",
    "PROMPT_COMPONENTS",
    "SUPPORTED_ENCODINGS",
    "ComponentCut",
    "EncodingDataError",
    "TokenBudgetReport",
    "count_message_tokens",
    "count_tokens",
    "encoding_for_model",
    "encoding_name_for_model",
    "enforce_token_budget",
    "enforce_token_budget_with_report",
    "get_encoding",
    "known_models",
    "preload_encodings",
]
