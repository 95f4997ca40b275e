"""Triage of inquiries: language, topic, reference numbers, signals and routing (see docs/triage.md).

Modules import scikit-learn only where a model runs, so the light ones (entities, taxonomy,
routing, decision) can be used by other packages cheaply.
"""
