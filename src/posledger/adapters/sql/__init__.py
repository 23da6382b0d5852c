"""Repositories written once in portable SQL, over a small ``Database`` handle that each
backend (SQLite, PostgreSQL) provides. Placeholders are written ``?``."""
