"""The commands of the ``triage`` command line, one module per family (registered in ``pipeline.cli``)."""
