"""Transports: how an envelope reaches a mailbox in another process. They never run handlers."""
