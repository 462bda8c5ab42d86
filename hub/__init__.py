"""omnihub's core: canonical model, config, mappings, store, engine, scheduler, alerts, CLI, HTTP."""

__version__ = "0.1.0"
