"""cloud engines: cross-engine conflicts, EBS volume sightings, Spot risk models and predictions

Recommendations get `conflicts_with` (fingerprints of other engines' recommendations on the same
target). The models table learns which model is active and why one was rejected. New tables:
volume_sightings (how long each volume has been unattached, across scans, and its CloudTrail
detach time) and spot_predictions (each scorer's predicted interruption rate per pool).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 13:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types


revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

assert sqlmodel and app.db.types  # referenced by generated column types


def upgrade() -> None:
    with op.batch_alter_table('recommendations') as batch_op:
        batch_op.add_column(sa.Column('conflicts_with', app.db.types.JsonDoc(), nullable=False,
                                      server_default=sa.text("'[]'")))
    with op.batch_alter_table('models') as batch_op:
        batch_op.add_column(sa.Column('active', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('validation_error', sa.Text(), nullable=True))

    op.create_table('volume_sightings',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('volume_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('first_seen_at', app.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', app.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('unattached_since', app.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('last_instance_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
    sa.Column('detached_at', app.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.Column('detach_checked_at', app.db.types.UtcDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('account_id', 'region', 'volume_id', name='uq_volume_sightings_volume')
    )
    op.create_index('ix_volume_sightings_volume_id', 'volume_sightings', ['volume_id'], unique=False)

    op.create_table('spot_predictions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=True),
    sa.Column('scorer', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('scan_run_id', sa.Integer(), nullable=True),
    sa.Column('region', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('instance_type', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('zone', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('p_interruption_hour', sa.Float(), nullable=False),
    sa.Column('features', app.db.types.JsonDoc(), nullable=False),
    sa.Column('predicted_at', app.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['scan_run_id'], ['scan_runs.id'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_spot_predictions_model_id', 'spot_predictions', ['model_id'], unique=False)
    op.create_index('ix_spot_predictions_predicted_at', 'spot_predictions', ['predicted_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_spot_predictions_predicted_at', table_name='spot_predictions')
    op.drop_index('ix_spot_predictions_model_id', table_name='spot_predictions')
    op.drop_table('spot_predictions')
    op.drop_index('ix_volume_sightings_volume_id', table_name='volume_sightings')
    op.drop_table('volume_sightings')
    with op.batch_alter_table('models') as batch_op:
        batch_op.drop_column('validation_error')
        batch_op.drop_column('active')
    with op.batch_alter_table('recommendations') as batch_op:
        batch_op.drop_column('conflicts_with')
