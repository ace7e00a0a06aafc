"""The study database (SQLAlchemy 2, Alembic); knows nothing above it."""
