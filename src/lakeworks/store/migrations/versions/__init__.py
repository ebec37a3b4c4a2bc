"""Numbered migration scripts: ``0001_foundation`` and one branch per product area."""
