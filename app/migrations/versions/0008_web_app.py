"""the analyst's web app: sign-in, sessions, uploads, engine switches, admin settings, plans

- users: a CHECK on role, the failed sign-in counter and lock, the last sign-in;
- user_sessions: signed-in browser sessions (token hashes only);
- engine_modules: the upload's file name, size, validation state and report;
- engine_settings: a version and editor for optimistic concurrency;
- recommendations: namespace (filtered in SQL) and snoozed_until;
- engine_toggles, app_settings, plans; executions.plan_id / plan_step.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 20:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import app.db.types

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

assert sqlmodel and app.db.types  # referenced by generated column types

S = sqlmodel.sql.sqltypes.AutoString
T = app.db.types.UtcDateTime
J = app.db.types.JsonDoc


def upgrade() -> None:
    op.execute("UPDATE users SET role = 'viewer' WHERE role NOT IN ('viewer', 'analyst', 'admin')")
    with op.batch_alter_table('users') as b:
        b.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        b.add_column(sa.Column('locked_until', T(), nullable=True))
        b.add_column(sa.Column('last_login_at', T(), nullable=True))
        b.create_check_constraint('ck_users_role', "role IN ('viewer', 'analyst', 'admin')")
    op.create_table('user_sessions',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('token_sha256', S(length=64), nullable=False),
                    sa.Column('user_id', sa.Integer(), nullable=False),
                    sa.Column('created_at', T(), nullable=False),
                    sa.Column('last_seen_at', T(), nullable=False),
                    sa.Column('expires_at', T(), nullable=False),
                    sa.Column('ended_at', T(), nullable=True),
                    sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('token_sha256'))
    op.create_index('ix_user_sessions_user_id', 'user_sessions', ['user_id'])
    op.create_index('ix_user_sessions_expires_at', 'user_sessions', ['expires_at'])

    with op.batch_alter_table('engine_modules') as b:
        b.add_column(sa.Column('filename', S(length=255), nullable=False, server_default=''))
        b.add_column(sa.Column('size_bytes', sa.Integer(), nullable=False, server_default='0'))
        b.add_column(sa.Column('state', S(length=20), nullable=False, server_default='pending'))
        b.add_column(sa.Column('report', J(), nullable=False, server_default=sa.text("'{}'")))
        b.add_column(sa.Column('validated_at', T(), nullable=True))
        b.create_check_constraint('ck_engine_modules_state', "state IN ('pending', 'validating', 'passed', 'failed')")
        b.create_index('ix_engine_modules_state', ['state'])
    with op.batch_alter_table('engine_settings') as b:
        b.add_column(sa.Column('version', sa.Integer(), nullable=False, server_default='1'))
        b.add_column(sa.Column('updated_by', S(length=100), nullable=False, server_default=''))
    with op.batch_alter_table('recommendations') as b:
        b.add_column(sa.Column('namespace', S(length=253), nullable=True))
        b.add_column(sa.Column('snoozed_until', T(), nullable=True))
        b.create_index('ix_recommendations_namespace', ['namespace'])
        b.create_index('ix_recommendations_snoozed_until', ['snoozed_until'])
        b.create_index('ix_recommendations_monthly_savings', ['monthly_savings'])

    op.create_table('engine_toggles',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('cluster_id', sa.Integer(), nullable=False),
                    sa.Column('engine', S(length=100), nullable=False),
                    sa.Column('enabled', sa.Boolean(), nullable=False),
                    sa.Column('updated_by', S(length=100), nullable=False),
                    sa.Column('updated_at', T(), nullable=False),
                    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], ondelete='CASCADE'),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('cluster_id', 'engine'))
    op.create_index('ix_engine_toggles_cluster_id', 'engine_toggles', ['cluster_id'])
    op.create_table('app_settings',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('key', S(length=100), nullable=False),
                    sa.Column('value', J(), nullable=False),
                    sa.Column('version', sa.Integer(), nullable=False),
                    sa.Column('updated_by', S(length=100), nullable=False),
                    sa.Column('updated_at', T(), nullable=False),
                    sa.PrimaryKeyConstraint('id'),
                    sa.UniqueConstraint('key'))
    op.create_table('plans',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('cluster_id', sa.Integer(), nullable=True),
                    sa.Column('cluster_name', S(length=200), nullable=False),
                    sa.Column('fingerprints', J(), nullable=False),
                    sa.Column('projection', J(), nullable=False),
                    sa.Column('projected_monthly_delta', sa.Numeric(precision=14, scale=2), nullable=True),
                    sa.Column('state', S(length=20), nullable=False),
                    sa.Column('created_by', S(length=100), nullable=False),
                    sa.Column('created_at', T(), nullable=False),
                    sa.Column('applied_at', T(), nullable=True),
                    sa.CheckConstraint("state IN ('draft', 'applied')", name='ck_plans_state'),
                    sa.ForeignKeyConstraint(['cluster_id'], ['clusters.id'], ondelete='SET NULL'),
                    sa.PrimaryKeyConstraint('id'))
    op.create_index('ix_plans_cluster_id', 'plans', ['cluster_id'])
    op.create_index('ix_plans_created_at', 'plans', ['created_at'])
    with op.batch_alter_table('executions') as b:
        b.add_column(sa.Column('plan_id', sa.Integer(), nullable=True))
        b.add_column(sa.Column('plan_step', sa.Integer(), nullable=True))
        b.create_foreign_key('fk_executions_plan_id', 'plans', ['plan_id'], ['id'], ondelete='SET NULL')
        b.create_index('ix_executions_plan_id', ['plan_id'])


def downgrade() -> None:
    with op.batch_alter_table('executions') as b:
        b.drop_index('ix_executions_plan_id')
        b.drop_constraint('fk_executions_plan_id', type_='foreignkey')
        b.drop_column('plan_step')
        b.drop_column('plan_id')
    op.drop_table('plans')
    op.drop_table('app_settings')
    op.drop_table('engine_toggles')
    with op.batch_alter_table('recommendations') as b:
        b.drop_index('ix_recommendations_monthly_savings')
        b.drop_index('ix_recommendations_snoozed_until')
        b.drop_index('ix_recommendations_namespace')
        b.drop_column('snoozed_until')
        b.drop_column('namespace')
    with op.batch_alter_table('engine_settings') as b:
        b.drop_column('updated_by')
        b.drop_column('version')
    with op.batch_alter_table('engine_modules') as b:
        b.drop_index('ix_engine_modules_state')
        b.drop_constraint('ck_engine_modules_state', type_='check')
        for column in ('validated_at', 'report', 'state', 'size_bytes', 'filename'):
            b.drop_column(column)
    op.drop_table('user_sessions')
    with op.batch_alter_table('users') as b:
        b.drop_constraint('ck_users_role', type_='check')
        for column in ('last_login_at', 'locked_until', 'failed_logins'):
            b.drop_column(column)
