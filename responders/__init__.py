"""Suggested replies: templates (catalogue, sandboxed rendering), choice and composition (pure),
the service layer the review app calls, and delivery to Drafts or by SMTP, exactly once."""
