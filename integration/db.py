"""Database engine and sessions: one `Database` per app, registered with `init_app`."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "init_app", "get_session", "lock_row"]


def _sqlite_pragmas(dbapi_connection, _record):
    # WAL lets the web process read while the worker writes; busy_timeout makes
    # a writer wait for the lock instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """An engine and its session factory."""

    def __init__(self, url: str):
        parsed = make_url(url)
        kwargs = {"pool_pre_ping": True}
        if parsed.get_backend_name() == "sqlite" and parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(url, **kwargs)
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessionmaker = sessionmaker(self.engine, expire_on_commit=False)
        # The webhook receivers' engine: each statement commits itself (no BEGIN and COMMIT round trips), and a
        # connection is not pinged when it is taken from the pool: a delivery is one INSERT. A connection the
        # database dropped (a restart) fails its one statement, which answers 503 (the platform sends it again),
        # and the pool is emptied of the others at once. SQLite: the same pool, in its autocommit mode.
        if parsed.get_backend_name() == "sqlite":
            self.intake = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        else:
            self.intake = create_engine(url, isolation_level="AUTOCOMMIT", pool_size=2, max_overflow=8)

    def dispose(self) -> None:
        """Close every pooled connection (a test's app, at its end)."""
        self.engine.dispose()
        self.intake.dispose()

    @contextmanager
    def session(self):
        """A session that rolls back on error and always closes."""
        session: Session = self.sessionmaker()
        try:
            yield session
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def init_app(app) -> Database:
    """Attach a Database to the app and close the request's session after each request."""
    from flask import g

    database = Database(app.config["DATABASE_URL"])
    app.extensions["db"] = database

    def _close_session(_exc=None):
        session = g.pop("db_session", None)
        if session is not None:
            session.close()

    # One session per request, closed at its end even when the app context
    # outlives the request (tests, CLI commands).
    app.teardown_request(_close_session)
    app.teardown_appcontext(_close_session)

    return database


def get_session() -> Session:
    """The current request's session, created on first use."""
    from flask import current_app, g

    if "db_session" not in g:
        g.db_session = current_app.extensions["db"].sessionmaker()
    return g.db_session


def lock_row(session: Session, model, row_id: int, shared: bool = False, keys_change: bool = False) -> None:
    """Hold `model`'s row `row_id` until the transaction ends: writers that lock it run one after another.

    `shared`: many holders at once (SELECT ... FOR SHARE), but none while a writer holds it, nor a writer while
    they do: for a decision that must not be made while the row changes (SQLite: the same write lock as below).

    PostgreSQL: SELECT ... FOR UPDATE (a shop's row: FOR NO KEY UPDATE, see below). SQLite has no row locks, and its deferred
    transactions let two readers both decide before either writes; a write as the
    transaction's first statement takes the database's write lock at once (readers
    go on). Make it the first statement of its transaction on SQLite, so that
    everything read after it is read under the lock.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(model).where(model.id == row_id).values(id=model.id)
                        .execution_options(synchronize_session=False))  # fmt: skip
    else:
        # `keys_change`: the holder will change the row's key columns (a shop's API key hash), which needs FOR UPDATE
        # in the end: taking it at once, as before, adds no lock upgrade that could deadlock with a delivery.
        exclusive_but_keys = not shared and not keys_change and model.__tablename__ in _REFERENCED_BY_EVERY_DELIVERY
        session.execute(select(model.id).where(model.id == row_id)
                        .with_for_update(read=shared, key_share=exclusive_but_keys))  # fmt: skip


# Rows every stored delivery's INSERT references (webhook_events.shop_id): their exclusive lock is FOR NO KEY UPDATE,
# which excludes every other holder exactly as FOR UPDATE does (and FOR SHARE holders) but not the KEY SHARE lock a
# foreign-key check takes, so a job holding its shop never holds up the shop's deliveries at the door.
_REFERENCED_BY_EVERY_DELIVERY = {"shops"}
