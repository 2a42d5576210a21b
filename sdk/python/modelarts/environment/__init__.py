"""Runtime environment of a (local) training job."""


class Environment(object):
    """``Environment(name, conda=None)``: a named environment with conda/pip dependencies."""

    def __init__(self, name, conda=None):
        if not name:
            raise ValueError("Environment needs a name")
        self.name = name
        self.conda = conda

    def __repr__(self):
        return "Environment(name=%r, conda=%r)" % (self.name, self.conda)
