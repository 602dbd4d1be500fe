"""eventkit: the one plumbing kit every Jumelage service uses.

Event store (SQLAlchemy async: PostgreSQL/asyncpg and SQLite/aiosqlite, plus an in-memory fake),
outbox relay to JetStream, durable consumers with inbox and dead-lettering, settings, structured
logging, clock, bearer tokens and HTTP conventions (problem+json, If-Match, health).
"""
