"""Schema migrations in tortoise's format (`tortoise makemigrations` writes new ones); see app/migrator.py."""
