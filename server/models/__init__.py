"""Pydantic models of request bodies and query strings, one module per area."""
