"""Pure functions that turn the bytes of a message into values."""

from pipeline.mail.model import Attachment, ParsedMessage
from pipeline.mail.parse import ParseLimits, parse_message

__all__ = ["Attachment", "ParseLimits", "ParsedMessage", "parse_message"]
