"""Pure domain rules of the OPD queue: no I/O, tested directly."""
