"""The review app's service layer: every rule and every transaction; the routes only call these."""
