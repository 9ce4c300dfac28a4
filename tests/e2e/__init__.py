"""Browser end-to-end tests (headless Chromium against a real server)."""
