"""A re-render keeps a closed week's folder that is still as a run wrote it (`pipeline.rendered`),
and writes it anew whenever anything it is made from, or anything in it, changed since."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pipeline import rendered
from tests.test_run import Office, d, leads, office  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("store")

NOW, LATER = "2026-11-30T08:00:00", "2026-12-20T08:00:00"
KEPT = "for the same program and settings: kept"


def _files(folder: Path) -> dict[str, tuple[bytes, int]]:
    """Each file's bytes and inode: a kept file is the very file the run wrote."""
    return {str(p.relative_to(folder)): (p.read_bytes(), p.stat().st_ino) for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _closed(at: Office) -> Path:
    leads(at.inbox / "号码.xlsx", [["张伟", 13800138000, d("2026-11-24 09:00"), ""],
                                  ["王强", 13900139000, d("2026-11-25 10:00"), ""]])
    assert at.run(now=NOW).exit_code == 0
    return at.out / "2026-W48"


def _log(at: Office) -> dict[str, object]:
    newest = max((at.state / "logs").glob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    return json.loads(newest.read_text(encoding="utf-8"))


def test_a_folder_still_as_written_is_kept_by_its_re_render(office: Office) -> None:  # noqa: F811
    folder = _closed(office)
    first = _files(folder)
    again = office.run("--week", "2026-W48", now=LATER)
    assert again.exit_code == 0 and "re-rendered closed week 2026-W48" in again.output and KEPT in again.output
    assert _files(folder) == first, "the same files, not written again"
    assert _log(office)["kept"] is True
    assert not [p for p in office.out.iterdir() if p.name.startswith(".")]


@pytest.mark.parametrize("change", ["edited", "removed", "added", "touched", "replaced"])
def test_any_change_to_the_folder_is_written_anew_from_the_stored_week(office: Office, change: str) -> None:  # noqa: F811
    """Whatever happened to the folder since (a file edited with its size kept, removed, added,
    its times set back, replaced by a copy of itself), the re-render writes every file from the
    stored week: the first bytes back, nothing else; and its folder is then kept by the next."""
    folder = _closed(office)
    first = {name: data for name, (data, _) in _files(folder).items()}
    target = folder / "results.json"
    if change == "edited":
        stat = target.stat()
        data = target.read_bytes()
        target.write_bytes(data.replace(b'"2026-W48"', b'"2026-W47"', 1))
        os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the modification time set back
        assert target.stat().st_size == stat.st_size
    elif change == "removed":
        (folder / "summary.html").unlink()
    elif change == "added":
        (folder / "notes.txt").write_text("mine", encoding="utf-8")
    elif change == "touched":
        os.utime(target)
    else:
        copy = folder / "copy"
        copy.write_bytes(target.read_bytes())
        copy.replace(target)
    again = office.run("--week", "2026-W48", now=LATER)
    assert again.exit_code == 0 and "re-rendered" in again.output and KEPT not in again.output
    assert {name: data for name, (data, _) in _files(folder).items()} == first
    assert _log(office)["kept"] is False
    third = office.run("--week", "2026-W48", now=LATER)
    assert third.exit_code == 0 and KEPT in third.output


def test_other_settings_or_an_other_folder_write_the_week_anew(office: Office, tmp_path: Path) -> None:  # noqa: F811
    """The settings are part of what the files are made from (the emails' sender, the leaders'
    addresses): changed, the folder is written anew; the same week into another output folder
    is written there in full."""
    folder = _closed(office)
    first = {name: data for name, (data, _) in _files(folder).items()}
    config = office.store.write_config(tmp_path / "pipeline.toml", '[mail]\nfrom = "report@example.com"\n')
    again = office.run("--week", "2026-W48", "--config", str(config), now=LATER)
    assert again.exit_code == 0 and KEPT not in again.output
    changed = {name: data for name, (data, _) in _files(folder).items()}
    assert changed.keys() == first.keys()
    assert [n for n in first if first[n] != changed[n] and not n.startswith("outbox/")] == []
    assert any(b"report@example.com" in changed[n] for n in changed if n.startswith("outbox/"))
    elsewhere = office.run("--week", "2026-W48", "--out", str(tmp_path / "other"), now=LATER)
    assert elsewhere.exit_code == 0 and KEPT not in elsewhere.output
    assert {n: b for n, (b, _) in _files(tmp_path / "other" / "2026-W48").items()} == first


def test_a_dry_run_re_render_records_nothing(office: Office) -> None:  # noqa: F811
    """A dry run stores nothing, not even the seal of the folder it wrote."""
    folder = _closed(office)
    (folder / "summary.html").unlink()
    db = office.store.contents(office.state)
    dry = office.run("--week", "2026-W48", "--dry-run", now=LATER)
    assert dry.exit_code == 0 and (folder / "summary.html").exists()
    assert office.store.contents(office.state) == db


def test_the_seal_covers_every_file_and_what_they_are_made_from(tmp_path: Path) -> None:
    folder = tmp_path / "2026-W48"
    (folder / "managers").mkdir(parents=True)
    (folder / "results.json").write_text("{}", encoding="utf-8")
    (folder / "managers" / "张伟.html").write_text("<p>", encoding="utf-8")
    seal = rendered.seal(folder, "config-1")
    assert seal is not None and rendered.seal(folder, "config-1") == seal
    assert rendered.seal(folder, "config-2") != seal
    assert rendered.seal(tmp_path / "missing", "config-1") is None
    (folder / "managers" / "张伟.html").write_text("<b>", encoding="utf-8")
    assert rendered.seal(folder, "config-1") != seal
    moved = tmp_path / "moved"
    folder.rename(moved)
    assert rendered.seal(moved, "config-1") != rendered.seal(folder, "config-1")
