"""The benchmark's scratch databases are dropped when their workload ends, also when it fails."""

import pytest
import sqlalchemy as sa

from marketdata_pipeline.bench.scratch import scratch_database
from marketdata_pipeline.storage.database import engine_for


def databases(admin_url: str) -> set[str]:
    with engine_for(admin_url).connect() as conn:
        return set(conn.execute(sa.text("select datname from pg_database")).scalars())


def test_a_scratch_database_is_dropped_after_use_with_open_connections(pg_admin_url):
    with scratch_database(pg_admin_url, "mdp_scratch") as url:
        name = sa.make_url(url).database
        assert name.startswith("mdp_scratch_") and name in databases(pg_admin_url)
        with engine_for(url).begin() as conn:
            conn.execute(sa.text("create table t (x int)"))
        held = engine_for(url).connect()  # a connection still open: the drop must not wait for it
    assert name not in databases(pg_admin_url)
    held.invalidate()


def test_a_scratch_database_is_dropped_when_the_workload_fails(pg_admin_url):
    with pytest.raises(RuntimeError), scratch_database(pg_admin_url, "mdp_scratch") as url:
        raise RuntimeError("workload failed")
    assert sa.make_url(url).database not in databases(pg_admin_url)
