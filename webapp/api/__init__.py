"""The JSON API under ``/api/``: the review app's actions for scripts and other tools (OpenAPI at /api/openapi.json)."""
