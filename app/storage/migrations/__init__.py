"""Schema migrations in tortoise's format (`tortoise makemigrations` writes new ones).

Applied by app/storage/migrator.py.
"""
