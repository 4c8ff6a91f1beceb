"""The database: connection, models, migrations, summary tables, retention."""
