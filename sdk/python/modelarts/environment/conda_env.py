"""Conda/pip dependencies of an :class:`modelarts.environment.Environment`."""


class CondaDependencies(object):
    """Channels, pip packages and conda packages."""

    def __init__(self, channels=None, pip_packages=None, conda_packages=None):
        self.channels = list(channels or [])
        self.pip_packages = list(pip_packages or [])
        self.conda_packages = list(conda_packages or [])

    @staticmethod
    def create(channels=None, pip_packages=None, conda_packages=None):
        return CondaDependencies(channels=channels, pip_packages=pip_packages, conda_packages=conda_packages)

    def __repr__(self):
        return "CondaDependencies(channels=%r, pip_packages=%r, conda_packages=%r)" % (
            self.channels, self.pip_packages, self.conda_packages)
