"""Reliability: usage details and the end user in the request log, and unsettled budget holds.

Revision ID: 0004
Revises: 0002 (0003, the learning tables, when it lands)
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_DETAILS = ("cached_tokens", "cache_write_tokens", "reasoning_tokens", "audio_prompt_tokens", "audio_completion_tokens")


def upgrade() -> None:
    """Add the usage-detail columns and ``end_user`` to ``requests``; create ``budget_holds``."""
    with op.batch_alter_table("requests") as batch:
        for name in _DETAILS:
            batch.add_column(sa.Column(name, sa.Integer, nullable=False, server_default="0"))
        batch.add_column(sa.Column("end_user", sa.String(256)))
    op.create_table(
        "budget_holds",
        sa.Column("request_id", sa.String(36), primary_key=True),
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("hold_usd", sa.BigInteger, nullable=False),
        sa.Column("period_start", sa.BigInteger, nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_budget_holds_key_id", "budget_holds", ["key_id"])
    op.create_index("ix_budget_holds_owner", "budget_holds", ["owner"])


def downgrade() -> None:
    """Drop ``budget_holds`` and the columns ``upgrade`` added."""
    op.drop_index("ix_budget_holds_owner", "budget_holds")
    op.drop_index("ix_budget_holds_key_id", "budget_holds")
    op.drop_table("budget_holds")
    with op.batch_alter_table("requests") as batch:
        batch.drop_column("end_user")
        for name in reversed(_DETAILS):
            batch.drop_column(name)
