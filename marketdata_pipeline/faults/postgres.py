"""The suite's own embedded PostgreSQL, which one scenario restarts under a running pipeline."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from marketdata_pipeline.storage.database import start_embedded


class OwnPostgres:
    """A pgserver PostgreSQL in a scratch directory, restarted and stopped with its bundled pg_ctl."""

    def __init__(self):
        self.root = Path(tempfile.mkdtemp(prefix="mdp-faults-pg-"))
        self.data_dir = self.root / "data"
        self.admin_url = ""

    def __enter__(self) -> OwnPostgres:
        self.admin_url = start_embedded(self.data_dir, cleanup=None)
        return self

    def _pg_ctl(self, *args: str, timeout_s: float = 60) -> None:
        import pgserver
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]  # made at import time

        # The same handle start_embedded made: as root, pg_ctl must run as pgserver's system user.
        server = pgserver.get_server(self.data_dir, cleanup_mode=None)
        # The server's output goes to its log file: a pipe held open by the postmaster would never reach EOF.
        pg_ctl(["-w", "-l", str(server.log), *args], pgdata=self.data_dir, user=server.system_user, timeout=timeout_s)

    def restart(self) -> None:
        """What an operator's `pg_ctl restart -m fast` does: every open connection is cut."""
        self._pg_ctl("restart", "-m", "fast")

    def __exit__(self, *exc) -> None:
        # pgserver only stops the postmaster it started itself, which a restart replaced: stop it here.
        try:
            self._pg_ctl("stop", "-m", "fast")
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
