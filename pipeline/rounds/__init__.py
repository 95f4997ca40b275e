"""Rounds of work the daemon and the command line run: each ties the store to the pure packages."""
