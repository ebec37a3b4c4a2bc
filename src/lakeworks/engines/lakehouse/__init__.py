"""Lakehouse storage: partitioned Parquet tables with atomic commits in the store."""
