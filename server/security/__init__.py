"""Credentials: password hashing, session tokens, display keys, signed patient links."""
