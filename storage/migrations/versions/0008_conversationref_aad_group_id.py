"""conversationref: aad_group_id, the team's Microsoft 365 group (Graph's team id)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 09:30:00
"""
from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('conversationref', schema=None) as batch_op:
        batch_op.add_column(sa.Column('aad_group_id', sqlmodel.sql.sqltypes.AutoString(),
                                      nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('conversationref', schema=None) as batch_op:
        batch_op.drop_column('aad_group_id')
