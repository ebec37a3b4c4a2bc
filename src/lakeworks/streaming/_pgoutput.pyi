"""Row changes of pgoutput (protocol 1) as Arrow columns (compiled from ``_pgoutput.c``)."""

def columns(
    payloads: list[bytes], ncols: int
) -> tuple[int, bytes, bytes, bytes, list[tuple[bytes, bytes, bytes, int]]]: ...
