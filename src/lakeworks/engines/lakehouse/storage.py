"""Where a lakehouse keeps its files: a folder on local disk or an S3-compatible bucket."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs

from lakeworks.errors import UserError


@dataclass(frozen=True)
class Storage:
    """A warehouse root: ``filesystem`` plus the root path inside it (no trailing slash)."""

    filesystem: pafs.FileSystem
    root: str
    local: bool

    def path(self, relative: str) -> str:
        return f"{self.root}/{relative}"


def open_storage(root: str, *, endpoint: str | None = None, region: str = "us-east-1") -> Storage:
    """The storage of a warehouse root: a local path, ``file://...`` or ``s3://bucket/prefix``.

    ``endpoint`` is the URL of an S3-compatible server (MinIO, moto...); credentials
    come from the usual ``AWS_*`` environment variables.
    """
    parsed = urlparse(root)
    if parsed.scheme in {"", "file"}:
        folder = Path(parsed.path if parsed.scheme else root).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return Storage(pafs.LocalFileSystem(), str(folder).rstrip("/"), True)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise UserError(
                f"lakehouse root {root!r} names no bucket", hint="write s3://bucket/prefix"
            )
        options: dict[str, object] = {"region": region}
        if endpoint:
            url = urlparse(endpoint)
            options["endpoint_override"] = url.netloc or url.path
            options["scheme"] = url.scheme or "https"
        filesystem = pafs.S3FileSystem(**options)
        prefix = f"{parsed.netloc}/{parsed.path.strip('/')}".rstrip("/")
        return Storage(filesystem, prefix, False)
    raise UserError(
        f"unsupported lakehouse root {root!r}",
        hint="use a local folder, file:///path or s3://bucket/prefix",
    )
