"""The staff review app: queues, inquiries, suggested replies, corrections (``triage serve``)."""
