"""Staff authentication: sessions, principals, roles and the login rate limiter."""
