"""OPD live queue server."""
