"""PostgreSQL binary COPY decoded into Arrow buffers (compiled from ``_pgcopy.c``)."""

from typing import Any

def unframe(
    src: bytes | bytearray | memoryview, start: int, end: int, dst: bytearray, dst_end: int
) -> tuple[int, int, int, bytes | None]: ...
def scan(
    stream: bytes | bytearray | memoryview,
    start: int,
    end: int,
    kinds: bytes,
    max_rows: int,
    max_bytes: int,
) -> tuple[int, int, int, list[int], list[int]]: ...
def fill(
    stream: bytes | bytearray | memoryview,
    start: int,
    rows: int,
    kinds: bytes,
    validity: list[Any],
    values: list[Any],
    offsets: list[Any],
) -> list[tuple[int, int, int]]: ...
