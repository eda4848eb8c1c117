"""A throw-away PostgreSQL cluster for the tests and the benchmark: initdb and pg_ctl on a free
port of 127.0.0.1 in a temporary folder, as an unprivileged user when run as root (initdb refuses
root), stopped and removed by `stop`."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def pg_bin() -> Path | None:
    """The folder of initdb and pg_ctl: on the PATH, or where Debian puts them."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if Path(folder, "initdb").exists() and Path(folder, "pg_ctl").exists():
            return Path(folder)
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_user() -> pwd.struct_passwd | None:
    """Whom to run the server as: nobody in particular unless we are root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    return None


class PgServer:
    """A throw-away PostgreSQL cluster: `url` of its database `pipeline` (user `pipeline`, trust)."""

    def __init__(self, bin_dir: Path, durable: bool = False) -> None:
        self.bin = bin_dir
        self.root = Path(tempfile.mkdtemp(prefix="pipeline-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.user = _as_user()
        if self.user is not None:
            os.chown(self.root, self.user.pw_uid, self.user.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "pipeline", "-A", "trust", "-E", "UTF8", "--locale=C",
                  "--no-sync")
        # The tests' server need not survive a power cut: no waiting for the disk (the benchmark's does).
        fast = "" if durable else " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options = f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c max_connections=100{fast}"
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.root / "server.log"), "-o", options)
        self.url = f"postgresql://pipeline@127.0.0.1:{self.port}/pipeline"
        import psycopg

        with psycopg.connect(f"postgresql://pipeline@127.0.0.1:{self.port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE pipeline")

    def _run(self, tool: str, *args: str) -> None:
        user = self.user

        def drop() -> None:
            if user is not None:
                os.setgid(user.pw_gid)
                os.setuid(user.pw_uid)

        result = subprocess.run([str(self.bin / tool), *args], capture_output=True, text=True, preexec_fn=drop,
                                cwd=self.root, timeout=120)
        if result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stdout}\n{result.stderr}")

    def database(self, name: str) -> str:
        """A new empty database of the server, its url."""
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://pipeline@127.0.0.1:{self.port}/{name}"

    def cpu_seconds(self) -> float:
        """The server's CPU time so far: the postmaster's own and its ended backends' (Linux)."""
        pid = (self.data / "postmaster.pid").read_text().split()[0]
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "stop", "-D", str(self.data), "-m", "immediate", "-w")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
