"""Lakeworks: self-hosted data development, orchestration and governance."""

__version__ = "0.1.0"
