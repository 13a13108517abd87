"""Apply Alembic migrations from code (make run, tests, the `db` CLI)."""
from __future__ import annotations

from alembic import command
from alembic.config import Config

from integration.config import ROOT

__all__ = ["alembic_config", "upgrade", "rebuild"]


def alembic_config(database_url: str) -> Config:
    """The project's Alembic config pointed at one database."""
    config = Config(str(ROOT / "migrations" / "alembic.ini"))
    config.attributes["database_url"] = database_url
    config.attributes["skip_logging"] = True
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the database's schema up to `revision`."""
    command.upgrade(alembic_config(database_url), revision)


def drop(database_url: str) -> None:
    """Drop every table, Alembic's too: for test and benchmark databases only."""
    from sqlalchemy import create_engine, text

    from integration.models import Base

    engine = create_engine(database_url)
    with engine.begin() as conn:
        Base.metadata.drop_all(conn)
        conn.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()


def rebuild(database_url: str) -> None:
    """Drop every table and migrate from nothing: for test and benchmark databases only."""
    drop(database_url)
    upgrade(database_url)
