"""Suggested replies: templates (catalogue, sandboxed rendering), choice and composition (pure), and the
network step of delivery to Drafts or by SMTP, exactly once. No database: the store's side is
``pipeline.store.replies``, the rounds that join both are ``pipeline.rounds.replies``."""
