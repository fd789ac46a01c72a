"""Database layer: engine factory with SQLite/PostgreSQL tuning, SQLModel tables, Alembic upgrades."""

from app.db.engine import DatabaseError, make_engine, session_scope
from app.db.migrate import upgrade

__all__ = ["DatabaseError", "make_engine", "session_scope", "upgrade"]
