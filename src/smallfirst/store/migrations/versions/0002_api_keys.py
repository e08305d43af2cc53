"""Gateway API keys, with per-key budget, rate limit and allowed models.

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the ``api_keys`` table."""
    op.create_table(
        "api_keys",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.Column("budget_usd", sa.BigInteger),
        sa.Column("budget_period", sa.String(8), nullable=False, server_default="month"),
        sa.Column("spent_usd", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("period_start", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("rate_limit_rpm", sa.Integer),
        sa.Column("allowed_models", sa.JSON),
    )


def downgrade() -> None:
    """Drop the ``api_keys`` table, and its rows with it."""
    op.drop_table("api_keys")
