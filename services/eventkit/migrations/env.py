"""Alembic environment shared by every location that ``eventkit.migrations.run_migrations`` runs.

It never opens a connection of its own: ``run_migrations`` hands in the (already locked,
already begun) connection and the version table of the location being upgraded.
"""

from alembic import context

config = context.config
connection = config.attributes["connection"]

context.configure(
    connection=connection,
    target_metadata=None,
    version_table=config.attributes["version_table"],
    # SQLite can only ALTER a table by copying it: batch mode does that for op.alter_column & co.
    render_as_batch=connection.dialect.name == "sqlite",
    transactional_ddl=True,
)

with context.begin_transaction():
    context.run_migrations()
