"""A flame graph as a standalone SVG, from collapsed stacks (Brendan Gregg's layout).

Each box is a frame; its width is the share of samples with that frame (and the same frames
below it) on the stack; roots at the bottom, children sorted by name, so the x-axis is not
time. The process chain comes first (``process <pid> <command>``), so each process of the
service (and the LLM stub) is its own tower. Static: hover a box for its full name and
samples (``<title>``); for zooming and search, open the speedscope file instead.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from html import escape

from perf.results.profiles import Stack

__all__ = ["flamegraph_svg"]

WIDTH = 1200.0
ROW = 17.0
TOP = 34.0  # room for the title
MIN_WIDTH = 0.3  # px: thinner boxes (and their children) are left out
CHAR = 6.6  # px per character at font-size 11


@dataclass
class _Node:
    count: int = 0
    children: dict[str, _Node] = field(default_factory=dict)


def _tree(stacks: Iterable[Stack]) -> _Node:
    root = _Node()
    for stack in stacks:
        root.count += stack.count
        node = root
        for frame in [f"process {p}" for p in stack.processes] + list(stack.frames):
            node = node.children.setdefault(frame, _Node())
            node.count += stack.count
    return root


def _depth(node: _Node) -> int:
    return 1 + max((_depth(child) for child in node.children.values()), default=0)


def _colour(name: str) -> str:
    """A warm colour, the same for the same function (flamegraph.pl's palette)."""
    digest = hashlib.blake2b(name.encode(), digest_size=3).digest()
    return f"rgb({205 + digest[0] % 50},{digest[1] % 230},{digest[2] % 55})"


def _box(name: str, count: int, total: int, *, x: float, y: float, width: float) -> str:
    chars = int(width / CHAR)
    label = "" if chars < 3 else name if len(name) <= chars else name[: chars - 2] + ".."
    text = f'<text x="{x + 3:.1f}" y="{y + ROW - 5:.1f}">{escape(label)}</text>' if label else ""
    fill = "rgb(120,150,210)" if name.startswith("process ") else _colour(name)
    return (
        f"<g><title>{escape(name)} ({count:,} samples, {count / total:.2%})</title>"
        f'<rect x="{x:.1f}" y="{y:.1f}" width="{width:.1f}" height="{ROW - 1:.0f}" '
        f'fill="{fill}" rx="2"/>{text}</g>'
    )


def flamegraph_svg(stacks: Iterable[Stack], *, title: str) -> str:
    """The whole SVG document; an empty profile gives a graph that says so."""
    root = _tree(stacks)
    depth = _depth(root)
    height = TOP + depth * ROW + 10
    boxes: list[str] = []
    if root.count:
        scale = WIDTH / root.count
        todo = [("all", root, 0.0, 0)]
        while todo:
            name, node, x, level = todo.pop()
            boxes.append(
                _box(name, node.count, root.count, x=x, y=height - 10 - (level + 1) * ROW,
                     width=node.count * scale)
            )  # fmt: skip
            for child_name in sorted(node.children):
                child = node.children[child_name]
                if child.count * scale >= MIN_WIDTH:
                    todo.append((child_name, child, x, level + 1))
                x += child.count * scale
    heading = f"{title}: {root.count:,} samples" if root.count else f"{title}: no samples"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH + 20:.0f}" '
        f'height="{height:.0f}" viewBox="-10 0 {WIDTH + 20:.0f} {height:.0f}" '
        'font-family="DejaVu Sans Mono, monospace" font-size="11">'
        f'<rect x="-10" y="0" width="{WIDTH + 20:.0f}" height="{height:.0f}" fill="#fdfdf6"/>'
        f'<text x="{WIDTH / 2:.0f}" y="20" text-anchor="middle" font-size="15">'
        f"{escape(heading)}</text>{''.join(boxes)}</svg>\n"
    )
