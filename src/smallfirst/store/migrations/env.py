"""Alembic environment: smallfirst passes its own connection, so no alembic.ini URL is needed."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from smallfirst.store.tables import Base

config = context.config
target_metadata = Base.metadata


def run() -> None:
    """Run the migrations on the connection ``store.db.migrate`` passes in, or on the URL of an alembic.ini
    (``sqlalchemy.url``) when run from the Alembic command line."""
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = engine_from_config(config.get_section(config.config_ini_section) or {}, prefix="sqlalchemy.",
                                poolclass=pool.NullPool)
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()


run()
