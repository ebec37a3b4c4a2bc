"""Diff lines in the console: a removed SQL comment is a deletion, not a file header."""

from __future__ import annotations

from lakeworks.web.routes.studio import diff_lines


def test_removed_comment_lines_are_deletions() -> None:
    text = [
        "--- prod/a.sql",
        "+++ deploy/a.sql",
        "@@ -1,2 +1,2 @@",
        "--- description: old",
        "+-- description: new",
        " SELECT 1;",
    ]
    assert [kind for kind, _ in diff_lines(text)] == ["hunk", "hunk", "hunk", "del", "add", "ctx"]
