"""A closed week's ledger.csv as the state keeps it: whole (packed), or as its difference from
another closed week's.

A year of weeks each storing its whole ledger grows with the square of the weeks (the ledger of
week 52 is the whole year's); yet from one week to the next only the week's new phones and its
first visits change a line. So only the newest closed week keeps its ledger.csv whole; when a
later week closes, the one before it is stored as a `delta` against it: which lines of the later
file it takes, in its own order, plus its own lines the later file lacks (a week's changed first
visits: a few thousand). A re-render of any closed week gives back its bytes exactly
(`resolve`), whichever way the lines are cut: the files are compared as pieces ending in a
newline, not parsed as CSV.

A delta names the week it is against (`delta_base`): a re-render walks from the week asked to
the newest, and `resolve` applies the deltas back from the whole file, composing the positions
as integers and taking the lines once.

A week closed now is stored as a delta against the week before's (made from the positions its
`splice` copied lines from: nothing is compressed whole), with its size, its pieces, the number
of deltas a re-render resolves through and the SHA-256 of its bytes; every `MAX_CHAIN + 1`-th
week is stored whole again, so that a re-render resolves at most `MAX_CHAIN` deltas. The next
week reads the week before's lines from that week's own ledger.csv where its size and SHA-256
are still those stored (`Before`), and from the state otherwise. Weeks closed by earlier
versions keep their deltas against the week after them (the newest whole): `resolve` follows a
chain in either direction.

Shared by the state (which stores the blobs) and the report writer (which unpacks them where
ledger.csv is written): imports neither.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple

# The whole file: zstd (through Arrow's codec) after a marker and the size; weeks closed by
# earlier versions kept it as zlib, which is still read. A big office's 72 MB ledger compresses
# in 0.2 s this way, against 0.8 s with zlib at level 1.
_ZSTD_MARK = b"\x00zstd1\x1e"
# A delta (`make_delta`): marker, the base week's name (a length byte, then UTF-8), then five
# 8-byte sizes (the file's bytes, its pieces, its own pieces, the compressed positions, the
# compressed lengths) and the compressed parts: positions, own pieces' lengths, own pieces' bytes.
_DELTA_MARK = b"\x00ldelta1\x1e"
# The same as written since (`splice`, `stored_file`), each with what the next week checks the
# file it finds against and how far its chain goes: the whole file with its size, its pieces and
# its SHA-256 (`_WHOLE_HEAD`); a delta with, after the five sizes, the deltas a re-render
# resolves through (its own included) and the file's SHA-256 (`_DELTA_TAIL`).
_ZSTD2_MARK = b"\x00zstd2\x1e"
_DELTA2_MARK = b"\x00ldelta2\x1e"
_WHOLE_HEAD = len(_ZSTD2_MARK) + 8 + 8 + 32
_DELTA_TAIL = 8 + 32
# A week is stored whole again where its delta would be the 13th since a whole one: a re-render
# resolves at most this many deltas (a year's ledger: 12 of about a megabyte each).
MAX_CHAIN = 12
_NEWLINE = 10
CHUNK = 1 << 22  # files scanned, compared and decompressed 4 MB at a time: little memory whatever their size


def pack(data: bytes | Any) -> bytes:
    """ledger.csv (bytes, or an Arrow buffer) as the state keeps it whole."""
    return b"".join((_ZSTD_MARK, len(data).to_bytes(8, "little"), _zstd_frame(data)))


def pack_file(path: Path) -> bytes:
    """`pack` of a file, read `FRAME` bytes at a time and compressed as zstd frames (`_Frames`)
    while this thread hashes and counts the next part: a year's ledger.csv is never in the
    run's memory whole (a few parts are); with its pieces and SHA-256 (`Before`)."""
    size = newlines = 0
    digest = hashlib.sha256()
    last = _NEWLINE
    with open(path, "rb") as source, _Frames() as frames:
        while part := source.read(FRAME):
            frames.write(part)
            digest.update(part)
            newlines += part.count(b"\n")
            last = part[-1]
            size += len(part)
    return _whole_blob(frames.packed, size, newlines + (last != _NEWLINE), digest.digest())


FRAME = 1 << 23  # bytes of a whole file compressed as one zstd frame (`_Frames`)


class _Frames:
    """A whole file's bytes, written in order (`write`, bytes that stay as they are), compressed
    as zstd frames of `FRAME` bytes, each on one of two threads (Arrow's codec compresses without
    the interpreter lock) while the writer goes on; `packed`, once the block is left, is the
    frames one after another: one zstd stream, which `unpack`, `unpack_to` and every stream
    reader here read whole. At most a few parts are held. Measured on the big office's 72 MB
    ledger.csv, which its first run packs at the end of its reports with a core to spare: 0.27 s
    as one frame streamed through Arrow's CompressedOutputStream, 0.15 s so, 0.07 % larger."""

    def __init__(self) -> None:
        from concurrent.futures import Future, ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(2, thread_name_prefix="ledger-frames")
        self._pending: list[Future[bytes]] = []
        self._frames: list[bytes] = []
        self._buffer = bytearray()
        self.packed = b""

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        if self._buffer:
            take = FRAME - len(self._buffer)
            self._buffer += view[:take]
            view = view[take:]
            if len(self._buffer) < FRAME:
                return
            self._submit(bytes(self._buffer))
            self._buffer = bytearray()
        while len(view) >= FRAME:
            self._submit(view[:FRAME])
            view = view[FRAME:]
        self._buffer += view

    def _submit(self, part: Any) -> None:
        self._pending.append(self._pool.submit(_zstd_frame, part))
        while len(self._pending) > 2:
            self._frames.append(self._pending.pop(0).result())

    def __enter__(self) -> _Frames:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        try:
            if kind is None:
                if self._buffer or not (self._frames or self._pending):  # an empty file: one empty frame
                    self._submit(bytes(self._buffer))
                self.packed = b"".join([*self._frames, *(future.result() for future in self._pending)])
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)


def _zstd_frame(data: Any, level: int = 1) -> bytes:
    """`data` as one zstd frame (Arrow's codec, which runs without the interpreter lock): at
    level 1 for a whole ledger.csv (`pack`, `_Frames`), 3 for a delta's small parts (`_delta`)."""
    import pyarrow as pa

    frame: bytes = pa.Codec("zstd", compression_level=level).compress(data, asbytes=True)
    return frame


def _whole_blob(frame: Any, size: int, pieces: int, digest: bytes) -> bytes:
    return b"".join((_ZSTD2_MARK, size.to_bytes(8, "little"), pieces.to_bytes(8, "little"), digest,
                     memoryview(frame)))


def _frame_at(blob: bytes | memoryview) -> int | None:
    """Where a whole stored file's zstd frame starts (after its marker and header); None for
    zlib (as the first versions kept it)."""
    mark = bytes(blob[:len(_ZSTD_MARK)])
    if mark == _ZSTD_MARK:
        return len(_ZSTD_MARK) + 8
    if mark == _ZSTD2_MARK:
        return _WHOLE_HEAD
    return None


def unpack(blob: bytes | Sequence[bytes]) -> bytes:
    """ledger.csv from what the state keeps: a whole file (`pack`), or a chain (`resolve`)."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        return resolve(list(blob))
    if is_delta(blob):
        raise ValueError("a ledger delta alone cannot be unpacked: resolve it with the weeks after it")
    at = _frame_at(blob)
    if at is None:
        return zlib.decompress(blob)
    import pyarrow as pa

    size = _field(blob, 0)
    data: bytes = pa.Codec("zstd").decompress(memoryview(blob)[at:], decompressed_size=size, asbytes=True)
    return data


def unpack_to(blob: bytes | Sequence[bytes], path: Path) -> None:
    """`unpack` written to `path` a few megabytes at a time: the whole file decompressed as a
    stream, a chain's lines taken a slice at a time (`resolve`). A year's ledger.csv is never
    in memory whole, nor copied twice more as `resolve` gives it: a re-render of an early week
    of a year's state peaked at several times the file's size."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        chain = list(blob)
        if len(chain) > 1:
            _resolve_to(chain, path)
            return
        blob = chain[0]
    if is_delta(blob):
        raise ValueError("a ledger delta alone cannot be unpacked: resolve it with the weeks after it")
    written = 0
    at = _frame_at(blob)
    with open(path, "wb") as out:
        if at is None:
            stream = zlib.decompressobj()
            view = memoryview(blob)
            for start in range(0, len(view), CHUNK):
                written += out.write(stream.decompress(view[start:start + CHUNK]))
            written += out.write(stream.flush())
            return
        import pyarrow as pa

        expected = _field(blob, 0)
        source = pa.BufferReader(pa.py_buffer(memoryview(blob)[at:]))
        with pa.CompressedInputStream(source, "zstd") as packed:
            while chunk := packed.read(CHUNK):
                written += out.write(memoryview(chunk))
    if written != expected:
        raise ValueError(f"a stored ledger did not unpack to its size ({written} bytes, not {expected})")


def size(blob: bytes | Sequence[bytes]) -> int:
    """The size of the ledger.csv a stored one unpacks to, read from its header (a chain: from
    its last blob's); 0 when not known without unpacking (zlib, as earlier versions kept it)."""
    if not isinstance(blob, (bytes, bytearray, memoryview)):
        return size(blob[-1]) if len(blob) else 0
    if not is_delta(blob) and _frame_at(blob) is None:
        return 0
    return _field(blob, 0)


def is_delta(blob: bytes | memoryview) -> bool:
    return bytes(blob[:len(_DELTA_MARK)]) in (_DELTA_MARK, _DELTA2_MARK)


def _fields_at(blob: bytes | memoryview) -> int:
    """Where a blob's 8-byte fields start: after a delta's marker and its base week's name, or
    after a whole file's marker (`pack`, `_whole_blob`)."""
    if is_delta(blob):
        return len(_DELTA_MARK) + 1 + blob[len(_DELTA_MARK)]
    return len(_ZSTD_MARK)


def _field(blob: bytes | memoryview, i: int) -> int:
    """A blob's `i`-th 8-byte field (`_fields_at`): for both kinds the first is the file's size."""
    at = _fields_at(blob) + 8 * i
    return int.from_bytes(blob[at:at + 8], "little")


def _checked(blob: bytes | memoryview) -> tuple[int, int, bytes] | None:
    """(size, pieces, SHA-256) of the file a blob written by this version stores; None for one
    written by an earlier version (which kept no digest)."""
    if bytes(blob[:len(_DELTA_MARK)]) == _DELTA2_MARK:
        fields = 6  # size, pieces, own pieces, two compressed parts' sizes, depth
    elif bytes(blob[:len(_ZSTD2_MARK)]) == _ZSTD2_MARK:
        fields = 2  # size, pieces
    else:
        return None
    at = _fields_at(blob) + 8 * fields
    return _field(blob, 0), _field(blob, 1), bytes(blob[at:at + 32])


def depth(blob: bytes | memoryview) -> int:
    """How many deltas a re-render of the week stored so resolves (0: stored whole). A delta of
    an earlier version (against the week after it) counts as `MAX_CHAIN`: the week after it is
    stored whole."""
    if not is_delta(blob):
        return 0
    if bytes(blob[:len(_DELTA_MARK)]) != _DELTA2_MARK:
        return MAX_CHAIN
    return _field(blob, 5)


def delta_base(blob: bytes | memoryview) -> str:
    """The week a delta is against (`is_delta` blobs only)."""
    size = blob[len(_DELTA_MARK)]
    return bytes(blob[len(_DELTA_MARK) + 1:len(_DELTA_MARK) + 1 + size]).decode("utf-8")


def _pieces(data: Any, release: Callable[[], Any] | None = None) -> Any:
    """The bytes as an Arrow large_binary array of pieces, each ending after a newline (the last
    may end without one), over the same memory (`release`: see `_delta`)."""
    import numpy as np
    import pyarrow as pa

    buffer = data if isinstance(data, pa.Buffer) else pa.py_buffer(data)
    raw = np.frombuffer(buffer, np.uint8)
    ends = [np.zeros(1, np.int64)]
    for start in range(0, len(raw), CHUNK):
        ends.append(np.flatnonzero(raw[start:start + CHUNK] == _NEWLINE).astype(np.int64) + (start + 1))
        if release is not None:
            release()
    if len(raw) and raw[-1] != _NEWLINE:
        ends.append(np.array([len(raw)], np.int64))
    offsets = np.concatenate(ends)
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1, [None, pa.py_buffer(offsets), buffer])


def _keys(pieces: Any) -> Any:
    """Each piece's key (numpy uint64): its first 16 bytes (fewer if shorter) and its length
    mixed. Equal pieces have equal keys; unequal ones rarely do. Made a slice at a time: the
    temporary arrays stay small whatever the file's size."""
    import numpy as np

    offsets = np.frombuffer(pieces.buffers()[1], np.int64)[pieces.offset:pieces.offset + len(pieces) + 1]
    step = 1 << 18
    return np.concatenate([np.zeros(0, np.uint64), *(_slice_keys(pieces, offsets[i:i + step + 1])
                                                     for i in range(0, len(pieces), step))])


def _slice_keys(pieces: Any, offsets: Any) -> Any:
    import numpy as np

    starts, lengths = offsets[:-1], np.diff(offsets)
    data = pieces.buffers()[2]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    # the file's last bytes padded with zeros: a piece near the end reads its 16 bytes there
    tail = max(0, len(raw) - 64)
    padded = np.concatenate([raw[tail:], np.zeros(16, np.uint8)])
    padded_words = np.ndarray((len(padded) - 7,), np.dtype("<u8"), padded, 0, (1,))  # 8 bytes from each byte
    words = np.ndarray((len(raw) - 7,), np.dtype("<u8"), raw, 0, (1,)) if len(raw) >= 8 else None
    key = lengths.astype(np.uint64) * np.uint64(0xC2B2AE3D27D4EB4F)
    for word in (0, 1):
        at = starts + 8 * word
        far = at + 8 > len(raw)
        values = np.empty(len(starts), np.uint64)
        values[far] = padded_words[at[far] - tail]
        if words is not None:
            values[~far] = words[at[~far]]
        left = np.clip(lengths - 8 * word, 0, 8).astype(np.uint64)
        mask = np.where(left >= 8, np.uint64(0xFFFFFFFFFFFFFFFF),
                        (np.uint64(1) << (np.uint64(8) * np.minimum(left, 7))) - np.uint64(1))
        key ^= (values & mask) * np.uint64(0x9E3779B97F4A7C15 if word == 0 else 0x165667B19E3779F9)
        key = (key << np.uint64(31)) | (key >> np.uint64(33))
    return key


def make_delta(old: bytes | Any, new: bytes | Any, base: str) -> bytes:
    """The file `old` as a delta against `new` (the ledger.csv of the week `base`): for each of
    old's pieces its position in new, or past new's end one of old's own pieces. The positions
    are stored as their steps less one (mostly zero: runs of the same lines), compressed."""
    return _delta([old], new, base)


def delta_of_stored(old: bytes, new: bytes | Any, base: str) -> bytes:
    """`make_delta` of a file as stored whole (`pack`), decompressed a few megabytes at a time:
    a year's ledger is never held twice."""
    return _delta(_unpacked_parts(old), new, base)


def stored_file(path: Path, before: Before | None, scratch: Path) -> bytes:
    """The stored form of the ledger.csv at `path` made otherwise than by `splice` (written from
    the ledger): whole where `whole_due`, else a delta against the week before's (`before`),
    found by comparing the two files (`_delta`), the week before's mapped in memory and let go
    of a few megabytes at a time (its pages are not held in the run's memory). `scratch`: where
    the week before's file is resolved to when it is not in its folder as stored."""
    if whole_due(before):
        return pack_file(path)
    assert before is not None
    digest = hashlib.sha256()

    def read() -> Iterator[bytes]:
        for part in _file_parts(path):
            digest.update(part)
            yield part

    with before.opened(scratch) as old:
        blob = _mapped(old, lambda mapped, release: _delta(read(), mapped, before.week, release,
                                                           before.depth + 1, digest))
    return blob


def _mapped(path: Path, use: Callable[[Any, Callable[[], Any] | None], bytes]) -> bytes:
    """`use(the file mapped, a function letting go of its pages)` (an empty file: b"")."""
    import mmap

    if not path.stat().st_size:
        return use(b"", None)
    with open(path, "rb") as fh:
        mapped = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            release = (lambda: mapped.madvise(mmap.MADV_DONTNEED)) if hasattr(mapped, "madvise") and \
                hasattr(mmap, "MADV_DONTNEED") else None
            return use(mapped, release)
        finally:
            try:
                mapped.close()
            except BufferError:  # an array over it is still referenced (a traceback's frame): closed when let go
                pass


def _file_parts(path: Path | str) -> Iterator[bytes]:
    with open(path, "rb") as fh:
        while part := fh.read(CHUNK):
            yield part


def whole_due(before: Before | None) -> bool:
    """Whether the week after `before` is stored whole: there is no week before to be a delta
    against, or its delta would be more than `MAX_CHAIN` from a whole."""
    return before is None or before.depth >= MAX_CHAIN


class Before(NamedTuple):
    """The ledger.csv of the week before the one written, which that one's is made from
    (`splice`) and stored against (`stored_file`): read from the file the week before wrote
    (`file`) where its size and SHA-256 are still those stored when it closed (`before_of`; an
    admin may have opened it in Excel and saved it, or the folder may be gone), else resolved
    from what the state keeps (`chain`, `resolve`)."""

    week: str
    file: str | None            # its ledger.csv as written, checked
    chain: list[bytes] | None   # else its stored chain
    pieces: int | None          # its pieces (lines), where the stored form says
    depth: int                  # deltas its stored form resolves through (0: whole)

    @property
    def resolves(self) -> bool:
        """Whether it is read from a chain resolved first (not from a file, nor a whole stored one)."""
        return self.file is None and self.chain is not None and len(self.chain) > 1

    def parts(self, scratch: Path) -> Iterator[bytes]:
        """Its bytes a few megabytes at a time: from the file, a whole stored file decompressed
        as a stream, or a chain resolved into `scratch` first (removed after)."""
        if self.file is not None:
            yield from _file_parts(self.file)
            return
        assert self.chain is not None
        if len(self.chain) == 1:
            yield from _unpacked_parts(self.chain[0])
            return
        with self.opened(scratch.with_name(f".{scratch.name}.before")) as path:
            yield from _file_parts(path)

    @contextmanager
    def opened(self, scratch: Path) -> Iterator[Path]:
        """Its bytes as a file: the one checked, or `scratch` resolved from the stored chain
        (removed after)."""
        if self.file is not None:
            yield Path(self.file)
            return
        assert self.chain is not None
        try:
            unpack_to(self.chain, scratch)
            yield scratch
        finally:
            scratch.unlink(missing_ok=True)

    @contextmanager
    def resolved(self, scratch: Path) -> Iterator[Before]:
        """This, read in one pass however often it is read (`parts`): a chain resolved into
        `scratch` once (removed after)."""
        if not self.resolves:
            yield self
            return
        with self.opened(scratch) as path:
            yield self._replace(file=str(path), chain=None)


def before_of(week: str, blob: bytes, file: Path, chain: Callable[[], list[bytes]], as_written: bool = False
              ) -> Before:
    """`Before` of the closed week `week` whose ledger.csv is stored as `blob`: its folder's
    file `file` where it is there with the size and SHA-256 stored (a blob of this version),
    else the stored chain (`blob` alone where stored whole, else `chain()`: read from the state
    only then). `as_written`: the caller knows the folder is still as the run that stored
    `blob` wrote it (its seal holds, `rendered`), so the file is not read to be hashed (a
    year's ledger.csv: 100 MB)."""
    checked = _checked(blob)
    pieces = None if checked is None else checked[1]
    if checked is not None:
        try:
            same = file.stat().st_size == checked[0]
            if same and not as_written:
                with open(file, "rb") as fh:
                    same = hashlib.file_digest(fh, "sha256").digest() == checked[2]
        except OSError:
            same = False
        if same:
            return Before(week, str(file), None, pieces, depth(blob))
    return Before(week, None, chain() if is_delta(blob) else [blob], pieces, depth(blob))


def _unpacked_parts(blob: bytes) -> Iterator[bytes]:
    at = _frame_at(blob)
    if at is None:
        yield unpack(blob)
        return
    import pyarrow as pa

    frame = pa.BufferReader(pa.py_buffer(memoryview(blob)[at:]))
    with pa.CompressedInputStream(frame, "zstd") as stream:
        while part := stream.read(CHUNK):
            yield part


def _lines_in_parts(parts: Iterable[bytes | Any]) -> Iterator[bytes | memoryview]:
    """The bytes of `parts` again, in parts of at most about `CHUNK` bytes, each cut after a
    newline (the last as the bytes end)."""
    import numpy as np

    carry = b""
    for part in parts:
        view = memoryview(part)
        found = part.rfind if isinstance(part, (bytes, bytearray)) else None
        for start in range(0, len(view), CHUNK):
            stop = min(start + CHUNK, len(view))
            if found is not None:
                cut = found(b"\n", start, stop) + 1 - start  # 0: none
            else:
                ends = np.flatnonzero(np.frombuffer(view[start:stop], np.uint8) == _NEWLINE)
                cut = int(ends[-1]) + 1 if len(ends) else 0
            window = view[start:stop]
            if not cut:
                carry += bytes(window)
                continue
            yield carry + bytes(window[:cut]) if carry else window[:cut]
            carry = bytes(window[cut:])
    if carry:
        yield carry


def _delta(old_parts: Iterable[bytes | Any], new: bytes | Any, base: str,
           release: Callable[[], Any] | None = None, depth: int | None = None, digest: Any = None) -> bytes:
    """`make_delta`; `release` (if any) lets go of `new`'s pages in memory (a mapped file's),
    called after each few megabytes read from it. With `depth`, written as this version's
    delta (`_DELTA2_MARK`) with the SHA-256 `digest` (hashlib's, of `old_parts`, taken at the end)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    news = _pieces(new, release)
    new_keys = _keys(news)
    if release is not None:
        release()
    order = np.argsort(new_keys, kind="stable")
    sorted_keys = new_keys[order]
    del new_keys
    positions, owns = [], []
    size = count = own_count = 0
    for part in _lines_in_parts(old_parts):
        # Candidates by a key of each piece's first 16 bytes and length (a ledger line's phone),
        # then confirmed byte for byte: hashing a million whole lines took four times as long.
        olds = _pieces(part)
        size += len(part)
        keys = _keys(olds)
        at = np.minimum(np.searchsorted(sorted_keys, keys), max(len(sorted_keys) - 1, 0))
        found = np.full(len(olds), -1, np.int64)
        if len(sorted_keys):
            hit = np.flatnonzero(sorted_keys[at] == keys)
            if len(hit):
                candidates = order[at[hit]]
                same = pc.equal(olds.take(pa.array(hit)), news.take(pa.array(candidates))).to_numpy(
                    zero_copy_only=False)
                found[hit[same]] = candidates[same]
        missing = found < 0
        found[missing] = len(news) + own_count + np.arange(int(missing.sum()), dtype=np.int64)
        own_count += int(missing.sum())
        positions.append(found)
        if missing.any():
            owns.append(olds.filter(pa.array(missing)))
        count += len(olds)
        if release is not None:
            release()
    all_positions = np.concatenate(positions) if positions else np.zeros(0, np.int64)
    own = pa.concat_arrays(owns) if owns else pa.array([], pa.large_binary())
    del news, order, sorted_keys, positions, owns
    blob = _delta_blob(all_positions, own, size, base, depth, None if digest is None else digest.digest())
    pa.default_memory_pool().release_unused()  # what Arrow's allocator kept of the parts compared
    return blob


def _delta_blob(positions: Any, own: Any, size: int, base: str, depth: int | None = None,
                digest: bytes | None = None) -> bytes:
    """A delta (`make_delta`) of a file of `size` bytes: each of its pieces' position (numpy
    int64) in the file of `base`, or past its end one of `own` (large_binary, in order). With
    `depth` and `digest`, as this version writes it (`_DELTA2_MARK`)."""
    import numpy as np

    steps = np.diff(positions, prepend=-1) - 1
    own_offsets = np.frombuffer(own.buffers()[1], np.int64)[own.offset:own.offset + len(own) + 1]
    lengths = np.diff(own_offsets)
    own_data = own.buffers()[2]
    own_bytes = b"" if own_data is None or not len(own) else \
        memoryview(own_data)[int(own_offsets[0]):int(own_offsets[-1])]
    parts = [_zstd_frame(steps.astype(np.int64).tobytes(), 3), _zstd_frame(lengths.astype(np.int64).tobytes(), 3),
             _zstd_frame(bytes(own_bytes), 3)]
    name = base.encode("utf-8")
    sizes = [size, len(positions), len(own), len(parts[0]), len(parts[1])]
    if depth is None or digest is None:
        return b"".join([_DELTA_MARK, bytes([len(name)]), name, *(s.to_bytes(8, "little") for s in sizes), *parts])
    return b"".join([_DELTA2_MARK, bytes([len(name)]), name, *(s.to_bytes(8, "little") for s in sizes),
                     depth.to_bytes(8, "little"), digest, *parts])


def stored_before(week: str, blob: bytes) -> Before:
    """`Before` of a week from its stored form alone (a whole file, or a chain: a list)."""
    chain = [blob] if isinstance(blob, (bytes, bytearray, memoryview)) else list(blob)
    checked = _checked(chain[-1])
    return Before(week, None, chain, None if checked is None else checked[1], depth(chain[-1]))


def splice(old: Before | bytes, header: bytes, kept: Any, lines: Any, before: Any, path: Path,
           base: str | None = None, whole: bool = False) -> bytes | None:
    """A week's ledger.csv written to `path` from the week before's (`old`: its header line,
    then one line per phone in phone order; as stored, a blob, when not a `Before`, `base`
    naming its week) and this week's changes, at the speed of copying bytes: the header
    `header`, the old lines at `kept` (their positions among its lines, ascending: the phones no
    newer row named) and the new `lines` (large_string or large_binary, in phone order, each
    ending with its newline), new line i before kept line `before[i]` (non-decreasing). A year's
    ledger is a million lines; a week changes thousands. The old file is read a few megabytes at
    a time, in order: never whole in memory.

    Returns its stored form: a delta against the week before's made from the same positions
    (the old lines it takes, and the new `lines` as its own), or with `whole` the file packed
    whole as it is written (`pack_file`); None when `old` does not start with `header` or has
    fewer lines than `kept` names (it is not the file those positions are of): what was written
    is then not ledger.csv, and the caller writes it another way."""
    if not isinstance(old, Before):
        old = stored_before(base or "", old)
    with old.resolved(path.with_name(f".{path.name}.before")) as ready:
        return _splice(ready, header, kept, lines, before, path, whole)


def _splice(old: Before, header: bytes, kept: Any, lines: Any, before: Any, path: Path, whole: bool) -> bytes | None:
    import numpy as np
    import pyarrow as pa

    if isinstance(kept, KeptLines):
        kept = line_positions(old, header, kept.phones)
        if kept is None:
            return None
    before = np.asarray(before, np.int64)
    new_data, new_ends = _line_buffer(lines)
    piece, starts, stops = _kept_runs(kept, before)
    # Each run of kept lines: its old lines [first, last), and the new lines going in before it
    # [new_from, new_to) (those with `before` up to the run's first position in `kept`).
    run_first, run_last = piece[starts], piece[stops - 1] + 1 if len(stops) else piece[stops]
    new_to = np.searchsorted(before, starts, "right")
    new_from = np.concatenate([np.zeros(1, np.int64), new_to[:-1]]) if len(new_to) else new_to
    new_begin, new_end = new_ends[new_from], new_ends[new_to]
    source = _OldLines(old.parts(path), piece)
    digest = hashlib.sha256()
    size = run = 0
    runs = len(starts)
    frames = _Frames() if whole else None
    with open(path, "wb") as fh, (frames if frames is not None else nullcontext()) as packed:
        def put(parts: list[Any]) -> None:
            nonlocal size
            data = b"".join(parts)
            fh.write(data)
            digest.update(data)
            if packed is not None:
                packed.write(data)
            size += len(data)

        if not source.next() or source.last < 1 or bytes(source.bytes(0, 1)) != header:
            return None
        parts: list[Any] = [source.bytes(0, 1)]
        while True:
            # the runs with lines in the part at hand: each begun here goes after its new lines
            first, last, view, ends = source.first, source.last, source.view, source.ends
            upto = int(np.searchsorted(run_first, last, "left"))
            if upto > run:
                span = slice(run, upto)
                begun = (run_first[span] >= first).tolist()
                lo = ends[np.maximum(run_first[span], first) - first].tolist()
                hi = ends[np.minimum(run_last[span], last) - first].tolist()
                for here, a, b, c, d in zip(begun, new_begin[span].tolist(), new_end[span].tolist(), lo, hi,
                                            strict=True):
                    if here and b > a:
                        parts.append(new_data[a:b])
                    parts.append(view[c:d])
                run = upto if run_last[upto - 1] <= last else upto - 1
            put(parts)
            parts = []
            if not source.next():
                break
        if run < runs:
            return None  # the old file has fewer lines than `kept` names
        at = int(new_to[-1]) if runs else 0
        if at < len(before):
            put([new_data[int(new_ends[at]):int(new_ends[len(before)])]])
    if not source.ended_by_newline:
        return None
    pieces = 1 + len(piece) + len(before)
    if frames is not None:
        return _whole_blob(frames.packed, size, pieces, digest.digest())
    # the new file's pieces as positions in the old one's: its header, the kept lines where they
    # were, the new lines past the old file's end (its own, in order)
    positions = np.empty(pieces, np.int64)
    positions[0] = 0
    positions[1 + np.arange(len(piece)) + np.searchsorted(before, np.arange(len(piece)), "right")] = piece
    positions[1 + before + np.arange(len(before))] = source.last + np.arange(len(before))
    own = lines.cast(pa.large_binary()) if len(lines) else pa.array([], pa.large_binary())
    return _delta_blob(positions, own, size, old.week, old.depth + 1, digest.digest())


def splices(old: Before | bytes, header: bytes, kept: Any) -> bool:
    """Whether `splice` writes a file from `old` with the positions `kept` (rather than returning
    None): its first line is `header`, it ends with a newline and has a line at each of `kept`
    past the header. A file checked as stored (`before_of`) is asked its first line and last
    byte, its lines being stored; a file stored whole is read a few megabytes at a time, as
    `splice` reads it; a chain (the week before's folder is not as it wrote it) is not resolved
    here: False, as where in doubt. (A caller that checks this first can let go of what it
    would write ledger.csv from otherwise.)"""
    import numpy as np

    if not isinstance(old, Before):
        if is_delta(old):
            return False
        old = stored_before("", old)
    if not header.endswith(b"\n") or header.count(b"\n") != 1:
        return False
    need = int(np.max(kept)) + 2 if len(kept) else 1
    if old.file is not None and old.pieces is not None:
        try:
            with open(old.file, "rb") as fh:
                head = fh.read(len(header))
                fh.seek(0, 2)
                if not fh.tell():
                    return False
                fh.seek(-1, 2)
                end = fh.read(1)
        except OSError:
            return False
        return head == header and end == b"\n" and old.pieces >= need
    if old.chain is None or len(old.chain) != 1:
        return False
    lines, first, last = 0, True, 0
    for part in _lines_in_parts(old.parts(Path())):
        raw = np.frombuffer(memoryview(part), np.uint8)
        if first and bytes(raw[:len(header)]) != header:
            return False
        first = False
        lines += int(np.count_nonzero(raw == _NEWLINE))
        last = int(raw[-1])
    return not first and last == _NEWLINE and lines >= need


class KeptLines:
    """The kept lines of a `splice` given by their phones (Arrow text, in the file's order), not
    their positions: found in the week before's file where it is read (`line_positions`), by
    the process that splices it, not by the run beforehand."""

    def __init__(self, phones: Any) -> None:
        self.phones = phones

    def __len__(self) -> int:
        return len(self.phones)


def line_positions(old: Before | bytes, header: bytes, phones: Any) -> Any | None:
    """Where the lines of `phones` (Arrow text, in the order of the file's lines) are among the
    lines after the header of `old` (a ledger.csv stored whole, `pack`): numpy int64, ascending,
    as `splice` takes its `kept`. A line is a phone's when its first cell (up to the first comma)
    is the phone. None where `old` does not start with `header`, or a phone has no line of its
    own there, or not in that order: `old` is not a file of those lines. Read a few megabytes at
    a time; the file's phones alone are held (a year's ledger: a tenth of its size)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if not isinstance(old, Before):
        if is_delta(old):
            return None
        old = stored_before("", old)
    if not header.endswith(b"\n") or header.count(b"\n") != 1 or (old.file is None and len(old.chain or ()) != 1):
        return None
    firsts: list[Any] = []
    first = True
    for part in _lines_in_parts(old.parts(Path())):
        pieces = _pieces(part)
        if first:
            if bytes(memoryview(part)[:len(header)]) != header:
                return None
            pieces, first = pieces.slice(1), False
        cells = _first_cells(pieces)
        if cells is None:
            return None
        firsts.append(cells)
    if first:
        return None
    every = pa.chunked_array(firsts, pa.large_binary()).combine_chunks() if firsts else pa.array([], pa.large_binary())
    wanted = pc.cast(phones, pa.large_binary())
    positions = _sorted_positions(every, wanted)
    if positions is not None and len(positions) and int(positions.min()) < 0:
        return None
    if positions is None:  # not in the order of their bytes: by a hash of each
        found = pc.index_in(wanted, value_set=every)
        if found.null_count:
            return None
        positions = found.to_numpy(zero_copy_only=False).astype(np.int64)
    if len(positions) > 1 and not bool(np.all(positions[1:] > positions[:-1])):
        return None
    return positions


_WIDEST = 32  # cells compared as fixed-width bytes (`_sorted_positions`) up to this size


def _sorted_positions(every: Any, wanted: Any) -> Any | None:
    """Where each of `wanted` is in `every` (both large_binary, `every` in strictly ascending
    order of its bytes, as a ledger's phones are: numbers of one length, or texts as sorted),
    by a binary search of fixed-width copies; -1 where one is not there. None where `every` is
    not so ordered or a cell is wider than `_WIDEST`."""
    import numpy as np

    def fixed(cells: Any) -> Any | None:
        offsets = np.frombuffer(cells.buffers()[1], np.int64)[cells.offset:cells.offset + len(cells) + 1]
        lengths = np.diff(offsets)
        width = int(lengths.max()) if len(lengths) else 1
        if width > _WIDEST:
            return None
        data = cells.buffers()[2]
        raw = np.frombuffer(data, np.uint8)[int(offsets[0]):int(offsets[-1])] if data is not None else \
            np.zeros(0, np.uint8)
        out = np.zeros((len(cells), max(width, 1)), np.uint8)
        out[np.arange(out.shape[1])[None, :] < lengths[:, None]] = raw  # row by row, as the bytes lie
        return out.view(f"S{out.shape[1]}").ravel(), lengths

    made, asked = fixed(every), fixed(wanted)
    if made is None or asked is None:
        return None
    (keys, lengths), (wanted_keys, wanted_lengths) = made, asked
    width = max(keys.dtype.itemsize, wanted_keys.dtype.itemsize)
    keys, wanted_keys = keys.astype(f"S{width}"), wanted_keys.astype(f"S{width}")
    # (a fixed-width copy drops trailing zero bytes: the lengths tell those apart)
    if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
        return None
    at = np.minimum(np.searchsorted(keys, wanted_keys), max(len(keys) - 1, 0))
    if not len(keys):
        return np.full(len(wanted_keys), -1, np.int64) if len(wanted_keys) else at.astype(np.int64)
    same = (keys[at] == wanted_keys) & (lengths[at] == wanted_lengths)
    return np.where(same, at, -1).astype(np.int64)


def _first_cells(pieces: Any) -> Any | None:
    """Each piece's bytes up to its first comma (large_binary), or None where one has no comma."""
    import numpy as np
    import pyarrow as pa

    offsets = np.frombuffer(pieces.buffers()[1], np.int64)[pieces.offset:pieces.offset + len(pieces) + 1]
    data = pieces.buffers()[2]
    raw = np.frombuffer(data, np.uint8) if data is not None else np.zeros(0, np.uint8)
    starts = offsets[:-1]
    commas = np.flatnonzero(raw == 44)  # ","
    at = np.searchsorted(commas, starts)
    if len(starts) and (at[-1] >= len(commas)):
        return None
    cut = commas[at] if len(starts) else starts
    if bool(np.any(cut >= offsets[1:])):
        return None
    lengths = cut - starts
    ends = np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths)])
    take = np.repeat(starts - ends[:-1], lengths) + np.arange(int(ends[-1]), dtype=np.int64)
    cells = raw[take]
    return pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(starts),
                                            [None, pa.py_buffer(ends), pa.py_buffer(cells)])


def _kept_runs(kept: Any, before: Any) -> tuple[Any, Any, Any]:
    """The kept lines as pieces of the old file (its header is piece 0), and the runs of them
    copied as one slice each (starts and stops, positions in `kept`): consecutive pieces with no
    new line going in between."""
    import numpy as np

    piece = np.asarray(kept, np.int64) + 1
    cut = np.ones(len(piece), bool)
    if len(piece):
        cut[1:] = piece[1:] != piece[:-1] + 1
        cut[before[before < len(piece)]] = True  # new lines go in before these
    starts = np.flatnonzero(cut)
    stops = np.append(starts[1:], len(piece)) if len(starts) else starts
    return piece, starts, stops


class _OldLines:
    """The week before's ledger.csv read in order a part at a time (`splice`): the part at hand
    holds its lines `first` to `last` (exclusive) and their ends."""

    def __init__(self, parts: Iterator[bytes], piece: Any) -> None:
        import numpy as np

        self.piece = piece
        self.parts = _lines_in_parts(parts)
        self.first = self.last = 0
        self.size = 0
        self.view: memoryview = memoryview(b"")
        self.ends: Any = np.zeros(1, np.int64)
        self.ended_by_newline = True

    def next(self) -> bool:
        """The next part at hand; False at the end of the file."""
        import numpy as np

        part = next(self.parts, None)
        if part is None:
            return False
        self.view = memoryview(part)
        raw = np.frombuffer(self.view, np.uint8)
        ends = np.flatnonzero(raw == _NEWLINE) + 1
        if len(raw) and raw[-1] != _NEWLINE:
            ends = np.append(ends, len(raw))
        self.ended_by_newline = not len(raw) or raw[-1] == _NEWLINE
        self.ends = np.concatenate([np.zeros(1, np.int64), ends.astype(np.int64)])
        self.first, self.last = self.last, self.last + len(ends)
        self.size += len(raw)
        return True

    def bytes(self, p: int, q: int) -> memoryview:
        """Lines p to q (exclusive) of the part at hand."""
        return self.view[int(self.ends[p - self.first]):int(self.ends[q - self.first])]


def _line_buffer(lines: Any) -> tuple[memoryview, Any]:
    """A large_string or large_binary array's data and its items' offsets into it (numpy, one
    more than items)."""
    import numpy as np

    offsets, data = lines.buffers()[1:3]
    bounds = np.frombuffer(offsets, np.int64)[lines.offset:lines.offset + len(lines) + 1]
    return (memoryview(data) if data is not None else memoryview(b"")), bounds


def _read_delta(blob: bytes | memoryview) -> tuple[int, Any, Any]:
    """(the file's size, its pieces' positions, its own pieces) of a delta."""
    import numpy as np
    import pyarrow as pa

    view = memoryview(blob)
    size, count, own, first, second = (_field(view, i) for i in range(5))
    at = _fields_at(view) + 40 + (_DELTA_TAIL if bytes(view[:len(_DELTA2_MARK)]) == _DELTA2_MARK else 0)
    codec = pa.Codec("zstd")
    steps = np.frombuffer(codec.decompress(view[at:at + first], decompressed_size=8 * count), np.int64)
    lengths = np.frombuffer(codec.decompress(view[at + first:at + first + second], decompressed_size=8 * own), np.int64)
    offsets = np.concatenate([np.zeros(1, np.int64), np.cumsum(lengths)])
    data = codec.decompress(view[at + first + second:], decompressed_size=int(offsets[-1]))
    pieces = pa.LargeBinaryArray.from_buffers(pa.large_binary(), own, [None, pa.py_buffer(offsets), data])
    return size, np.cumsum(steps + 1) - 1, pieces


def _chain_pieces(chain: list[bytes]) -> tuple[Any, Any, int]:
    """The lines of every file of a chain in one pool (the head's, then each delta's own), the
    last week's lines as positions in it (None: the head's, in order), and its size."""
    import pyarrow as pa

    head = unpack(chain[0])
    pool = [_pieces(head)]
    pooled = current = len(pool[0])
    where: Any = None  # the current week's pieces as positions in the pool (None: the head's, in order)
    size = len(head)
    for blob in chain[1:]:
        size, positions, own = _read_delta(blob)
        inside = positions < current
        mapped = positions - current + pooled
        mapped[inside] = positions[inside] if where is None else where[positions[inside]]
        pool.append(own)
        pooled += len(own)
        where, current = mapped, len(positions)
    return pa.chunked_array(pool, pa.large_binary()), where, size


TAKE = 1 << 17  # lines a chain's file is taken and written at a time (`unpack_to`)


def _resolve_to(chain: list[bytes], path: Path) -> None:
    """`resolve` written to `path` a slice of lines at a time, each run of lines that follow one
    another in one file of the chain written from where it lies: a week's file is mostly the
    later one's lines in their order. (Arrow's `take` of the pool would join its files into one
    buffer first: the size of the whole ledger again.)"""
    import numpy as np

    pool, where, size = _chain_pieces(chain)
    files = [_line_buffer(piece) for piece in pool.chunks]
    firsts = np.cumsum([0, *(len(piece) for piece in pool.chunks)])  # each file's first piece in the pool
    written = 0
    with open(path, "wb") as out:
        for start in range(0, len(where), TAKE):
            taken = where[start:start + TAKE]
            file = np.searchsorted(firsts, taken, "right") - 1
            line = taken - firsts[file]
            cuts = np.flatnonzero((np.diff(file) != 0) | (np.diff(line) != 1)) + 1
            heads, tails = np.concatenate([[0], cuts]), np.concatenate([cuts, [len(taken)]]) - 1
            run_file = file[heads]
            begin, end = np.empty(len(heads), np.int64), np.empty(len(heads), np.int64)
            for f in np.unique(run_file).tolist():
                mine = run_file == f
                begin[mine] = files[f][1][line[heads[mine]]]
                end[mine] = files[f][1][line[tails[mine]] + 1]
            for f, a, b in zip(run_file.tolist(), begin.tolist(), end.tolist(), strict=True):
                written += out.write(files[f][0][a:b])
    if written != size:
        raise ValueError(f"a stored ledger did not resolve to its size ({written} bytes, not {size})")


def resolve(chain: list[bytes]) -> bytes:
    """The ledger.csv of the last week of a chain: `chain[0]` a whole file (`pack`), each next
    blob a delta against the week before it in the chain (`make_delta`)."""
    import numpy as np
    import pyarrow as pa

    if len(chain) == 1:
        return unpack(chain[0])
    pool, where, size = _chain_pieces(chain)
    taken = pool.take(pa.array(where, pa.int64())).combine_chunks()
    offsets = np.frombuffer(taken.buffers()[1], np.int64)[taken.offset:taken.offset + len(taken) + 1]
    data = taken.buffers()[2]
    out = b"" if data is None or not len(taken) else memoryview(data)[int(offsets[0]):int(offsets[-1])].tobytes()
    if len(out) != size:
        raise ValueError(f"a stored ledger did not resolve to its size ({len(out)} bytes, not {size})")
    return out
