"""Table grants (who may read or write which warehouse tables) and column masking
rules (which columns are masked, how, and who sees real values).

Subjects are ``user:<name>`` or ``role:<role>``. Table and column patterns are globs
(``ods_*``, ``*``) matched in lower case against a table's full name and its bare name.
Owners and admins hold every grant implicitly. A new workspace starts with developers
writing (and reading) every dev table and operators reading every prod table; the
security admin refines from there.
"""

from __future__ import annotations

import builtins
import contextlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any

import sqlalchemy as sa

from lakeworks.errors import Conflict, NotFound, UserError
from lakeworks.security.masking import MASKING_METHODS
from lakeworks.security.models import MaskingRule, TableGrant
from lakeworks.security.permissions import Role, parse_role
from lakeworks.security.tables import masking_rules, table_grants
from lakeworks.store.clock import utcnow
from lakeworks.store.database import Database

PRIVILEGES = ("read", "write")
ALL_ENVS = "*"
IMPLICIT_FULL_ACCESS = frozenset({Role.OWNER, Role.ADMIN})

DEFAULT_GRANTS: tuple[tuple[str, str, str, str], ...] = (
    ("dev", f"role:{Role.DEVELOPER.value}", "*", "write"),
    ("prod", f"role:{Role.OPERATOR.value}", "*", "read"),
)
"""(env, subject, table pattern, privilege) every new workspace starts with."""


@dataclass(frozen=True)
class Subjects:
    """Who is asking: their user name and roles in the workspace."""

    username: str
    roles: frozenset[Role]

    @property
    def names(self) -> frozenset[str]:
        return frozenset({f"user:{self.username}", *(f"role:{r.value}" for r in self.roles)})

    @property
    def full_access(self) -> bool:
        return bool(self.roles & IMPLICIT_FULL_ACCESS)


def check_subject(subject: str) -> str:
    """A normalised subject; ``UserError`` unless it is ``user:<name>`` or ``role:<role>``."""
    kind, _, name = subject.strip().partition(":")
    kind = kind.lower()
    if kind == "role" and name:
        return f"role:{parse_role(name).value}"
    if kind == "user" and name.strip():
        return f"user:{name.strip().lower()}"
    raise UserError(
        f"invalid subject '{subject}'", hint="write user:<name> or role:<role>, e.g. role:viewer"
    )


def check_exempt(subject: str) -> str:
    """A normalised masking exemption: a subject (``check_subject``) or a DataService
    application, ``app:<name>``."""
    kind, _, name = subject.strip().partition(":")
    if kind.strip().lower() == "app":
        if name.strip():
            return f"app:{name.strip()}"
        raise UserError(
            f"invalid exemption '{subject}'", hint="write app:<application name>, e.g. app:crm"
        )
    try:
        return check_subject(subject)
    except UserError as exc:
        raise UserError(
            f"invalid exemption '{subject}'",
            hint="write user:<name>, role:<role> or app:<application name>",
        ) from exc


def check_pattern(pattern: str, what: str) -> str:
    cleaned = pattern.strip().lower()
    if not cleaned or any(c in cleaned for c in " \t\n;'\""):
        raise UserError(f"invalid {what} pattern '{pattern}'", hint="a name or a glob like ods_*")
    return cleaned


def name_matches(pattern: str, name: str) -> bool:
    """Whether a table (or column) name matches a glob, by full or bare name."""
    lowered = name.lower()
    return fnmatchcase(lowered, pattern) or fnmatchcase(lowered.rsplit(".", 1)[-1], pattern)


def denied_tables(
    grants: Iterable[TableGrant],
    subjects: Subjects,
    env: str,
    tables: Iterable[str],
    privilege: str,
) -> list[str]:
    """The tables in ``tables`` that ``subjects`` may not ``privilege`` in ``env``."""
    if subjects.full_access:
        return []
    names = subjects.names
    usable = [
        g
        for g in grants
        if g.subject in names
        and g.env in (env, ALL_ENVS)
        and (g.privilege == privilege or g.privilege == "write")
    ]
    return sorted(
        t for t in set(tables) if not any(name_matches(g.table_pattern, t) for g in usable)
    )


def _grant(row: sa.Row[Any]) -> TableGrant:
    m = row._mapping
    return TableGrant(
        id=m["id"],
        workspace=m["workspace"],
        env=m["env"],
        subject=m["subject"],
        table_pattern=m["table_pattern"],
        privilege=m["privilege"],
        created_at=m["created_at"],
        created_by=m["created_by"],
    )


def _rule(row: sa.Row[Any]) -> MaskingRule:
    m = row._mapping
    return MaskingRule(
        id=m["id"],
        workspace=m["workspace"],
        table_pattern=m["table_pattern"],
        column_pattern=m["column_pattern"],
        method=m["method"],
        exempt=tuple(json.loads(m["exempt_json"])),
        created_at=m["created_at"],
        created_by=m["created_by"],
    )


class GrantRepository:
    """Table grants and masking rules of workspaces."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- grants ---------------------------------------------------------------------

    def grants(self, workspace: str) -> builtins.list[TableGrant]:
        query = (
            sa.select(table_grants)
            .where(table_grants.c.workspace == workspace)
            .order_by(table_grants.c.id)
        )
        with self._db.read() as conn:
            return [_grant(row) for row in conn.execute(query)]

    def add_grant(
        self,
        workspace: str,
        *,
        env: str,
        subject: str,
        table_pattern: str,
        privilege: str,
        actor: str,
    ) -> TableGrant:
        if privilege not in PRIVILEGES:
            raise UserError(f"unknown privilege '{privilege}'", hint="read or write")
        if env not in ("dev", "prod", ALL_ENVS):
            raise UserError(f"unknown environment '{env}'", hint="dev, prod or *")
        values = {
            "workspace": workspace,
            "env": env,
            "subject": check_subject(subject),
            "table_pattern": check_pattern(table_pattern, "table"),
            "privilege": privilege,
            "created_at": utcnow(),
            "created_by": actor,
        }
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    sa.insert(table_grants).values(values).returning(*table_grants.c)
                ).one()
        except sa.exc.IntegrityError:
            raise Conflict("this grant exists already") from None
        return _grant(row)

    def remove_grant(self, workspace: str, grant_id: int) -> None:
        with self._db.write() as conn:
            result = conn.execute(
                sa.delete(table_grants).where(
                    table_grants.c.workspace == workspace, table_grants.c.id == grant_id
                )
            )
        if not result.rowcount:
            raise NotFound(f"grant {grant_id} does not exist in workspace '{workspace}'")

    def seed_defaults(self, workspace: str, actor: str) -> None:
        """Give a new workspace its default grants (only when it has none)."""
        if self.grants(workspace):
            return
        for env, subject, pattern, privilege in DEFAULT_GRANTS:
            with contextlib.suppress(Conflict):
                self.add_grant(
                    workspace,
                    env=env,
                    subject=subject,
                    table_pattern=pattern,
                    privilege=privilege,
                    actor=actor,
                )

    # -- masking --------------------------------------------------------------------

    def masking_rules(self, workspace: str) -> builtins.list[MaskingRule]:
        query = (
            sa.select(masking_rules)
            .where(masking_rules.c.workspace == workspace)
            .order_by(masking_rules.c.id)
        )
        with self._db.read() as conn:
            return [_rule(row) for row in conn.execute(query)]

    def add_masking_rule(
        self,
        workspace: str,
        *,
        table_pattern: str,
        column_pattern: str,
        method: str,
        exempt: Iterable[str] = (),
        actor: str,
    ) -> MaskingRule:
        if method not in MASKING_METHODS:
            raise UserError(
                f"unknown masking method '{method}'", hint="one of: " + ", ".join(MASKING_METHODS)
            )
        values = {
            "workspace": workspace,
            "table_pattern": check_pattern(table_pattern, "table"),
            "column_pattern": check_pattern(column_pattern, "column"),
            "method": method,
            "exempt_json": json.dumps(sorted({check_exempt(s) for s in exempt})),
            "created_at": utcnow(),
            "created_by": actor,
        }
        try:
            with self._db.write() as conn:
                row = conn.execute(
                    sa.insert(masking_rules).values(values).returning(*masking_rules.c)
                ).one()
        except sa.exc.IntegrityError:
            raise Conflict("a masking rule for this table and column exists already") from None
        return _rule(row)

    def remove_masking_rule(self, workspace: str, rule_id: int) -> None:
        with self._db.write() as conn:
            result = conn.execute(
                sa.delete(masking_rules).where(
                    masking_rules.c.workspace == workspace, masking_rules.c.id == rule_id
                )
            )
        if not result.rowcount:
            raise NotFound(f"masking rule {rule_id} does not exist in workspace '{workspace}'")
