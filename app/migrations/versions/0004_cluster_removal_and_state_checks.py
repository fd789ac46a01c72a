"""cluster removal semantics, state CHECK constraints, dependency and timing columns

What removing a cluster means: its recommendations and scan runs go (ON DELETE CASCADE; a
recommendation's scan run is SET NULL); executions, the savings ledger and Spot warnings stay
with cluster_id SET NULL, and executions/cost_savings get `cluster_name` (filled here) so the
ledger still says which cluster it was. Status columns get named CHECK constraints; rows holding
other values are mapped first. Adds recommendations.depends_on/related and scan_runs.collect_s/
engine_s.

On SQLite app.db.migrate runs this with foreign keys off: batch mode drops and recreates the
tables, which would otherwise fire the new ON DELETE actions on the rows being copied.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 10:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types


revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

assert sqlmodel and app.db.types  # referenced by generated column types

# The values as of this revision (app.db.states), frozen: a migration must build the same schema
# forever, so a later enum member comes with its own migration, not by editing this one.
REC_STATUS = ('open', 'approved', 'applied', 'dismissed', 'obsolete')
EXECUTION_STATE = ('queued', 'running', 'succeeded', 'failed', 'rolled_back')
SCAN_STATUS = ('requested', 'running', 'succeeded', 'partial', 'failed')
SCAN_TRIGGER = ('cli', 'ui', 'schedule', 'demo')

# (table, column) -> (referred table, ON DELETE after this revision)
FOREIGN_KEYS = {
    ('recommendations', 'cluster_id'): ('clusters', 'CASCADE'),
    ('recommendations', 'scan_run_id'): ('scan_runs', 'SET NULL'),
    ('scan_runs', 'cluster_id'): ('clusters', 'CASCADE'),
    ('executions', 'cluster_id'): ('clusters', 'SET NULL'),
    ('executions', 'recommendation_id'): ('recommendations', 'SET NULL'),
    ('cost_savings', 'cluster_id'): ('clusters', 'SET NULL'),
    ('spot_warnings', 'cluster_id'): ('clusters', 'SET NULL'),
}

# Gives SQLite's unnamed foreign keys a name batch mode can drop them by.
NAMING = {'fk': 'fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s'}


def _check(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _fk_name(table: str, column: str) -> str:
    return f'fk_{table}_{column}_{FOREIGN_KEYS[(table, column)][0]}'


def _existing_fk_name(table: str, column: str) -> str:
    bind = op.get_bind()
    if bind.dialect.name == 'sqlite':
        return _fk_name(table, column)  # named by NAMING when batch mode reflects the table
    for fk in sa.inspect(bind).get_foreign_keys(table):
        if fk['constrained_columns'] == [column] and fk['name']:
            return str(fk['name'])
    raise RuntimeError(f'no foreign key on {table}.{column}')


def _remap(table: str, column: str, allowed: Sequence[str], synonyms: dict[str, str], fallback: str,
           *, note_in_error: bool = False) -> None:
    """Map values the CHECK would refuse: known synonyms to their member, anything else to `fallback`
    (saying in the row's `error` what it was, where the table has one)."""
    for old, new in synonyms.items():
        op.execute(sa.text(f'UPDATE {table} SET {column} = :new WHERE {column} = :old').bindparams(old=old, new=new))
    outside = f'WHERE {column} NOT IN :allowed'
    if note_in_error:
        op.execute(
            sa.text(f"UPDATE {table} SET error = COALESCE(error || '; ', '') || "
                    f"'{column} was ' || {column} || ' before migration 0004' {outside}")
            .bindparams(sa.bindparam('allowed', expanding=True))
            .bindparams(allowed=list(allowed))
        )
    op.execute(
        sa.text(f'UPDATE {table} SET {column} = :fallback {outside}')
        .bindparams(sa.bindparam('allowed', expanding=True))
        .bindparams(fallback=fallback, allowed=list(allowed))
    )


def _replace_fks(batch_op: object, table: str, *, upgrading: bool) -> None:
    """Recreate the table's foreign keys of FOREIGN_KEYS named fk_..., with (or, going down, without)
    their ON DELETE action."""
    for (fk_table, column), (referred, action) in FOREIGN_KEYS.items():
        if fk_table != table:
            continue
        name = _existing_fk_name(table, column) if upgrading else _fk_name(table, column)
        batch_op.drop_constraint(name, type_='foreignkey')  # type: ignore[attr-defined]
        batch_op.create_foreign_key(  # type: ignore[attr-defined]
            _fk_name(table, column), referred, [column], ['id'], ondelete=action if upgrading else None
        )


def upgrade() -> None:
    # Values first: on SQLite the CHECK constraints come with the table copy below.
    _remap('scan_runs', 'trigger', SCAN_TRIGGER, {'manual': 'cli', 'scheduled': 'schedule'}, 'cli')
    _remap('scan_runs', 'status', SCAN_STATUS, {'ok': 'succeeded', 'error': 'failed'}, 'failed', note_in_error=True)
    # An unknown recommendation status is shown again (open): that asks the analyst, never acts.
    _remap('recommendations', 'status', REC_STATUS, {'rejected': 'dismissed', 'done': 'applied'}, 'open')
    # An unknown execution state must never become `queued` (the worker would apply it): failed.
    _remap('executions', 'state', EXECUTION_STATE,
           {'pending': 'queued', 'success': 'succeeded', 'error': 'failed', 'rolledback': 'rolled_back'}, 'failed',
           note_in_error=True)

    with op.batch_alter_table('scan_runs', naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column('collect_s', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('engine_s', sa.Float(), nullable=True))
        _replace_fks(batch_op, 'scan_runs', upgrading=True)
        batch_op.create_check_constraint('ck_scan_runs_trigger', _check('trigger', SCAN_TRIGGER))
        batch_op.create_check_constraint('ck_scan_runs_status', _check('status', SCAN_STATUS))

    with op.batch_alter_table('recommendations', naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column('depends_on', app.db.types.JsonDoc(), nullable=False, server_default=sa.text("'[]'")))
        batch_op.add_column(sa.Column('related', app.db.types.JsonDoc(), nullable=False, server_default=sa.text("'[]'")))
        _replace_fks(batch_op, 'recommendations', upgrading=True)
        batch_op.create_check_constraint('ck_recommendations_status', _check('status', REC_STATUS))

    with op.batch_alter_table('executions', naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column('cluster_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=''))
        _replace_fks(batch_op, 'executions', upgrading=True)
        batch_op.create_check_constraint('ck_executions_state', _check('state', EXECUTION_STATE))

    with op.batch_alter_table('cost_savings', naming_convention=NAMING) as batch_op:
        batch_op.add_column(sa.Column('cluster_name', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False, server_default=''))
        _replace_fks(batch_op, 'cost_savings', upgrading=True)

    with op.batch_alter_table('spot_warnings', naming_convention=NAMING) as batch_op:
        _replace_fks(batch_op, 'spot_warnings', upgrading=True)

    for table in ('executions', 'cost_savings'):
        op.execute(
            f'UPDATE {table} SET cluster_name = '
            f'(SELECT clusters.name FROM clusters WHERE clusters.id = {table}.cluster_id) '
            f'WHERE cluster_id IS NOT NULL'
        )


def downgrade() -> None:
    with op.batch_alter_table('spot_warnings') as batch_op:
        _replace_fks(batch_op, 'spot_warnings', upgrading=False)

    with op.batch_alter_table('cost_savings') as batch_op:
        _replace_fks(batch_op, 'cost_savings', upgrading=False)
        batch_op.drop_column('cluster_name')

    with op.batch_alter_table('executions') as batch_op:
        batch_op.drop_constraint('ck_executions_state', type_='check')
        _replace_fks(batch_op, 'executions', upgrading=False)
        batch_op.drop_column('cluster_name')

    with op.batch_alter_table('recommendations') as batch_op:
        batch_op.drop_constraint('ck_recommendations_status', type_='check')
        _replace_fks(batch_op, 'recommendations', upgrading=False)
        batch_op.drop_column('related')
        batch_op.drop_column('depends_on')

    with op.batch_alter_table('scan_runs') as batch_op:
        batch_op.drop_constraint('ck_scan_runs_status', type_='check')
        batch_op.drop_constraint('ck_scan_runs_trigger', type_='check')
        _replace_fks(batch_op, 'scan_runs', upgrading=False)
        batch_op.drop_column('engine_s')
        batch_op.drop_column('collect_s')
