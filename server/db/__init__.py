"""PostgreSQL access: the pool, the schema, and one module of typed queries per area.

SQL lives only in this package; nothing returns an asyncpg.Record past it.
"""
