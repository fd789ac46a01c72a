"""executions for one-click apply, Spot warning handling columns, quarantined queue messages

Executions learn their recommendation's fingerprint (filled here from the recommendation) and
target, a kind (apply | rollback, CHECK) with `rollback_of`, who approved them and when, the
worker holding them (`owner`), the recorded steps and a `reason` in words; the state CHECK gains
`refused` and `cancelled`. A partial UNIQUE index allows one queued or running execution per
fingerprint: duplicates older rows may hold are closed as failed first (the oldest stays).
Spot warnings get the handling timeline (node, deadline, cordon, replacement, drain) and a status
CHECK of SpotWarningStatus; statuses outside it are mapped. New table: quarantined_messages.

On SQLite app.db.migrate runs this with foreign keys off (batch mode recreates the tables).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types


revision: str = '0005'
down_revision: str | None = '0004'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

assert sqlmodel and app.db.types  # referenced by generated column types

# The values as of this revision (app.db.states), frozen: see migration 0004.
EXECUTION_STATE_0004 = ('queued', 'running', 'succeeded', 'failed', 'rolled_back')
EXECUTION_STATE = (*EXECUTION_STATE_0004, 'refused', 'cancelled')
EXECUTION_KIND = ('apply', 'rollback')
SPOT_WARNING_STATUS = ('received', 'handling', 'handled', 'failed', 'recorded', 'ignored')
ACTIVE = "state IN ('queued', 'running')"


def _check(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _outside(column: str, allowed: Sequence[str]) -> sa.TextClause:
    return sa.text(f'{column} NOT IN :allowed').bindparams(sa.bindparam('allowed', list(allowed), expanding=True))


def _remap_spot_status() -> None:
    """Old statuses to their member; anything else to `failed`, noting in `message` what it was
    (never to `received`, which the Spot handler would act on)."""
    synonyms = {'new': 'received', 'processing': 'handling', 'processed': 'handled', 'done': 'handled',
                'error': 'failed', 'rebalance': 'recorded'}
    for old, new in synonyms.items():
        op.execute(sa.text('UPDATE spot_warnings SET status = :new WHERE status = :old').bindparams(old=old, new=new))
    table = sa.table('spot_warnings', sa.column('status', sa.String), sa.column('message', sa.String))
    op.execute(
        table.update().where(_outside('status', SPOT_WARNING_STATUS))
        .values(message=sa.func.coalesce(table.c.message, '') + ' (status was ' + table.c.status
                + ' before migration 0005)')
    )
    op.execute(table.update().where(_outside('status', SPOT_WARNING_STATUS)).values(status='failed'))


def upgrade() -> None:
    with op.batch_alter_table('executions') as batch_op:
        batch_op.add_column(sa.Column('fingerprint', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(sa.Column('target', sqlmodel.sql.sqltypes.AutoString(length=500), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('kind', sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False, server_default='apply'))
        batch_op.add_column(sa.Column('rollback_of', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('approved_by', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('approved_at', app.db.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column('steps', app.db.types.JsonDoc(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('reason', sa.Text(), nullable=True))
        batch_op.create_foreign_key('fk_executions_rollback_of_executions', 'executions', ['rollback_of'], ['id'],
                                    ondelete='SET NULL')
        batch_op.create_index(batch_op.f('ix_executions_fingerprint'), ['fingerprint'], unique=False)
        batch_op.drop_constraint('ck_executions_state', type_='check')
        batch_op.create_check_constraint('ck_executions_state', _check('state', EXECUTION_STATE))
        batch_op.create_check_constraint('ck_executions_kind', _check('kind', EXECUTION_KIND))

    for column in ('fingerprint', 'target'):
        op.execute(
            f'UPDATE executions SET {column} = (SELECT recommendations.{column} FROM recommendations '
            f'WHERE recommendations.id = executions.recommendation_id) WHERE recommendation_id IS NOT NULL'
        )
    # The oldest active execution of a fingerprint stays; newer duplicates could never be told apart
    # by the worker, so they close (no worker ran executions before this revision).
    op.execute(
        "UPDATE executions SET state = 'failed', reason = 'closed by migration 0005: a newer duplicate of an "
        "older queued or running execution of the same recommendation' "
        f"WHERE {ACTIVE} AND fingerprint IS NOT NULL AND EXISTS (SELECT 1 FROM executions AS older "
        "WHERE older.fingerprint = executions.fingerprint AND older.state IN ('queued', 'running') "
        "AND older.id < executions.id)"
    )
    op.create_index('uq_executions_active_fingerprint', 'executions', ['fingerprint'], unique=True,
                    sqlite_where=sa.text(ACTIVE), postgresql_where=sa.text(ACTIVE))

    _remap_spot_status()
    with op.batch_alter_table('spot_warnings') as batch_op:
        batch_op.add_column(sa.Column('node_name', sqlmodel.sql.sqltypes.AutoString(length=253), nullable=True))
        batch_op.add_column(sa.Column('deadline_at', app.db.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('cordoned_at', app.db.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('replacement_launched_at', app.db.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('replacement_instance_id', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True))
        batch_op.add_column(sa.Column('drained_at', app.db.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('handled_in_notice', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('feasibility', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('detail', app.db.types.JsonDoc(), nullable=False, server_default=sa.text("'{}'")))
        batch_op.create_check_constraint('ck_spot_warnings_status', _check('status', SPOT_WARNING_STATUS))

    op.create_table('quarantined_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('received_at', app.db.types.UtcDateTime(timezone=True), nullable=False),
    sa.Column('queue_url', sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
    sa.Column('message_id', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_quarantined_messages_received_at', 'quarantined_messages', ['received_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_quarantined_messages_received_at', table_name='quarantined_messages')
    op.drop_table('quarantined_messages')

    with op.batch_alter_table('spot_warnings') as batch_op:
        batch_op.drop_constraint('ck_spot_warnings_status', type_='check')
        for column in ('detail', 'feasibility', 'handled_in_notice', 'drained_at', 'replacement_instance_id',
                       'replacement_launched_at', 'cordoned_at', 'deadline_at', 'node_name'):
            batch_op.drop_column(column)

    # 0004 knows neither state: both mean "ended without changing anything", closest to failed.
    executions = sa.table('executions', sa.column('state', sa.String), sa.column('error', sa.String))
    op.execute(
        executions.update().where(_outside('state', EXECUTION_STATE_0004))
        .values(error=sa.func.coalesce(executions.c.error + '; ', '') + 'state was ' + executions.c.state
                + ' before the downgrade from 0005')
    )
    op.execute(executions.update().where(_outside('state', EXECUTION_STATE_0004)).values(state='failed'))
    op.drop_index('uq_executions_active_fingerprint', table_name='executions')
    with op.batch_alter_table('executions') as batch_op:
        batch_op.drop_constraint('ck_executions_kind', type_='check')
        batch_op.drop_constraint('ck_executions_state', type_='check')
        batch_op.create_check_constraint('ck_executions_state', _check('state', EXECUTION_STATE_0004))
        batch_op.drop_index(batch_op.f('ix_executions_fingerprint'))
        batch_op.drop_constraint('fk_executions_rollback_of_executions', type_='foreignkey')
        for column in ('reason', 'steps', 'owner', 'approved_at', 'approved_by', 'rollback_of', 'kind', 'target',
                       'fingerprint'):
            batch_op.drop_column(column)
