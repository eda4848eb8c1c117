"""Backups of the embedded database as lists of pages in a store of unique pages.

A whole compressed copy per backup multiplies the state by the backups kept: after a year of a
quarter-size office, six copies of about 240 MB each beside a 730 MB database. Yet from one
backup to the next most of the database does not change: the history's pages, once full, are
never written again. So a backup is a *manifest* (`<taken>_<run>.pages`): the database's page
size, its pages' SHA-256 in order and a checksum of the whole list; and each page's bytes are kept
once, compressed, in a *pack* under `backups/pages/` whichever backups hold it. A new backup
writes one pack with the pages no pack holds yet, so the store grows with what changed.

The pages hashed are the database file's own, read while it holds the last commit whole
(`state.make_backup`; else a copy made by SQLite's backup API), each at its number: a page that
did not change between two backups has the same bytes, where `VACUUM INTO` lays every page out
again. Free pages are kept as zeros (SQLite never reads what a free page holds), and the caches'
b-trees are emptied (`emptied`, as SQLite's `DELETE` would), their pages free.

Crash safety: a pack is written under a temporary name, synced and renamed, before the manifest
that needs it; the manifest is written the same way, last. A crash leaves at most a pack no
manifest names, which `collect` deletes. `collect` runs after backups are deleted: it deletes
the packs no manifest needs and rewrites those mostly unneeded (their pages still needed first
written into a new pack, then the old one deleted), so at every moment each manifest's pages are
in the store. When a manifest cannot be read, it deletes nothing.

A restore (`restore`) writes the pages back in order, each checked against its hash, after the
manifest's own checksum: a flipped byte anywhere is found before the database is replaced.
"""

from __future__ import annotations

import hashlib
import json
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

PAGES = "pages"                 # the store's folder, beside the manifests
SUFFIX = ".pages"               # a manifest
PACK_SUFFIX = ".pack"
_MANIFEST_MAGIC = b"KAM-PAGES-1\n"
_PACK_MAGIC = b"KAMPACK1"
_PACK_END = b"KAMPEND1"
_ENTRY = struct.Struct("<32sQIB")            # page hash, offset in the pack, stored length, codec
_TRAILER = struct.Struct("<QI32s8s")         # index offset, entries, SHA-256 of the index, end marker
_RAW, _ZSTD = 0, 1
_LEVEL = 1                      # zstd level for new pages: level 3 took 40 % more time for 0.5 % less size
# A pack of which more than this share of bytes is no longer needed is rewritten by `collect`.
_REWRITE_DEAD = 0.25


class DamagedBackup(Exception):
    """A manifest or a page it needs is missing or does not match its hash."""


@dataclass(frozen=True)
class Manifest:
    page_size: int
    hashes: list[bytes]
    added: int          # compressed bytes of the pages this backup added to the store

    @property
    def size(self) -> int:
        return self.page_size * len(self.hashes)


@dataclass(frozen=True)
class Entry:
    pack: Path
    offset: int
    length: int
    codec: int


def _codec() -> Any:
    import pyarrow as pa

    return pa.Codec("zstd", compression_level=_LEVEL)


# ---- writing a backup


def free_pages(copy: Path) -> set[int]:
    """The free pages of the database file `copy` that hold nothing (the free list's leaves, from
    the header and the trunk pages, SQLite's file format §1.4); none when the list does not
    add up, so that a page in use is never taken for a free one."""
    size = copy.stat().st_size
    with open(copy, "rb") as fh:
        head = fh.read(100)
        if len(head) < 100:
            return set()
        page_size = _page_size(head)
        fh.seek(0)
        head = fh.read(page_size)

        def read(number: int) -> bytes:
            fh.seek((number - 1) * page_size)
            return fh.read(page_size)

        found = _free_list(read, head, size // page_size)
    return set() if found is None else found[1]


def _page_size(head: bytes) -> int:
    (size,) = struct.unpack(">H", head[16:18])
    return 65536 if size == 1 else size


def store(copy: Path, folder: Path, target: Path, halfway: Callable[[], None] | None = None,
          hashers: int = 1) -> Path:
    """The database file `copy` as the backup `target` (a manifest in `folder`), its pages not
    yet in `folder/pages` added there as one new pack. `halfway` is called before the manifest's
    rename (a crash there leaves no backup, at most an unneeded pack)."""
    with open(copy, "rb") as fh:
        page_size = _page_size(fh.read(100))
    free = free_pages(copy)
    zero = bytes(page_size)

    def pages() -> Iterator[bytes]:
        with open(copy, "rb") as fh:
            for number, page in enumerate(iter(lambda: fh.read(page_size), b""), start=1):
                yield zero if number in free else page

    return store_pages(pages(), page_size, zero, folder, target, halfway, hashers=hashers)


@dataclass(frozen=True)
class Same:
    """A page that has not changed since a backup that holds it: its hash there, and its number
    (to read it should the store no longer hold those bytes)."""
    digest: bytes
    number: int


def store_pages(pages: Iterable[bytes | Same], page_size: int, zero: bytes, folder: Path, target: Path,
                halfway: Callable[[], None] | None = None, read: Callable[[int], bytes] | None = None,
                hashers: int = 1) -> Path:
    """`store` of a database given as its pages in order (each `page_size` bytes; the object
    `zero`, all zeros, for each free page: hashed once). A page given as `Same` is not read nor
    hashed again when the store holds its hash; otherwise `read(number)` gives its bytes.
    `hashers`: threads hashing and compressing the pages (`_hashed`); one, this thread, for a
    backup made beside a run's other work, two where the run waits for it."""
    pages_folder = folder / PAGES
    pages_folder.mkdir(exist_ok=True)
    known = {h for h, _ in _store_entries(pages_folder)}
    zero_hash = hashlib.sha256(zero).digest()
    hashes: list[bytes] = []
    pack = _PackWriter(pages_folder)

    def given() -> Iterator[bytes | Same]:
        for page in pages:
            if isinstance(page, Same):
                if page.digest in known:
                    yield page
                    continue
                if read is None:
                    raise ValueError("a page given as unchanged needs `read` when the store lacks it")
                page = read(page.number)
            yield page

    try:
        for digest, packed in _hashed(given(), zero, zero_hash, known, hashers):
            hashes.append(digest)
            if digest not in known:
                known.add(digest)
                assert packed is not None  # compressed unless the store held it when hashed
                pack.add_stored(digest, *packed)
        added = pack.close()
    except BaseException:
        pack.abandon()
        raise
    header = json.dumps({"page_size": page_size, "pages": len(hashes), "added": added}).encode() + b"\n"
    body = b"".join((_MANIFEST_MAGIC, header, *hashes))
    half = target.with_name(target.name + ".part")
    with open(half, "wb") as out:
        out.write(body + hashlib.sha256(body).digest())
        out.flush()
        os.fsync(out.fileno())
    if halfway is not None:
        halfway()
    os.replace(half, target)
    sync_folder(folder)
    return target


_HASHED_STEP = 64        # pages a thread takes at a time (`_hashed`)


def _hashed(pages: Iterator[bytes | Same], zero: bytes, zero_hash: bytes, known: set[bytes], hashers: int
            ) -> Iterator[tuple[bytes, tuple[bytes, int] | None]]:
    """(its hash, its stored bytes and codec) for each of `pages` in order; a `Same`
    page's hash is its own, and a page the store held when it was hashed is not compressed
    (None). With `hashers` above one, hashed and compressed `_HASHED_STEP` pages at a time by
    that many threads (SHA-256 and zstd run without the interpreter lock): a first run's backup
    of a big office's week, which the run waits for, reads every page (0.3 s on one core). At
    most `2 * hashers` steps are held at once."""
    from concurrent.futures import ThreadPoolExecutor

    def one(page: bytes | Same, codec: Any) -> tuple[bytes, tuple[bytes, int] | None]:
        if isinstance(page, Same):
            return page.digest, None
        digest = zero_hash if page is zero else hashlib.sha256(page).digest()
        return digest, None if digest in known else _packed(page, codec)

    if hashers <= 1:
        codec = _codec()
        for page in pages:
            yield one(page, codec)
        return

    def work(step: list[bytes | Same]) -> list[tuple[bytes, tuple[bytes, int] | None]]:
        codec = _codec()
        return [one(page, codec) for page in step]

    with ThreadPoolExecutor(hashers, thread_name_prefix="backup-pages") as pool:
        pending: list[Any] = []
        step: list[bytes | Same] = []
        for page in pages:
            step.append(page)
            if len(step) == _HASHED_STEP:
                pending.append(pool.submit(work, step))
                step = []
                if len(pending) > 2 * hashers:
                    yield from pending.pop(0).result()
        if step:
            pending.append(pool.submit(work, step))
        for future in pending:
            yield from future.result()


def _packed(page: bytes, codec: Any) -> tuple[bytes, int]:
    """A page as a pack stores it: compressed, or as it is when that is not smaller."""
    packed = codec.compress(page, asbytes=True)
    return (page, _RAW) if len(packed) >= len(page) else (packed, _ZSTD)


def emptied(read: Callable[[int], bytes], page_count: int, roots: Iterable[int], dropped: set[int]
            ) -> dict[int, bytes] | None:
    """The pages of a database file that change when the b-trees rooted at `roots` are emptied,
    as SQLite's `DELETE` of every row does under `secure_delete` (file format §1.4-1.6): each
    root becomes an empty leaf of its kind, all zeros after its flag; their other pages
    (`dropped`) join the free pages; the free list is laid out again over them (trunks in page
    order, each listing up to the number of leaves SQLite itself writes), its leaves all zeros,
    and page 1's header counts it. `read(n)` gives page `n`. With nothing dropped the free list
    stays as it is, its leaves zeroed. None when the database's free list does not add up, a page would be
    freed twice or is out of range, or the file keeps reserved bytes or pointer-map pages (then
    the caller lets SQLite do it). Page 1 and the free list's pages are always among those
    returned, even where they stay as they are."""
    head = read(1)
    page_size = len(head)
    if head[20] != 0 or struct.unpack(">I", head[52:56])[0] != 0:  # reserved bytes; auto-vacuum's pointer maps
        return None
    found = _free_list(read, head, page_count)
    if found is None:
        return None
    trunks, leaves = found
    zero = bytes(page_size)
    roots = list(roots)
    free = trunks | leaves
    if (dropped & free or not all(1 < p <= page_count for p in (*dropped, *roots))
            or set(roots) & (dropped | free) or len(set(roots)) != len(roots)):
        return None
    changed: dict[int, bytes] = {}
    for root in roots:
        flag = read(root)[0]
        if flag not in (0x02, 0x05, 0x0A, 0x0D):
            return None
        # a leaf of the same kind (table / index), no cells: its content area starts at the page's end
        leaf = struct.pack(">BHHHB", flag | 0x08, 0, 0, page_size & 0xFFFF, 0)
        changed[root] = leaf + zero[len(leaf):]
    if not dropped:
        changed.update(dict.fromkeys(leaves, zero))
        # As they are, but listed: a backup that reuses the hashes of pages not written since the
        # one before (`Same`) takes every page listed here afresh, and in the backup before these
        # were laid out again if its emptying dropped pages.
        changed.update({trunk: read(trunk) for trunk in trunks})
        changed.setdefault(1, head)
        return changed
    order = sorted(free | dropped)
    per = page_size // 4 - 8  # leaves a trunk lists: SQLite writes no more (older readers)
    groups = [order[i:i + per + 1] for i in range(0, len(order), per + 1)]
    for i, group in enumerate(groups):
        nxt = groups[i + 1][0] if i + 1 < len(groups) else 0
        body = struct.pack(f">II{len(group) - 1}I", nxt, len(group) - 1, *group[1:])
        changed[group[0]] = body + zero[len(body):]
        changed.update(dict.fromkeys(group[1:], zero))
    first = groups[0][0] if groups else 0
    changed[1] = head[:32] + struct.pack(">II", first, len(order)) + head[40:]
    return changed


def _free_list(read: Callable[[int], bytes], head: bytes, page_count: int) -> tuple[set[int], set[int]] | None:
    """The free list's trunk pages and leaves (page 1's header and the trunks); None when it
    does not add up."""
    page_size = len(head)
    trunk, count = struct.unpack(">II", head[32:40])
    trunks: set[int] = set()
    leaves: set[int] = set()
    while trunk:
        if not 1 < trunk <= page_count or trunk in trunks or len(trunks) > count:
            return None
        trunks.add(trunk)
        page = read(trunk)
        trunk, n = struct.unpack(">II", page[:8])
        if n > page_size // 4 - 2:
            return None
        found = struct.unpack(f">{n}I", page[8:8 + 4 * n])
        if any(not 1 < p <= page_count for p in found):
            return None
        leaves.update(found)
    if len(trunks) + len(leaves) != count or trunks & leaves:
        return None
    return trunks, leaves


class _PackWriter:
    """New pages into `pages/<random>.pack.part`, renamed to `.pack` once whole and synced."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = folder / f"{os.urandom(8).hex()}{PACK_SUFFIX}"
        self.part = self.name.with_name(self.name.name + ".part")
        self.out: BinaryIO | None = None
        self.index: list[bytes] = []
        self.offset = len(_PACK_MAGIC)

    def add_stored(self, digest: bytes, data: bytes, kind: int) -> None:
        if self.out is None:
            self.out = open(self.part, "wb")  # noqa: SIM115 - closed by close/abandon
            self.out.write(_PACK_MAGIC)
        self.out.write(data)
        self.index.append(_ENTRY.pack(digest, self.offset, len(data), kind))
        self.offset += len(data)

    def close(self) -> int:
        """Ends the pack (nothing is written when no page was added); its size in bytes."""
        if self.out is None:
            return 0
        index = b"".join(self.index)
        self.out.write(index)
        self.out.write(_TRAILER.pack(self.offset, len(self.index), hashlib.sha256(index).digest(), _PACK_END))
        self.out.flush()
        os.fsync(self.out.fileno())
        self.out.close()
        os.replace(self.part, self.name)
        sync_folder(self.folder)
        return self.offset + len(index) + _TRAILER.size

    def abandon(self) -> None:
        if self.out is not None:
            self.out.close()
        self.part.unlink(missing_ok=True)


# ---- reading the store


def _pack_index(path: Path) -> list[tuple[bytes, Entry]]:
    """A pack's pages (hash, where); empty when its end is damaged (its pages count as absent)."""
    try:
        with open(path, "rb") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size < len(_PACK_MAGIC) + _TRAILER.size:
                return []
            fh.seek(size - _TRAILER.size)
            offset, count, digest, end = _TRAILER.unpack(fh.read(_TRAILER.size))
            if end != _PACK_END or offset + count * _ENTRY.size + _TRAILER.size != size:
                return []
            fh.seek(offset)
            index = fh.read(count * _ENTRY.size)
    except OSError:
        return []
    if hashlib.sha256(index).digest() != digest:
        return []
    found = []
    for h, at, length, codec in _ENTRY.iter_unpack(index):
        found.append((h, Entry(path, at, length, codec)))
    return found


def _packs(pages_folder: Path) -> list[Path]:
    if not pages_folder.is_dir():
        return []
    return sorted(p for p in pages_folder.iterdir() if p.name.endswith(PACK_SUFFIX))


def _store_entries(pages_folder: Path) -> Iterator[tuple[bytes, Entry]]:
    for pack in _packs(pages_folder):
        yield from _pack_index(pack)


def read_manifest(path: Path) -> Manifest:
    """A manifest, its checksum checked (DamagedBackup when it does not match)."""
    data = path.read_bytes()
    body, digest = data[:-32], data[-32:]
    if not body.startswith(_MANIFEST_MAGIC) or hashlib.sha256(body).digest() != digest:
        raise DamagedBackup("its list of pages does not match its checksum")
    try:
        end = body.index(b"\n", len(_MANIFEST_MAGIC))
        header = json.loads(body[len(_MANIFEST_MAGIC):end])
        count, page_size, added = int(header["pages"]), int(header["page_size"]), int(header.get("added", 0))
    except (ValueError, KeyError, TypeError, AttributeError):
        raise DamagedBackup("its header cannot be read") from None
    hashes = body[end + 1:]
    if len(hashes) != 32 * count:
        raise DamagedBackup("its list of pages is incomplete")
    return Manifest(page_size, [hashes[i:i + 32] for i in range(0, len(hashes), 32)], added)


def is_manifest(path: Path) -> bool:
    with open(path, "rb") as fh:
        return fh.read(len(_MANIFEST_MAGIC)) == _MANIFEST_MAGIC


def restore(manifest: Path, target: Path, state_store: Path) -> None:
    """The database the manifest lists, page by page into `target` from the store beside it
    (`pages/` in its folder) or else the state's (`state_store`, for a manifest named by a path
    elsewhere); every page checked against its hash (DamagedBackup at the first that fails)."""
    import pyarrow as pa

    m = read_manifest(manifest)
    where: dict[bytes, Entry] = {}
    needed = set(m.hashes)
    stores = list(dict.fromkeys((manifest.resolve().parent / PAGES, state_store.resolve() / PAGES)))
    for folder in stores:
        for h, entry in _store_entries(folder):
            if h in needed:
                where.setdefault(h, entry)
    missing = needed - where.keys()
    if missing:
        raise DamagedBackup(f"{len(missing)} of its pages are missing from {stores[0]}")
    handles: dict[Path, BinaryIO] = {}
    try:
        with open(target, "wb") as out:
            for number, h in enumerate(m.hashes, start=1):
                e = where[h]
                fh = handles.get(e.pack)
                if fh is None:
                    fh = handles[e.pack] = open(e.pack, "rb")  # noqa: SIM115 - closed below
                fh.seek(e.offset)
                data = fh.read(e.length)
                if e.codec == _ZSTD:
                    try:
                        data = pa.decompress(data, decompressed_size=m.page_size, codec="zstd", asbytes=True)
                    except (OSError, pa.ArrowException):
                        raise DamagedBackup(f"page {number} cannot be decompressed ({e.pack.name})") from None
                if hashlib.sha256(data).digest() != h:
                    raise DamagedBackup(f"page {number} does not match its hash ({e.pack.name})")
                out.write(data)
    finally:
        for fh in handles.values():
            fh.close()


# ---- after backups are deleted


def collect(folder: Path, halfway: Callable[[], None] | None = None) -> list[Path]:
    """The store's packs no manifest needs deleted, and those mostly unneeded rewritten with
    only their needed pages (into one new pack, before they are deleted; `halfway` is called
    between the two). Returns the packs deleted. Deletes nothing when a manifest cannot be read
    (its pages might be any)."""
    pages_folder = folder / PAGES
    packs = _packs(pages_folder)
    if not packs:
        return []
    needed: set[bytes] = set()
    for path in folder.iterdir():
        if path.name.endswith(SUFFIX):
            try:
                needed.update(read_manifest(path).hashes)
            except (OSError, DamagedBackup):
                return []
    owner: dict[bytes, Entry] = {}  # each needed page from the first pack that holds it
    sizes: dict[Path, int] = {}
    for pack in packs:
        index = _pack_index(pack)
        if not index:
            continue  # unreadable: left as it is (a restore names it damaged)
        sizes[pack] = sum(e.length for _, e in index)
        for h, e in index:
            if h in needed and h not in owner:
                owner[h] = e
    live: dict[Path, list[tuple[bytes, Entry]]] = {pack: [] for pack in sizes}
    for h, e in owner.items():
        live[e.pack].append((h, e))
    gone = [pack for pack, kept in live.items() if not kept]
    for pack in gone:
        pack.unlink()
    rewrite = [pack for pack, kept in live.items()
               if kept and sum(e.length for _, e in kept) < (1 - _REWRITE_DEAD) * sizes[pack]]
    if rewrite:
        writer = _PackWriter(pages_folder)
        try:
            for pack in rewrite:
                with open(pack, "rb") as fh:
                    for h, e in sorted(live[pack], key=lambda item: item[1].offset):
                        fh.seek(e.offset)
                        writer.add_stored(h, fh.read(e.length), e.codec)
            writer.close()
        except BaseException:
            writer.abandon()
            raise
        if halfway is not None:
            halfway()
        for pack in rewrite:
            pack.unlink()
        gone += rewrite
    if gone:
        sync_folder(pages_folder)
    return gone


def clear_halves(folder: Path) -> None:
    """What a crashed backup left half written (one run at a time: the caller holds the lock)."""
    for sub in (folder, folder / PAGES):
        if sub.is_dir():
            for stale in sub.glob("*.part"):
                stale.unlink()


def stored(folder: Path) -> list[tuple[Path, bytes, int]]:
    """Every page the store in `folder/pages` holds, as (its pack, its hash, its stored bytes),
    pack by pack."""
    return [(e.pack, h, e.length) for h, e in _store_entries(folder / PAGES)]


def sync_folder(folder: Path) -> None:
    """A rename made durable: the folder's entry written to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- what was written since the last backup


WRITTEN = "written.json"        # beside the manifests: the pages written since the last backup
_WAL_HEADER = struct.Struct(">IIIIII")  # magic, format, page size, checkpoint sequence, salt-1, salt-2
_WAL_FRAME = struct.Struct(">II8s")     # page number, size after a commit, the salts
_WAL_MAGIC = (0x377F0682, 0x377F0683)


@dataclass(frozen=True)
class Written:
    """The pages of the database file written since the backup `base` was taken from it, and the
    file's stamp (`file_stamp`) when they were last counted. A page not among them still has the
    bytes `base` lists for it, as long as the file still has that stamp: the pages reach the file
    only by checkpoints, and the state counts the log's pages before each of its own
    (`State.close`, `state.make_backup`). Any other write (another program, a restore) changes
    the stamp, and the next backup reads and hashes every page again. `checked`: when (the
    run's clock, ISO) a backup last made the whole integrity check, "" for never."""
    base: str
    stamp: tuple[int, ...]
    pages: frozenset[int]
    checked: str = ""


def file_stamp(path: Path) -> tuple[int, ...]:
    """What changes whenever a file is written or replaced: device, inode, size, times."""
    found = os.stat(path)
    return found.st_dev, found.st_ino, found.st_size, found.st_mtime_ns, found.st_ctime_ns


def log_pages(db: Path) -> set[int]:
    """The page numbers the write-ahead log of the database file `db` (`<db>-wal`) holds frames
    of (SQLite's file format §4): every frame of its current generation (salts as in its header),
    committed or not, so never fewer than a checkpoint may write back. Empty for a missing or
    empty log."""
    try:
        fh = open(db.with_name(db.name + "-wal"), "rb")  # noqa: SIM115 - closed below
    except FileNotFoundError:
        return set()
    with fh:
        head = fh.read(32)
        if len(head) < 32:
            return set()
        magic, _, page_size, _, salt1, salt2 = _WAL_HEADER.unpack(head[:24])
        if magic not in _WAL_MAGIC:
            return set()
        salts = struct.pack(">II", salt1, salt2)
        size = os.fstat(fh.fileno()).st_size
        frame = 24 + page_size
        found: set[int] = set()
        for at in range(32, size - frame + 1, frame):
            fh.seek(at)
            number, _, frame_salts = _WAL_FRAME.unpack(fh.read(_WAL_FRAME.size))
            if frame_salts != salts:
                break  # the rest is left from an earlier generation
            found.add(number)
        return found


def read_written(folder: Path) -> Written | None:
    """The record `write_written` left in the backups' folder; None when there is none or it
    cannot be read (then every page is read again)."""
    try:
        data = json.loads((folder / WRITTEN).read_bytes())
        return Written(str(data["base"]), tuple(int(v) for v in data["stamp"]),
                       frozenset(int(p) for p in data["pages"]), str(data.get("checked", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_written(folder: Path, written: Written) -> None:
    """The record, whole or not at all (a temporary file renamed; a crash leaves a `.part`
    that `clear_halves` deletes)."""
    body = json.dumps({"base": written.base, "stamp": list(written.stamp), "checked": written.checked,
                       "pages": sorted(written.pages)}).encode()
    half = folder / (WRITTEN + ".part")
    with open(half, "wb") as out:
        out.write(body)
        out.flush()
        os.fsync(out.fileno())
    os.replace(half, folder / WRITTEN)


def forget_written(folder: Path) -> None:
    """No record: the next backup reads and hashes every page."""
    (folder / WRITTEN).unlink(missing_ok=True)
