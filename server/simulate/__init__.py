"""The clinic-day simulator: a seeded model of an OPD day (`model`), scored offline against
the ETA model (`offline`), or replayed live against a running server (`live`)."""
