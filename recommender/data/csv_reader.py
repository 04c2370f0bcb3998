"""Reading a CSV file (``.csv``, ``.csv.gz``) as a table of strings, each row with the line its record starts on.

CSV goes through polars' fast reader. A file polars would read differently from the csv module (an odd
number of quotes, a bare CR line end as in old Mac exports) or that polars refuses (a stray quote inside a
field such as ``12" tent``, text after a closing quote, a row with several surplus fields) goes to the
lenient reader instead: the csv module's reading, same columns, same line numbers, same rules, only
slower. A gzip file is decompressed (and its checksum verified) before parsing.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import re
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl

from recommender.data.columns import EXTRA, LINE, normalized
from recommender.errors import UnreadableFileError

SEPARATORS = (",", ";", "\t", "|")
# columns whose values never span lines (a line break and a separator in one means a quote left open)
SINGLE_LINE = ("customer_id", "item_id", "ordered_at", "order_id", "quantity", "price", "in_stock")
MAX_HEADER_BYTES = 1 << 20
_CHUNK = 1 << 20
_SCAN_CHUNK = 1 << 23
_UTF16_BOMS = (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_LENIENT_FIELD_LIMIT = 1 << 30  # the csv module's default (128 KiB) would refuse a long field


def _unique_names(names: Sequence[str]) -> list[str]:
    """Column names made unique (``x``, ``x_duplicated_0``, ...), as polars would name them."""
    seen: set[str] = set()
    out = []
    for name in names:
        unique, n = name, 0
        while unique in seen:
            unique, n = f"{name}_duplicated_{n}", n + 1
        seen.add(unique)
        out.append(unique)
    return out


def _empty_frame(names: Sequence[str]) -> pl.DataFrame:
    return pl.DataFrame(schema={LINE: pl.Int64, **{n: pl.String for n in names}, EXTRA: pl.String})


# CSV: the bytes and the header ---------------------------------------------------------------------------


def _csv_bytes(path: Path) -> Path | bytes:
    """What to parse: the path of a plain CSV, the decompressed (checksum-verified) bytes of a gzipped one."""
    if not path.name.lower().endswith(".gz"):
        return path
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read()
    except (OSError, EOFError, zlib.error) as exc:
        raise UnreadableFileError(f"{path}: damaged or truncated gzip file: {exc}") from exc


def _open_binary(source: Path | bytes) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes) else source.open("rb")


@dataclass(frozen=True)
class _Header:
    separator: str
    raw_names: list[str]  # as written (BOM removed)
    names: list[str]  # unique


def _bad_utf8(path: Path, line: int, data: bytes, exc: UnicodeDecodeError) -> UnreadableFileError:
    byte = data[exc.start]
    return UnreadableFileError(
        f"{path}: line {line} is not valid UTF-8 (byte 0x{byte:02x} at byte {exc.start + 1} of the line); "
        "save the file as UTF-8"
    )


def _read_header(path: Path, source: Path | bytes) -> _Header | None:
    """The header line (line 1); None for a file without any content."""
    with _open_binary(source) as fh:
        head = fh.read(MAX_HEADER_BYTES + 2)
        if head.startswith(_UTF16_BOMS):
            raise UnreadableFileError(f"{path}: the file is UTF-16 or UTF-32 encoded; save it as UTF-8")
        head = head.removeprefix(codecs.BOM_UTF8)
        end = re.search(rb"[\r\n]", head)
        if end is None and len(head) > MAX_HEADER_BYTES:
            raise UnreadableFileError(f"{path}: line 1 (the header) is longer than {MAX_HEADER_BYTES:,} bytes")
        line = head[: end.start()] if end else head
        if not line.strip():
            if _has_content(head[len(line) :], fh):
                raise UnreadableFileError(f"{path}: line 1 is blank; the header must be on the first line")
            return None
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _bad_utf8(path, 1, line, exc) from exc
    if "\x00" in text:
        raise UnreadableFileError(f"{path}: line 1 (the header) contains a NUL character")
    separator = _sniff_separator(text)
    raw_names = next(csv.reader([text], delimiter=separator, strict=False), [])
    raw_names = [name.replace("\ufeff", "") for name in raw_names]
    return _Header(separator, raw_names, _unique_names(raw_names))


def _has_content(rest: bytes, fh: IO[bytes]) -> bool:
    """Whether anything but whitespace follows (in ``rest`` or the remainder of ``fh``)."""
    chunk = rest
    while chunk:
        if chunk.strip():
            return True
        chunk = fh.read(_CHUNK)
    return False


def _sniff_separator(header_line: str) -> str:
    counts = [header_line.count(sep) for sep in SEPARATORS]
    best = int(np.argmax(counts))
    return SEPARATORS[best] if counts[best] > 0 else ","


# CSV: parsing -----------------------------------------------------------------------------------------------


def _read_csv(path: Path) -> tuple[pl.DataFrame, list[str]]:
    source = _csv_bytes(path)
    header = _read_header(path, source)
    if header is None:
        return pl.DataFrame(schema={LINE: pl.Int64, EXTRA: pl.String}), []
    scan = _scan(source)
    # polars takes a quote left open at the very end as closed, and a bare CR as text: the lenient reader
    # reads those files as the csv module does
    plain = scan.quotes % 2 == 0 and not scan.bare_cr
    frame = _fast_csv(path, source, header, quoted=scan.quotes > 0) if plain else None
    if frame is None:
        frame = _lenient_csv(path, source, header)
        if scan.quotes:  # without quotes no field holds a line break
            _refuse_swallowed_rows(path, frame, header)
    return frame, header.raw_names


@dataclass(frozen=True)
class _Scan:
    quotes: int  # double quotes in the file
    bare_cr: bool  # a CR not followed by LF (a line end for the csv module, text for polars)


def _scan(source: Path | bytes) -> _Scan:
    quotes = cr = crlf = 0
    with _open_binary(source) as fh:
        previous = b""
        while chunk := fh.read(_SCAN_CHUNK):  # find (memchr) first: most files have neither quotes nor CRs
            quotes += chunk.count(b'"') if chunk.find(b'"') >= 0 else 0
            if chunk.find(b"\r") >= 0:
                cr += chunk.count(b"\r")
                crlf += chunk.count(b"\r\n")
            crlf += (previous + chunk[:1]) == b"\r\n"
            previous = chunk[-1:]
    return _Scan(quotes, cr != crlf)


def _fast_csv(path: Path, source: Path | bytes, header: _Header, quoted: bool) -> pl.DataFrame | None:
    """polars' reader; None when polars refuses the file (the lenient reader then decides).

    ``quoted``: whether the file holds a double quote at all (else no field spans lines).
    """
    schema = {name: pl.String for name in [*header.names, EXTRA]}
    try:
        frame = pl.read_csv(
            source,
            has_header=False,
            skip_rows=1,
            separator=header.separator,
            schema=schema,
            missing_columns="insert",
            truncate_ragged_lines=False,  # a row with more fields than the header + EXTRA: the lenient reader
            raise_if_empty=False,
            row_index_name=LINE,
            row_index_offset=2,
        )
    except (pl.exceptions.PolarsError, pl.exceptions.PanicException, OSError):
        return None
    if frame.height == 0:
        return _empty_frame(header.names)
    frame = frame.with_columns(pl.col(LINE).cast(pl.Int64))
    if not quoted:
        return frame.select(LINE, *header.names, EXTRA)
    # a quoted field that spans lines shifts the line numbers of every later row
    newlines = frame.select(
        pl.sum_horizontal(pl.col(c).str.count_matches("\n", literal=True).fill_null(0) for c in header.names)
    ).to_series()
    if newlines.sum():
        frame = frame.with_columns((pl.col(LINE) + newlines.cum_sum() - newlines).alias(LINE))
        _refuse_swallowed_rows(path, frame.filter(newlines > 0), header)
    return frame.select(LINE, *header.names, EXTRA)


class _Lines:
    """The lines of a text stream (terminators kept), counted; ``done`` once the stream is exhausted."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream
        self.count = 0
        self.done = False

    def __iter__(self) -> Iterator[str]:
        return self

    def __next__(self) -> str:
        line = self.stream.readline()
        if not line:
            self.done = True
            raise StopIteration
        self.count += 1
        return line


@contextlib.contextmanager
def _csv_field_limit(limit: int) -> Iterator[None]:
    previous = csv.field_size_limit(limit)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def _lenient_csv(path: Path, source: Path | bytes, header: _Header) -> pl.DataFrame:
    """The csv module's reading of the file (stray quotes are text; lines may end with CR, LF or CRLF)."""
    n = len(header.names)
    columns: list[list[str | None]] = [[] for _ in range(n + 1)]
    line_of: list[int] = []
    with _open_binary(source) as binary, _csv_field_limit(_LENIENT_FIELD_LIMIT):
        lines = _Lines(io.TextIOWrapper(binary, encoding="utf-8-sig", newline=""))
        reader = csv.reader(lines, delimiter=header.separator, strict=False)
        try:
            next(reader, None)  # the header, read already
            if lines.count > 1:
                raise UnreadableFileError(f"{path}: line 1 (the header) has a quote left open")
            previous_end = lines.count
            for record in reader:
                if lines.done:
                    raise UnreadableFileError(
                        f"{path}: line {previous_end + 1}: a quote opened in this row is never closed; "
                        "close it, or double quotes inside a quoted field"
                    )
                line_of.append(previous_end + 1)
                previous_end = lines.count
                for column, value in zip(columns, _fields(record, n, header.separator), strict=True):
                    column.append(value)
        except UnicodeDecodeError as exc:
            raise _locate_bad_utf8(path, source) from exc
        except csv.Error as exc:
            raise UnreadableFileError(f"{path}: line {lines.count}: cannot read as CSV: {exc}") from exc
    if not line_of:
        return _empty_frame(header.names)
    data = {LINE: line_of, **dict(zip([*header.names, EXTRA], columns, strict=True))}
    return pl.DataFrame(data, schema={LINE: pl.Int64, **{name: pl.String for name in [*header.names, EXTRA]}})


def _fields(record: list[str], n: int, separator: str) -> list[str | None]:
    """A record as ``n`` fields (None when absent) plus EXTRA: the fields past ``n``, "" when all are empty."""
    if len(record) <= n:
        return [*record, *[None] * (n - len(record)), None]
    extra = record[n:]
    return [*record[:n], separator.join(extra) if any(extra) else ""]


def _locate_bad_utf8(path: Path, source: Path | bytes) -> UnreadableFileError:
    """The error naming the first line that is not UTF-8 (lines end with LF, CRLF or CR, as the reader counts)."""
    number = 0
    with _open_binary(source) as fh:
        for chunk in fh:  # split at LF; a CR-only file comes as one chunk
            body = chunk[:-1] if chunk.endswith(b"\n") else chunk
            for data in (body[:-1] if body.endswith(b"\r") and chunk.endswith(b"\n") else body).split(b"\r"):
                number += 1
                data = data.removeprefix(codecs.BOM_UTF8) if number == 1 else data
                try:
                    data.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return _bad_utf8(path, number, data, exc)
    return UnreadableFileError(f"{path}: not valid UTF-8; save the file as UTF-8")


def _refuse_swallowed_rows(path: Path, frame: pl.DataFrame, header: _Header) -> None:
    """Refuse a record whose quoted field holds what looks like further rows (a quote left open).

    A line break inside a field is legal CSV, but in an id, time or number column (``SINGLE_LINE``) it is
    never followed by a field separator, and in a free-text column never by a whole row's worth of them.
    """
    sep = f"[{header.separator}]"
    whole_row = max(1, len(header.names) - 1)
    known_pattern = f"[\r\n][^\r\n]*{sep}"
    other_pattern = f"[\r\n](?:[^\r\n]*{sep}){{{whole_row}}}"
    checks = [
        pl.col(name).str.contains(known_pattern if normalized(raw) in SINGLE_LINE else other_pattern)
        for raw, name in zip(header.raw_names, header.names, strict=True)
    ]
    multi_line = frame.filter(pl.any_horizontal(pl.col(c).str.contains("[\r\n]") for c in header.names))
    if multi_line.height == 0:
        return
    swallowing = multi_line.filter(pl.any_horizontal(checks).fill_null(False))
    if swallowing.height:
        line = int(swallowing.get_column(LINE)[0])
        raise UnreadableFileError(
            f"{path}: line {line}: a quoted field runs over several lines and holds what looks like further rows "
            "(a quote left open?); close the quote, or double quotes inside a quoted field"
        )
