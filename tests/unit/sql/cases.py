"""Read the SQL test cases kept as data files under ``fixtures/``.

A case file holds cases separated by ``-- name: <name>`` lines. Inside a case, lines of
the form ``-- <key>: <value>`` after the input are directives (``expect``, ``error``,
``at``, ``setup``, ``reads``, ``writes``…); ``-- expect:`` starts a block of expected
statements, one per line. Every other line is input.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

_DIRECTIVE = re.compile(r"^-- (?P<key>[a-z_-]+):\s?(?P<value>.*)$")


@dataclass
class Case:
    name: str
    source: str
    directives: dict[str, str] = field(default_factory=dict)
    expect: list[str] | None = None


def load_cases(path: Path, directive_keys: frozenset[str]) -> list[Case]:
    """The cases of one file; ``directive_keys`` are the keys that are not input."""
    cases: list[Case] = []
    current: Case | None = None
    in_expect = False
    for raw in path.read_text(encoding="utf-8").splitlines():
        m = _DIRECTIVE.match(raw)
        if m and m.group("key") == "name":
            current = Case(name=m.group("value").strip(), source="")
            cases.append(current)
            in_expect = False
            continue
        if current is None:
            continue  # the file's header comment
        if m and m.group("key") == "expect":
            current.expect = []
            in_expect = True
            continue
        if m and m.group("key") in directive_keys:
            current.directives[m.group("key")] = m.group("value").strip()
            continue
        if in_expect:
            if raw.strip():
                assert current.expect is not None
                current.expect.append(raw.rstrip().removesuffix(";"))
            continue
        current.source += raw + "\n"
    return cases
