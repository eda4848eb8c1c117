"""Whether a closed week's folder is still as a run wrote it, so that its re-render can keep it.

A re-render (SPEC §3: `run --week W` with W closed) writes W's reports again from the stored
results. Written over a folder that holds exactly what it would write, it costs a big office
three to four seconds to put the same bytes back. So each run that writes a week's folder for
good (the run that closes it, a re-render) records the folder's `seal`: one SHA-256 over

- what the bytes are made from besides the stored week (`making`): this package's source and
  templates, the versions of the libraries whose output lands in the files (jinja2's escaping,
  the deflate of the workbooks), the office's configuration and the folder's own path; and
- every file and folder under it with its stamp as the run left it (`pagestore.file_stamp`, the
  stamp the backups' record keeps of the database file: device, inode, size, modification and
  change times in nanoseconds).

A later re-render computes the seal again; when it is the recorded one the folder is kept as it
is. Any change since breaks it: a file written, replaced, added, removed, renamed or restored
from a copy (the change time cannot be set back without the clock), an upgrade of the product or
of those libraries, an edited template or configuration. A broken seal is a full re-render, as
before. The stored week itself needs no part of the seal: a closed week's stored results never
change, and the record lives in the same state as they do (a restored state brings its own).

The seal is a cache's key, never the truth: forgetting it costs only the time of a full render.
"""

from __future__ import annotations

import hashlib
import os
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

from . import pagestore

# The distributions whose version can change the bytes written: the product, its page templates'
# engine and escaping, the workbooks' deflate, the columns the ledger's files are made from.
LIBRARIES = ("kam-pipeline", "jinja2", "markupsafe", "isal", "pyarrow", "numpy")

PACKAGE = Path(__file__).resolve().parent
TEMPLATES = PACKAGE.parent / "templates"


def meta_key(week: str) -> str:
    """The state's meta entry holding `week`'s seal."""
    return f"rendered {week}"


@cache
def _code() -> bytes:
    """This package's source and the page templates, as the running process found them."""
    h = hashlib.sha256()
    for folder in (PACKAGE, TEMPLATES):
        if not folder.is_dir():
            continue
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix != ".pyc"):
            h.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    for name in LIBRARIES:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "-"
        h.update(f"{name}={version}\0".encode())
    h.update(sys.version.encode())
    return h.digest()


def making(config_digest: str, folder: Path) -> bytes:
    """What a week's files are made from besides its stored results."""
    return hashlib.sha256(_code() + config_digest.encode() + b"\0" + os.fsencode(os.path.abspath(folder))).digest()


def seal(folder: Path, config_digest: str) -> str | None:
    """The folder's seal as it is now: every file and folder under it by name with its stamp
    (`pagestore.file_stamp`). None where there is no such folder, or it changes while read."""
    if not folder.is_dir():
        return None
    h = hashlib.sha256(making(config_digest, folder))
    try:
        for name, stamp in sorted(_stamps(folder)):
            h.update(name + b"\0" + repr(stamp).encode() + b"\n")
    except OSError:  # a file removed or replaced meanwhile: no seal, the week is written again
        return None
    return h.hexdigest()


def _stamps(folder: Path) -> list[tuple[bytes, tuple[int, ...]]]:
    return [(os.fsencode(os.path.relpath(os.path.join(root, name), folder)),
             pagestore.file_stamp(Path(root, name)))
            for root, dirs, files in os.walk(folder) for name in (*files, *dirs)]
