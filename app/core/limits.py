"""Longest values the key columns take; longer ones are refused per line, before the database."""

MAX_ID_LENGTH = 200
MAX_DOMAIN_LENGTH = 253
MAX_TITLE_LENGTH = 1000
