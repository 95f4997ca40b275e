"""The ``triage`` commands, one module per area; ``pipeline.cli`` loads each module only when its command runs."""
