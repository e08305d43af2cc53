"""The request log.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the ``requests`` table (the request log) and its indexes."""
    op.create_table(
        "requests",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(32), nullable=False),
        sa.Column("key_id", sa.String(64)),
        sa.Column("requested_model", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False, server_default="200"),
        sa.Column("policy", sa.String(200)),
        sa.Column("decision_reason", sa.Text),
        sa.Column("score", sa.Float),
        sa.Column("threshold", sa.Float),
        sa.Column("attempted", sa.JSON),
        sa.Column("task", sa.String(100)),
        sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
        sa.Column("latency_s", sa.Float, nullable=False, server_default="0"),
        sa.Column("ttft_s", sa.Float),
        sa.Column("cost_usd", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("baseline_usd", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("baseline_model", sa.String(200)),
        sa.Column("price_source", sa.String(200)),
        sa.Column("error", sa.Text),
        sa.Column("tag", sa.String(100)),
        sa.Column("quality", sa.Float),
        sa.Column("prompt", sa.Text),
        sa.Column("response", sa.Text),
    )
    op.create_index("ix_requests_created_at", "requests", ["created_at"])
    op.create_index("ix_requests_key_id", "requests", ["key_id"])
    op.create_index("ix_requests_tag", "requests", ["tag"])
    op.create_index("ix_requests_model_created", "requests", ["model", "created_at"])


def downgrade() -> None:
    """Drop the ``requests`` table (the request log) and its indexes, and its rows with it."""
    op.drop_table("requests")
