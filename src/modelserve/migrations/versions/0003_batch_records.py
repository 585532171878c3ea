"""batch records: one history record for a request of many rows

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26 13:00:00

"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    # Added columns only: SQLite takes them with ALTER TABLE (no table copy), PostgreSQL
    # without rewriting the table (a constant default).
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rows", sa.Integer(), server_default="1", nullable=False))
        batch_op.add_column(sa.Column("label_counts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("label_keys", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("payload", sa.LargeBinary(), nullable=True))


def downgrade():
    with op.batch_alter_table("predictions", schema=None) as batch_op:
        batch_op.drop_column("payload")
        batch_op.drop_column("label_keys")
        batch_op.drop_column("label_counts")
        batch_op.drop_column("rows")
