"""Cutting one prompt component down to a token limit by slicing its token array.

Each component is encoded once; a cut slices the token list and decodes the slice. Decoding a
slice that splits a multi-byte character, or re-encoding text whose last piece lost its
neighbour, can change the count by a token or so, so every cut text is re-encoded once to get
its exact count, and in the rare case it is over, cut again by the excess (which terminates:
the slice shrinks each round). Nothing is found by trial encode/decode loops.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import tiktoken

__all__ = ["MessageListPart", "TextPart", "keep_head", "keep_tail"]


def _exact_cut(
    encoding: tiktoken.Encoding, tokens: Sequence[int], limit: int, *, from_end: bool
) -> tuple[str, int]:
    keep = min(limit, len(tokens))
    while keep > 0:
        kept = tokens[len(tokens) - keep :] if from_end else tokens[:keep]
        # A slice can start or end inside a multi-byte character: drop those partial bytes.
        text = encoding.decode_bytes(kept).decode("utf-8", errors="ignore")
        count = len(encoding.encode_ordinary(text))
        if count <= limit:
            return text, count
        keep -= count - limit
    return "", 0


def keep_head(encoding: tiktoken.Encoding, tokens: Sequence[int], limit: int) -> tuple[str, int]:
    """The longest-found start of the text within ``limit`` tokens, and its exact count."""
    return _exact_cut(encoding, tokens, limit, from_end=False)


def keep_tail(encoding: tiktoken.Encoding, tokens: Sequence[int], limit: int) -> tuple[str, int]:
    """The end of the text within ``limit`` tokens (the most recent part), and its exact count."""
    return _exact_cut(encoding, tokens, limit, from_end=True)


@dataclass(slots=True)
class TextPart:
    """A text component, encoded once; ``cut_to`` keeps its head (or its tail)."""

    original: str
    tokens: list[int]
    encoding: tiktoken.Encoding
    keep_end: bool = False
    text: str = field(init=False)
    count: int = field(init=False)

    def __post_init__(self) -> None:
        self.text = self.original
        self.count = len(self.tokens)

    @property
    def strategy(self) -> str:
        return "keep_tail" if self.keep_end else "keep_head"

    @property
    def units_removed(self) -> int:
        return 0  # text is cut by tokens, not by messages

    def cut_to(self, limit: int) -> None:
        """Cut (from the original tokens) so that at most ``limit`` tokens remain."""
        if self.count <= limit:
            return
        cut = keep_tail if self.keep_end else keep_head
        self.text, self.count = cut(self.encoding, self.tokens, limit)

    def value(self) -> str:
        return self.text


@dataclass(slots=True)
class MessageListPart:
    """A chat history; ``cut_to`` drops the oldest whole messages, keeping the most recent."""

    messages: Sequence[Mapping[str, object]]
    message_tokens: list[int]
    start: int = 0
    count: int = field(init=False)

    strategy = "keep_recent_messages"

    def __post_init__(self) -> None:
        self.count = sum(self.message_tokens)

    @property
    def units_removed(self) -> int:
        return self.start

    def cut_to(self, limit: int) -> None:
        """Keep the longest run of most recent messages that fits in ``limit`` tokens."""
        while self.count > limit:
            self.count -= self.message_tokens[self.start]
            self.start += 1

    def value(self) -> list[Mapping[str, object]]:
        return list(self.messages[self.start :])
