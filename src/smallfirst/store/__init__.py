"""The request log: engine, tables and Alembic migrations. SQLite (WAL) by default, Postgres by URL."""
