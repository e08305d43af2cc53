"""Learning from served traffic: graded outcome rows and policy versions.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "outcome_rows",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(36), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("graded_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("graded_by", sa.String(16)),
        sa.Column("note", sa.Text),
        sa.Column("key_id", sa.String(64)),
        sa.Column("prompt", sa.Text, nullable=False),
        sa.Column("task", sa.String(100)),
        sa.Column("gold", sa.Text),
        sa.Column("served_model", sa.String(200), nullable=False),
        sa.Column("policy_version", sa.Integer),
        sa.Column("sampled_p", sa.Float, nullable=False, server_default="1"),
        sa.Column("results", sa.JSON),
    )
    op.create_index("ix_outcome_rows_request_id", "outcome_rows", ["request_id"])
    op.create_index("ix_outcome_rows_created_at", "outcome_rows", ["created_at"])
    op.create_index("ix_outcome_rows_status", "outcome_rows", ["status"])
    op.create_index("ix_outcome_rows_policy_version", "outcome_rows", ["policy_version"])
    op.create_table(
        "policy_versions",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("policy", sa.String(200), nullable=False),
        sa.Column("router", sa.String(500), nullable=False),
        sa.Column("target", sa.String(100), nullable=False),
        sa.Column("n_outcomes", sa.Integer, nullable=False),
        sa.Column("last_outcome_id", sa.Integer, nullable=False),
        sa.Column("data_sha256", sa.String(64), nullable=False),
        sa.Column("metrics", sa.JSON),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("replaced", sa.Integer),
        sa.Column("ended_at", sa.DateTime(timezone=True)),
        sa.Column("document", sa.Text),
    )
    op.create_index("ix_policy_versions_status", "policy_versions", ["status"])


def downgrade() -> None:
    op.drop_table("policy_versions")
    op.drop_table("outcome_rows")
