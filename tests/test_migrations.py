"""The Alembic migrations build exactly the schema the models describe, and can be undone."""
from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from integration.migrate import alembic_config, upgrade
from integration.models import Base


def test_the_migrated_database_matches_the_models(database_url):
    engine = create_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    engine.dispose()
    assert diff == []


def test_migrations_run_down_to_nothing_and_up_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    upgrade(url)
    command.downgrade(alembic_config(url), "base")
    engine = create_engine(url)
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    assert {t.name for t in Base.metadata.sorted_tables} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_database_that_got_0003_s_columns_from_an_early_draft_of_0002_still_upgrades(tmp_path):
    # An earlier draft of 0002 (on development machines only) added refunds.policy and payments.refunded.
    from sqlalchemy import text

    url = f"sqlite:///{tmp_path / 'draft.db'}"
    upgrade(url, "0002")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE refunds ADD COLUMN policy JSON NOT NULL DEFAULT '{}'"))
        conn.execute(text("ALTER TABLE payments ADD COLUMN refunded BIGINT NOT NULL DEFAULT 0"))
    engine.dispose()
    upgrade(url)
    engine = create_engine(url)
    assert "refunded_by_parent" in {c["name"] for c in inspect(engine).get_columns("shop_refunds")}
    engine.dispose()
    command.downgrade(alembic_config(url), "0002")  # and back, dropping only what 0003 can see
