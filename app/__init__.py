"""CloudOptim core shared by the web UI and the worker: settings, database, prices, collectors, services."""

__version__ = "0.1.0"
