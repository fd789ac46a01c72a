"""reliability recommendations: a purpose on every recommendation

Recommendations get `purpose`: "saving" (every existing row) or "reliability" (the OOMKilled
remediation's memory raises: they prevent failures, may cost more, and savings totals leave them
out), with a CHECK constraint listing both.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 17:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

assert sqlmodel  # referenced by generated column types


def upgrade() -> None:
    with op.batch_alter_table('recommendations') as batch_op:
        batch_op.add_column(sa.Column('purpose', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                      server_default='saving'))
        batch_op.create_check_constraint('ck_recommendations_purpose', "purpose IN ('saving', 'reliability')")


def downgrade() -> None:
    with op.batch_alter_table('recommendations') as batch_op:
        batch_op.drop_constraint('ck_recommendations_purpose', type_='check')
        batch_op.drop_column('purpose')
