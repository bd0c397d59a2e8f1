"""The error every module raises for a setting or a value KPOD cannot run with.

A leaf module, so that the config, its checks, the methods table and the family seam can all
raise it without importing one another.
"""


class ConfigError(ValueError):
    """A preset name, a setting or a hyper-parameter value that KPOD cannot run with."""
