"""Database URLs and engines; an embedded PostgreSQL when the user has none."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Any, cast

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

log = logging.getLogger(__name__)


class DatabaseUnavailableError(RuntimeError):
    pass


def _parse(url: str) -> URL:
    try:
        return make_url(url)
    except Exception:
        raise DatabaseUnavailableError("DATABASE_URL is not a valid URL (expected postgresql://user@host:port/db)") from None


def with_driver(url: str, driver: str) -> str:
    """`postgresql://…` as users write it, with an explicit driver (psycopg for us, psycopg2 for dagster-postgres)."""
    parsed = _parse(url)
    if parsed.get_backend_name() != "postgresql":
        raise DatabaseUnavailableError(f"DATABASE_URL must be a PostgreSQL URL, got a {parsed.get_backend_name()!r} URL")
    return parsed.set(drivername=f"postgresql+{driver}").render_as_string(hide_password=False)


def advisory_lock_key(*parts: str) -> int:
    """A stable signed 64-bit PostgreSQL advisory-lock key for `parts` joined by "|" (Python's hash() is
    salted per process, so it cannot name a lock shared between processes)."""
    digest = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def conninfo(url: str) -> str:
    """The URL as libpq takes it, for a psycopg connection outside the engine's pool."""
    return with_driver(url, "psycopg").replace("postgresql+psycopg://", "postgresql://", 1)


def redacted(url: str) -> str:
    return _parse(url).render_as_string(hide_password=True)


_engines: dict[str, sa.Engine] = {}


def engine_for(url: str) -> sa.Engine:
    """One pooled engine per URL and process."""
    full = with_driver(url, "psycopg")
    if full not in _engines:
        _engines[full] = sa.create_engine(full, pool_pre_ping=True, pool_size=10, max_overflow=10)
    return _engines[full]


def raw_cursor(conn: sa.Connection) -> psycopg.Cursor[Any]:
    """The psycopg cursor under a SQLAlchemy connection, in its transaction: for COPY and row-at-a-time reads."""
    driver = conn.connection.driver_connection
    assert driver is not None  # a checked-out connection always has its DBAPI connection
    return cast("psycopg.Cursor[Any]", driver.cursor())


def check_connection(url: str) -> None:
    """Raise DatabaseUnavailableError with a readable message when the database cannot be reached."""
    try:
        with engine_for(url).connect() as conn:
            conn.execute(sa.text("select 1"))
    except sa.exc.OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise DatabaseUnavailableError(f"cannot connect to PostgreSQL at {redacted(url)}: {reason}") from None


def start_embedded(data_dir: Path, cleanup: str | None = "stop") -> str:
    """Start (or reuse) a pgserver PostgreSQL with its data in `data_dir`; return a postgresql:// URL."""
    import pgserver  # imported lazily: only the embedded path needs the binaries

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    _log_pgserver_to(data_dir.parent / "pgserver.log")
    server = pgserver.get_server(data_dir, cleanup_mode=cleanup)
    _servers.append(server)  # keep the handle alive: the server stops when the last handle is released
    return server.get_uri()


_servers: list[Any] = []  # pgserver handles


def _log_pgserver_to(path: Path) -> None:
    """pgserver narrates every start in ~30 INFO lines: they go to `path` (PostgreSQL's own log is `log`
    in the data directory); only its warnings and errors reach the console."""
    logger = logging.getLogger("pgserver")
    if any(isinstance(h, logging.FileHandler) and h.baseFilename == str(path.resolve()) for h in logger.handlers):
        return
    to_file = logging.FileHandler(path)
    to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    if not logger.handlers:  # first call: stop the console copy, which the root logger may print at INFO
        to_console = logging.StreamHandler()
        to_console.setLevel(logging.WARNING)
        logger.addHandler(to_console)
        logger.propagate = False
    logger.addHandler(to_file)
    logger.setLevel(logging.INFO)


def embedded_server_pids() -> list[int]:
    """PIDs of the embedded PostgreSQL servers this process started (for resource accounting)."""
    return [pid for pid in (s.get_pid() for s in _servers) if pid]


def create_database(admin_url: str, name: str) -> str:
    """Create database `name` if missing; return the URL pointing at it."""
    with engine_for(admin_url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        exists = conn.execute(sa.text("select 1 from pg_database where datname = :n"), {"n": name}).scalar()
        if not exists:
            conn.execute(sa.text(f'create database "{name}"'))
    return _parse(admin_url).set(database=name).render_as_string(hide_password=False)
