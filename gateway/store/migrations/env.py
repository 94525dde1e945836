"""Alembic environment: the engine comes from the caller (gateway.store.migrations.upgrade)."""

from alembic import context

from gateway.store.models import Base, UTCDateTime

engine = context.config.attributes["engine"]


def render_item(kind: str, value: object, autogen_context: object) -> str | bool:
    # Migrations stay frozen in plain SQLAlchemy types; UTC handling lives in the models.
    if kind == "type" and isinstance(value, UTCDateTime):
        return "sa.DateTime()"
    return False


with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()
