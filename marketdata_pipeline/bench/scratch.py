"""The benchmark's scratch databases: each workload gets its own on the given server, dropped when it ends,
so a `make bench` against DATABASE_URL leaves nothing behind."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import sqlalchemy as sa

from marketdata_pipeline.storage.database import create_database, engine_for


@contextlib.contextmanager
def scratch_database(admin_url: str, prefix: str) -> Iterator[str]:
    """Yields the URL of a new database `<prefix>_<random>` on `admin_url`'s server (which needs CREATEDB)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    url = create_database(admin_url, name)
    try:
        yield url
    finally:
        engine_for(url).dispose()  # this process's pooled connections; `force` ends any other's
        with engine_for(admin_url).connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text(f'drop database if exists "{name}" with (force)'))
