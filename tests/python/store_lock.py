"""Another writer on a store, for the busy-timeout tests: a plain SQLite connection (think:
another process) holding the write lock of a database file until released."""

import os
import sqlite3

# Bounds a hang; it times nothing (speed belongs in benchmarks).
GENEROUS_S = 20.0


def default_db() -> str:
    """The store of the test's MLCORE_HOME (conftest gives every test its own)."""
    return os.path.join(os.environ["MLCORE_HOME"], "mlcore.db")


def hold_write_lock(path=None) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path or default_db()), isolation_level=None,
                           check_same_thread=False)
    conn.execute("BEGIN IMMEDIATE")
    return conn


def release(conn: sqlite3.Connection) -> None:
    conn.execute("COMMIT")
    conn.close()
