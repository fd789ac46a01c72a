"""The SDK for uploaded engine modules, and the child side of their sandbox.

An uploaded module is one .py file that defines exactly one subclass of `DecisionEngine` (the
same `engines.contract.Engine` the built-ins implement) with a kebab-case `name`, a `title`, a
docstring, a pydantic `Settings` model whose every field has a description, and
`scan(snapshot, ctx) -> ScanResult`. Example::

    from pydantic import BaseModel, Field
    from engines.contract import Recommendation, ScanContext, ScanResult
    from engines.uploaded import DecisionEngine

    class Settings(BaseModel):
        min_saving: float = Field(1.0, description="USD/month below which nothing is recommended")

    class MyEngine(DecisionEngine[Settings]):
        \"\"\"What it recommends and why.\"\"\"
        name = "my-engine"
        title = "My engine"
        Settings = Settings
        def scan(self, snapshot, ctx): return ScanResult()

`app.services.upload_sandbox` runs `python -I -m engines.uploaded.child` in a locked-down
subprocess; `loader` execs the source there (never in the app or worker process), `prices` hands
the child the prices it needs as data, and `sample` is the estate used when no cluster was
collected yet. Nothing here imports `app`.
"""

from engines.contract import Engine as DecisionEngine

__all__ = ["DecisionEngine"]
