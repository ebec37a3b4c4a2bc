""" "Did you mean" for a misspelt name: the closest of the names that exist."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def closest(name: str, candidates: Iterable[str], *, limit: int = 3) -> list[str]:
    """The names of ``candidates`` closest to ``name`` (case-insensitive), best first.

    A qualified name (``db.table``) is also compared by its last part, so ``dws_dialy``
    finds ``dw.dws_daily``."""
    wanted = name.lower()
    by_lower: dict[str, str] = {}
    for candidate in candidates:
        by_lower.setdefault(candidate.lower(), candidate)
    by_lower.pop(wanted, None)
    found = difflib.get_close_matches(wanted, list(by_lower), n=limit, cutoff=0.6)
    if len(found) < limit:
        bare = {k.rsplit(".", 1)[-1]: k for k in by_lower if "." in k}
        for match in difflib.get_close_matches(wanted.rsplit(".", 1)[-1], list(bare), n=limit):
            if bare[match] not in found:
                found.append(bare[match])
    return [by_lower[k] for k in found[:limit]]


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    """``did you mean 'a' or 'b'?`` for the closest candidates, or None."""
    found = closest(name, candidates)
    if not found:
        return None
    return f"did you mean {' or '.join(repr(c) for c in found)}?"
