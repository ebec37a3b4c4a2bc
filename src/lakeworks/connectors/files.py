"""Files on local disk or S3-compatible storage: CSV, JSON lines, Parquet, log lines.

A ``files`` data source names a root (a folder, or ``s3://bucket/prefix`` with an
endpoint for S3-compatible servers). A sync reads a glob under it (``orders/*.csv``)
in one of the formats; a log file is parsed line by line with a regular expression
whose named groups become columns, and a line that does not match is rejected with its
file and line number. Writing produces Parquet or CSV files (hive-style partition
folders), written under a temporary name and renamed into place on commit.
"""

from __future__ import annotations

import contextlib
import fnmatch
import os
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from lakeworks.connectors.base import (
    ConnectorConfig,
    ReadRequest,
    Reject,
    SinkCapabilities,
    SourceBatch,
    SourceCapabilities,
    WriteMode,
    WriteRequest,
)
from lakeworks.connectors.credentials import redact, resolve_password
from lakeworks.errors import TransientError, UserError

if TYPE_CHECKING:
    import pyarrow as pa
    import pyarrow.fs as pa_fs

    from lakeworks.connectors.probe import Probed
    from lakeworks.connectors.registry import ConnectorContext

Format = Literal["csv", "jsonl", "parquet", "log"]
IN_PROGRESS = ".inprogress"


class S3Settings(BaseModel):
    """Where the S3-compatible server is and which credentials to use."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key_env: str | None = None
    secret_key_env: str | None = None
    secret_key_encrypted: str | None = None


class Config(ConnectorConfig):
    """``type: files`` — ``root`` is a folder or ``s3://bucket/prefix``."""

    type: Literal["files"] = "files"
    root: str = "."
    format: Format = "parquet"
    s3: S3Settings | None = None


@dataclass(frozen=True)
class ReadOptions:
    """Per-sync options of a file read (from the sync spec's ``source.options``)."""

    format: str
    pattern: str | None = None
    delimiter: str = ","
    header: bool = True

    @classmethod
    def from_request(cls, request: ReadRequest, default: str) -> ReadOptions:
        options = dict(request.options)
        fmt = str(options.pop("format", default))
        if fmt not in ("csv", "jsonl", "parquet", "log"):
            raise UserError(f"unknown file format '{fmt}'", hint="csv, jsonl, parquet or log")
        result = cls(
            format=fmt,
            pattern=options.pop("pattern", None),
            delimiter=str(options.pop("delimiter", ",")),
            header=bool(options.pop("header", True)),
        )
        if options:
            raise UserError(
                f"unknown file option(s): {', '.join(sorted(options))}",
                hint="format, pattern, delimiter, header",
            )
        if fmt == "log" and not result.pattern:
            raise UserError("format 'log' needs a 'pattern' with named groups")
        return result


class _Storage:
    """A pyarrow filesystem plus the base path every relative name is joined to."""

    def __init__(
        self, name: str, config: Config, root: Path | None, timeout: float | None = None
    ) -> None:
        import pyarrow.fs as pa_fs

        self.name = name
        self.fs: pa_fs.FileSystem
        if config.root.startswith("s3://"):
            settings = config.s3 or S3Settings()
            access = os.environ.get(settings.access_key_env or "", None)
            secret = resolve_password(name, settings.secret_key_env, settings.secret_key_encrypted)
            kwargs: dict[str, Any] = {"region": settings.region}
            if timeout is not None:
                kwargs.update(connect_timeout=timeout, request_timeout=timeout)
            if settings.endpoint_url:
                scheme, _, host = settings.endpoint_url.partition("://")
                kwargs.update(endpoint_override=host.rstrip("/"), scheme=scheme or "https")
            if access and secret is not None:
                kwargs.update(access_key=access, secret_key=secret.get_secret_value())
            self.fs = pa_fs.S3FileSystem(**kwargs)
            self.base = config.root[len("s3://") :].rstrip("/")
        else:
            self.fs = pa_fs.LocalFileSystem()
            base = Path(config.root)
            if not base.is_absolute() and root is not None:
                base = root / base
            self.base = str(base.resolve())

    def path(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}" if relative else self.base

    def glob(self, pattern: str) -> list[str]:
        import pyarrow.fs as pa_fs

        fixed = re.split(r"[*?\[]", pattern, maxsplit=1)[0]
        folder = fixed.rsplit("/", 1)[0] if "/" in fixed else ""
        full_pattern = self.path(pattern)
        try:
            info = self.fs.get_file_info(self.path(pattern))
            if info.type == pa_fs.FileType.File:
                return [info.path]
            selector = pa_fs.FileSelector(self.path(folder), recursive=True, allow_not_found=True)
            infos = self.fs.get_file_info(selector)
        except OSError as exc:
            raise TransientError(f"files '{self.name}': {redact(str(exc))}") from None
        return sorted(
            i.path
            for i in infos
            if i.type == pa_fs.FileType.File
            and fnmatch.fnmatchcase(i.path, full_pattern)
            and not i.path.endswith(IN_PROGRESS)
        )


class FileSource:
    """Reads every file matching a glob, in name order."""

    capabilities = SourceCapabilities()

    def __init__(self, name: str, config: Config, root: Path | None) -> None:
        self.name = name
        self.config = config
        self.storage = _Storage(name, config, root)

    def read(self, request: ReadRequest) -> Iterator[SourceBatch]:
        if not request.table:
            raise UserError(f"files '{self.name}': a read needs a 'path' (glob)")
        options = ReadOptions.from_request(request, self.config.format)
        paths = self.storage.glob(request.table)
        readers = {
            "csv": self._csv,
            "jsonl": self._jsonl,
            "parquet": self._parquet,
            "log": self._log,
        }
        for path in paths:
            try:
                for item in readers[options.format](path, options, request):
                    if request.columns:
                        item.batch = item.batch.select(request.columns)
                    yield item
            except OSError as exc:
                raise TransientError(f"files '{self.name}': {redact(str(exc))}") from None
            except (ValueError, TypeError) as exc:
                raise UserError(f"{path}: cannot read as {options.format}: {exc}") from None

    def _csv(self, path: str, options: ReadOptions, request: ReadRequest) -> Iterator[SourceBatch]:
        import pyarrow.csv as pa_csv

        with self.storage.fs.open_input_stream(path) as stream:
            reader = pa_csv.open_csv(
                stream,
                read_options=pa_csv.ReadOptions(
                    autogenerate_column_names=not options.header, block_size=1 << 22
                ),
                parse_options=pa_csv.ParseOptions(delimiter=options.delimiter),
            )
            line = 2 if options.header else 1
            for batch in reader:
                for start in range(0, batch.num_rows, request.batch_rows):
                    part = batch.slice(start, request.batch_rows)
                    yield SourceBatch(part, path, line, unit="line")
                    line += part.num_rows

    def _jsonl(
        self, path: str, options: ReadOptions, request: ReadRequest
    ) -> Iterator[SourceBatch]:
        import pyarrow.json as pa_json

        with self.storage.fs.open_input_stream(path) as stream:
            reader = pa_json.open_json(stream)
            line = 1
            for batch in reader:
                for start in range(0, batch.num_rows, request.batch_rows):
                    part = batch.slice(start, request.batch_rows)
                    yield SourceBatch(part, path, line, unit="line")
                    line += part.num_rows

    def _parquet(
        self, path: str, options: ReadOptions, request: ReadRequest
    ) -> Iterator[SourceBatch]:
        import pyarrow.parquet as pq

        with self.storage.fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            row = 1
            for batch in parquet.iter_batches(batch_size=request.batch_rows):
                yield SourceBatch(batch, path, row)
                row += batch.num_rows

    def _log(self, path: str, options: ReadOptions, request: ReadRequest) -> Iterator[SourceBatch]:
        import pyarrow as pa

        try:
            regex = re.compile(options.pattern or "")
        except re.error as exc:
            raise UserError(f"the log pattern is not a valid regular expression: {exc}") from None
        names = list(regex.groupindex)
        if not names:
            raise UserError("the log pattern has no named groups", hint="use (?P<name>…)")
        rows: list[tuple[str | None, ...]] = []
        numbers: list[int] = []
        rejects: list[Reject] = []

        def batch() -> SourceBatch:
            columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
            arrays = [pa.array(list(c), pa.string()) for c in columns]
            first = numbers[0] if numbers else 0
            return SourceBatch(
                pa.RecordBatch.from_arrays(arrays, names=names),
                path,
                first,
                rejects=list(rejects),
                unit="line",
                numbers=list(numbers),
            )

        with self.storage.fs.open_input_stream(path) as stream:
            for number, text in enumerate(_lines(stream), start=1):
                match = regex.fullmatch(text) or regex.match(text)
                if match is None:
                    if text.strip():
                        rejects.append(Reject(f"{path} line {number}", "line does not match", text))
                else:
                    rows.append(tuple(match.group(n) for n in names))
                    numbers.append(number)
                if len(rows) >= request.batch_rows:
                    yield batch()
                    rows, numbers, rejects = [], [], []
        if rows or rejects:
            yield batch()

    def estimate_rows(self, request: ReadRequest) -> int | None:
        return None

    def key_range(self, request: ReadRequest, column: str) -> tuple[Any, Any] | None:
        return None

    def close(self) -> None:
        pass


def _lines(stream: Any, chunk: int = 1 << 20) -> Iterator[str]:
    """The lines of a byte stream, read a megabyte at a time (``\n`` or ``\r\n`` ends)."""
    rest = b""
    while True:
        data = stream.read(chunk)
        if not data:
            break
        parts = (rest + data).split(b"\n")
        rest = parts.pop()
        for part in parts:
            yield part.removesuffix(b"\r").decode("utf-8", errors="replace")
    if rest:
        yield rest.removesuffix(b"\r").decode("utf-8", errors="replace")


class _FileWrite:
    def __init__(self, sink: FileSink, request: WriteRequest) -> None:
        self.sink = sink
        self.request = request
        partition = "/".join(f"{k}={v}" for k, v in request.partition.items())
        folder = request.table.strip("/") + (f"/{partition}" if partition else "")
        self.folder = sink.storage.path(folder)
        extension = sink.config.format if sink.config.format != "jsonl" else "json"
        self.final = f"{self.folder}/part-{uuid.uuid4().hex}.{extension}"
        self.temp = self.final + IN_PROGRESS
        self.written = False

    def write(self, batches: Iterable[pa.RecordBatch]) -> int:
        import pyarrow.csv as pa_csv
        import pyarrow.parquet as pq

        fs = self.sink.storage.fs
        fs.create_dir(self.folder, recursive=True)
        rows = 0
        writer: Any = None
        drop = list(self.request.partition)
        try:
            with fs.open_output_stream(self.temp) as out:
                self.written = True
                for batch in batches:
                    if drop:
                        batch = batch.drop_columns([c for c in drop if c in batch.schema.names])
                    if writer is None:
                        if self.sink.config.format == "csv":
                            writer = pa_csv.CSVWriter(out, batch.schema)
                        else:
                            writer = pq.ParquetWriter(out, batch.schema)
                    writer.write_batch(batch)
                    rows += batch.num_rows
                if writer is not None:
                    writer.close()
        except OSError as exc:
            raise TransientError(f"files '{self.sink.name}': {redact(str(exc))}") from None
        if writer is None:
            self.sink.storage.fs.delete_file(self.temp)
            self.written = False
        return rows

    def commit(self) -> None:
        import pyarrow.fs as pa_fs

        fs = self.sink.storage.fs
        if self.request.mode in (WriteMode.OVERWRITE, WriteMode.OVERWRITE_PARTITION):
            selector = pa_fs.FileSelector(self.folder, recursive=True, allow_not_found=True)
            for info in fs.get_file_info(selector):
                if info.type == pa_fs.FileType.File and info.path != self.temp:
                    fs.delete_file(info.path)
        if self.written:
            fs.move(self.temp, self.final)

    def rollback(self) -> None:
        if self.written:
            with contextlib.suppress(OSError):
                self.sink.storage.fs.delete_file(self.temp)


class FileSink:
    """Writes Parquet or CSV part files; overwrite replaces the folder on commit."""

    capabilities = SinkCapabilities(
        transactions=False, merge=False, partition_overwrite=True, add_columns=False
    )

    def __init__(self, name: str, config: Config, root: Path | None) -> None:
        if config.format not in ("parquet", "csv"):
            raise UserError(f"files '{name}': can write parquet or csv, not {config.format}")
        self.name = name
        self.config = config
        self.storage = _Storage(name, config, root)

    def table_schema(self, table: str) -> pa.Schema | None:
        import pyarrow.parquet as pq

        if self.config.format != "parquet":
            return None
        files = self.storage.glob(f"{table.strip('/')}/**.parquet") or self.storage.glob(
            f"{table.strip('/')}/*.parquet"
        )
        if not files:
            return None
        with self.storage.fs.open_input_file(files[0]) as handle:
            return pq.read_schema(handle)

    def add_columns(self, table: str, fields: list[pa.Field]) -> None:
        raise UserError("file targets cannot add columns to files already written")

    def begin(self, request: WriteRequest) -> _FileWrite:
        if request.mode is WriteMode.MERGE:
            raise UserError("file targets do not support merge", hint="use overwrite or append")
        return _FileWrite(self, request)

    def close(self) -> None:
        pass


def open_source(name: str, config: Config, context: ConnectorContext) -> FileSource:
    """A file source rooted at ``config.root``."""
    return FileSource(name, config, context.root)


def open_sink(name: str, config: Config, context: ConnectorContext) -> FileSink:
    """A file sink rooted at ``config.root``."""
    return FileSink(name, config, context.root)


def probe(name: str, config: Config, context: ConnectorContext, timeout: float) -> Probed:
    """List the root folder or bucket prefix (signing in to S3 when keys are set)."""
    import pyarrow.fs as pa_fs

    from lakeworks.connectors.probe import Probed, counted

    storage = _Storage(name, config, context.root, timeout=timeout)
    where = f"s3://{storage.base}" if config.root.startswith("s3://") else storage.base
    try:
        if config.root.startswith("s3://"):
            bucket = storage.base.split("/", 1)[0]
            if storage.fs.get_file_info(bucket).type == pa_fs.FileType.NotFound:
                raise UserError(f"files '{name}': no bucket '{bucket}'")
        elif storage.fs.get_file_info(storage.base).type == pa_fs.FileType.NotFound:
            raise UserError(f"files '{name}': no folder at {where}")
        entries = storage.fs.get_file_info(
            pa_fs.FileSelector(storage.base, recursive=False, allow_not_found=True)
        )
    except OSError as exc:
        raise UserError(f"files '{name}': {redact(str(exc))}") from None
    files = sum(1 for e in entries if e.type == pa_fs.FileType.File)
    folders = sum(1 for e in entries if e.type == pa_fs.FileType.Directory)
    server = None
    if config.root.startswith("s3://"):
        endpoint = config.s3.endpoint_url if config.s3 is not None else None
        server = f"S3 at {endpoint}" if endpoint else "S3"
    return Probed(server, f"{counted(files, 'file')} and {counted(folders, 'folder')} in {where}")
