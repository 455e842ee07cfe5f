"""The two sides of a comparison as source trees: a git ref checked out in a throwaway worktree,
or the working tree itself.

A throwaway worktree (``git worktree add --detach``) costs ~50 ms and shares the repository's
objects. It needs no environment of its own: ``perf`` is pure Python, so running pytest from
the worktree with ``PYTHONPATH`` at it imports *its* ``perf`` and *its* benchmarks ahead of the
editable install (checked before every comparison, ``check_imports``); the third-party packages
come from the one venv, whose versions the run folder's manifest records. When BASE and HEAD
declare different dependencies the comparison says so (``dependencies_differ``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from perf.errors import ConfigurationError

__all__ = [
    "WORKING_TREE",
    "Side",
    "check_git_state",
    "check_imports",
    "checked_out",
    "dependencies_differ",
    "resolve_commit",
    "side_env",
]

WORKING_TREE = "working tree"


@dataclass(frozen=True, slots=True)
class Side:
    """One side of a comparison: a label (``base`` / ``head``), the ref as given, its commit,
    and the source tree its benchmarks run from."""

    label: str
    ref: str
    commit: str
    path: Path
    dirty: bool = False

    def as_dict(self) -> dict[str, object]:
        return {"ref": self.ref, "commit": self.commit, "dirty": self.dirty, "path": str(self.path)}


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - git with our own arguments, no shell
        ["git", *args],  # noqa: S607 - git from PATH, as every developer runs it
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )


def resolve_commit(repo: Path, ref: str) -> str:
    """The full commit id ``ref`` names, or ``ConfigurationError`` saying what to do."""
    if ref.startswith("-"):
        raise ConfigurationError(f"bad git ref {ref!r}: a ref cannot start with '-'")
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if found.returncode != 0:
        raise ConfigurationError(
            f"unknown git ref {ref!r} in {repo}: give a branch, tag or commit "
            "(`git log --oneline` lists commits; fetch the branch first if it is remote)"
        )
    return found.stdout.strip()


def check_git_state(repo: Path) -> bool:
    """Refuse a checkout that is not one (or is mid-merge, -rebase, -cherry-pick, -bisect, or
    has unmerged paths); return whether the working tree has uncommitted changes."""
    top = _git(repo, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise ConfigurationError(f"{repo} is not a git checkout: run perf compare inside one")
    for marker, what in (
        ("MERGE_HEAD", "a merge"),
        ("rebase-merge", "a rebase"),
        ("rebase-apply", "a rebase"),
        ("CHERRY_PICK_HEAD", "a cherry-pick"),
        ("REVERT_HEAD", "a revert"),
        ("BISECT_LOG", "a bisect"),
    ):
        path = _git(repo, "rev-parse", "--git-path", marker).stdout.strip()
        if path and (repo / path).exists():
            raise ConfigurationError(
                f"{repo} is in the middle of {what}: finish or abort it, then compare"
            )
    status = _git(repo, "status", "--porcelain", "--untracked-files=no")
    if any(line[:2] in {"DD", "AU", "UD", "UA", "DU", "AA", "UU"} for line in
           status.stdout.splitlines()):  # fmt: skip
        raise ConfigurationError(f"{repo} has unmerged paths: resolve them, then compare")
    return bool(status.stdout.strip())


@contextmanager
def checked_out(repo: Path, commit: str, label: str) -> Iterator[Path]:
    """``commit`` in a throwaway worktree (removed afterwards, whatever happens)."""
    parent = Path(tempfile.mkdtemp(prefix=f"perf-compare-{label}-"))
    tree = parent / "tree"
    added = _git(repo, "worktree", "add", "--detach", "--quiet", str(tree), commit)
    if added.returncode != 0:
        shutil.rmtree(parent, ignore_errors=True)
        raise ConfigurationError(
            f"cannot check out {commit[:12]} into a temporary worktree: {added.stderr.strip()}"
        )
    try:
        yield tree
    finally:
        _git(repo, "worktree", "remove", "--force", str(tree))
        shutil.rmtree(parent, ignore_errors=True)
        _git(repo, "worktree", "prune")


def side_env(side: Side, env: Mapping[str, str]) -> dict[str, str]:
    """The environment a side's benchmark processes run in: its tree first on the path."""
    path = [str(side.path), *filter(None, [env.get("PYTHONPATH")])]
    return {**env, "PYTHONPATH": os.pathsep.join(path)}


def check_imports(side: Side, env: Mapping[str, str]) -> None:
    """Make sure a process started for ``side`` imports ``perf`` from the side's own tree."""
    probe = subprocess.run(
        [sys.executable, "-c", "import perf; print(perf.__file__)"],
        cwd=side.path,
        env=side_env(side, env),
        capture_output=True,
        text=True,
        check=False,
    )
    found = Path(probe.stdout.strip() or ".").resolve()
    if probe.returncode != 0 or not found.is_relative_to(side.path.resolve()):
        raise ConfigurationError(
            f"the {side.label} side ({side.ref}) imports perf from {found}, not from "
            f"{side.path}: {probe.stderr.strip()[-300:]}"
        )


def dependencies_differ(base: Side, head: Side) -> bool:
    """Whether BASE and HEAD declare different dependencies or extras in ``pyproject.toml``
    (then the one venv, installed for the working tree, may not fit both)."""

    def declared(side: Side) -> object:
        try:
            with (side.path / "pyproject.toml").open("rb") as file:
                project = tomllib.load(file).get("project", {})
        except (OSError, tomllib.TOMLDecodeError):
            return None
        return project.get("dependencies"), project.get("optional-dependencies")

    return declared(base) != declared(head)
