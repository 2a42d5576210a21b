"""Errors raised by the SDK."""


class ModelArtsError(Exception):
    """A request the server refused (where the SDK returns an object, not a dict)."""

    def __init__(self, error_code, error_msg, http_status=None):
        super().__init__("%s: %s" % (error_code, error_msg))
        self.error_code = error_code
        self.error_msg = error_msg
        self.http_status = http_status
