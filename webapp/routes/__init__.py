"""The review app's pages: one module of routes per screen."""
