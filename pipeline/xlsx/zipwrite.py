"""The zip container of a workbook, written directly rather than through `zipfile`.

A big week writes five hundred statements of fourteen parts each and two workbooks of about
fifty megabytes of sheet XML. Measured there, `zipfile` and zlib were a second of the reports'
CPU time beside the XML they compress:
- deflate is ISA-L's (`isal`, a maintained binding of Intel's library) when it is installed
  (`HAS_ISAL`; a writer can be told `library="zlib"`):
  its level 1 deflates sheet XML about ten times as fast as zlib's level 6, for files about a
  fifth larger; its level 3 about four times as fast, a sixth larger. Without it, zlib at the
  level asked for. `deflate_level` maps zlib's levels to ISA-L's 0-3;
- a part that every workbook of a kind shares (styles, theme, relationships) is deflated once
  per process and its bytes reused (`add(..., same=True)`);
- no per-part objects or extra fields: a local header, the data, and the central directory.

The same parts give the same bytes (fixed timestamps, fixed attributes), with the same deflate
library. Parts and offsets stay below 4 GB (no ZIP64): far beyond a sheet's 1,048,576 rows of
the reports' columns; a part that passes it (`LIMIT`) fails with a clear error.
"""

from __future__ import annotations

import struct
import zlib
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

_isal: Any
try:
    from isal import isal_zlib as _isal
except ImportError:  # pragma: no cover - a platform without the wheel: zlib, slower
    _isal = None

HAS_ISAL = _isal is not None
Library = Literal["isal", "zlib"]
LIMIT = 0xFFFFFFFF     # bytes: a part or a file at this size or past it needs ZIP64, which this does not write

_LOCAL = struct.Struct("<IHHHHHIIIHH")
_CENTRAL = struct.Struct("<IHHHHHHIIIHHHHHII")
_END = struct.Struct("<IHHHHIIH")
_VERSION = 20          # deflate, no ZIP64
_DEFLATED = 8
_SAME: dict[tuple[bytes, int, str], tuple[int, bytes]] = {}   # (part, level, library) -> (crc, deflated)
_SAME_MAX = 256        # entries kept; a caller marks as `same` only parts that repeat


def _module(library: Library | None) -> Any:
    """The deflate module: ISA-L's when installed (or asked for), else zlib."""
    if library == "isal" and _isal is None:
        raise ValueError("ISA-L (the isal package) is not installed")
    if library == "zlib" or _isal is None:
        return zlib
    return _isal


def deflate_level(level: int, library: Library | None = None) -> int:
    """zlib's level (0-9) as the deflate library takes it: ISA-L has 0-3, so 0 stays 0,
    1-3 (the fast levels) become 1, and 4-9 (the compact ones) become 3."""
    if _module(library) is zlib:
        return level
    return 0 if level <= 0 else 1 if level <= 3 else 3


def _compressor(level: int, module: Any) -> Any:
    return module.compressobj(deflate_level(level, "zlib" if module is zlib else "isal"), module.DEFLATED, -15)


def zlib_compress(data: bytes, level: int, library: Library | None = None) -> bytes:
    """`zlib.compress(data, level)` by the deflate library (default: ISA-L when installed): the
    same zlib format (any zlib reads it back), in a quarter of the time with ISA-L."""
    module = _module(library)
    if module is zlib:
        return zlib.compress(data, level)
    return bytes(module.compress(data, deflate_level(level, "isal")))


def _deflate(data: bytes, level: int, module: Any) -> tuple[int, bytes]:
    packer = _compressor(level, module)
    return int(module.crc32(data)), packer.compress(data) + packer.flush()


class ZipWriter:
    """A zip file written in order: `add` a whole part, or `stream` one in pieces; `close` writes
    the central directory. Every entry is deflated (by `library`: default ISA-L when installed)
    and dated `moment` (not before 1980). A part or a file that reaches `limit` bytes fails with
    its name (the default is the zip format's 4 GB without ZIP64)."""

    def __init__(self, path: Path | str, moment: datetime, level: int, *, library: Library | None = None,
                 limit: int = LIMIT) -> None:
        self._module = _module(library)
        self._library = "zlib" if self._module is zlib else "isal"
        self._limit = limit
        moment = max(moment, datetime(1980, 1, 1))
        self._time = moment.hour << 11 | moment.minute << 5 | moment.second // 2
        self._date = (moment.year - 1980) << 9 | moment.month << 5 | moment.day
        self.level = level
        self._fh = open(path, "wb")  # noqa: SIM115 - closed by `close`
        self._at = 0
        self._entries: list[tuple[bytes, int, int, int, int]] = []   # name, crc, packed, size, offset

    def _put(self, data: bytes) -> None:
        self._fh.write(data)
        self._at += len(data)

    def _header(self, name: bytes, crc: int, packed: int, size: int) -> bytes:
        return _LOCAL.pack(0x04034B50, _VERSION, 0, _DEFLATED, self._time, self._date, crc, packed, size,
                           len(name), 0) + name

    def add(self, name: str, data: bytes, same: bool = False) -> None:
        """A whole part. `same`: a part other workbooks repeat byte for byte, deflated once."""
        key = (data, self.level, self._library)
        hit = _SAME.get(key) if same else None
        if hit is None:
            hit = _deflate(data, self.level, self._module)
            if same and len(_SAME) < _SAME_MAX:
                _SAME[key] = hit
        crc, packed = hit
        self._check(name, len(data), len(packed))
        raw = name.encode("ascii")
        self._entries.append((raw, crc, len(packed), len(data), self._at))
        self._put(self._header(raw, crc, len(packed), len(data)))
        self._put(packed)

    def stream(self, name: str) -> _Stream:
        """A part written in pieces (`write`, then `close`): its header is completed once its
        size is known."""
        return _Stream(self, name)

    def _check(self, name: str, size: int, packed: int) -> None:
        if max(size, packed, self._at + packed) >= self._limit:
            raise ValueError(f"{name}: a workbook part past 4 GB is more than this writer supports")

    def close(self) -> None:
        start = self._at
        for raw, crc, packed, size, offset in self._entries:
            self._put(_CENTRAL.pack(0x02014B50, _VERSION, _VERSION, 0, _DEFLATED, self._time, self._date, crc,
                                    packed, size, len(raw), 0, 0, 0, 0, 0, offset) + raw)
        self._put(_END.pack(0x06054B50, 0, 0, len(self._entries), len(self._entries), self._at - start, start, 0))
        self._fh.close()

    def abort(self) -> None:
        """Close the file as it is (after an error: the caller removes or replaces it)."""
        self._fh.close()


class _Stream:
    def __init__(self, book: ZipWriter, name: str) -> None:
        self._book = book
        self._name = name
        self._raw = name.encode("ascii")
        self._offset = book._at
        self._module = book._module
        self._packer = _compressor(book.level, book._module)
        self._crc = 0
        self._size = 0
        self._packed = 0
        book._put(book._header(self._raw, 0, 0, 0))

    def write(self, data: bytes | memoryview) -> None:
        self._crc = int(self._module.crc32(data, self._crc))
        self._size += len(data)
        self._emit(self._packer.compress(data))

    def _emit(self, packed: bytes) -> None:
        self._packed += len(packed)
        self._book._check(self._name, self._size, self._packed)
        if packed:
            self._book._put(packed)

    def close(self) -> None:
        self._emit(self._packer.flush())
        book = self._book
        book._entries.append((self._raw, self._crc, self._packed, self._size, self._offset))
        book._fh.seek(self._offset + 14)
        book._fh.write(struct.pack("<III", self._crc, self._packed, self._size))
        book._fh.seek(book._at)
