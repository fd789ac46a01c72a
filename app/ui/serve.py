"""The process `cloudoptim ui` becomes: import what the first page needs, then run Streamlit.

Streamlit imports a page's modules during the first session's script run, so the first visitor
of a freshly started server used to wait about a second for pandas, pyarrow, SQLAlchemy and our
services while later visitors did not. Importing them here, before the server listens, moves
that wait in front of the "CloudOptim UI on ..." line, where nobody is looking at a spinner.

The imports run one after the other in the main thread on purpose: importing in a background
thread while the server already serves could hand a page a partially initialised module.
A module that fails to import is not fatal here; the page that needs it reports the error.
"""

from __future__ import annotations

import importlib
import logging
import sys

# What the first Overview run imports (measured with sys.modules before and after it), heaviest
# first. Pages' own modules are not listed: they are small, and importing a page runs it.
PRELOAD: tuple[str, ...] = (
    "pandas",
    "pyarrow",
    "pyarrow.compute",
    "pyarrow.pandas_compat",
    "sqlalchemy.dialects.sqlite.pysqlite",
    "sqlmodel",
    "streamlit.dataframe_util",
    "streamlit.elements.arrow",
    "streamlit.elements.vega_charts",
    "app.bootstrap",
    "app.services.overview",
    "app.services.dashboard",
    "app.services.recommendations",
    "app.services.scan_requests",
    "app.ui.charts",
    "app.ui.overview",
    "plotly.graph_objects",
    "app.ui.context",
    "app.ui.format",
    "app.ui.messages",
    "app.ui.scans",
)

log = logging.getLogger(__name__)


def preload(names: tuple[str, ...] = PRELOAD) -> list[str]:
    """Import `names` in order; return those that failed (logged, never raised)."""
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:  # the page that needs it will show the real error
            log.warning("could not pre-import %s: %s", name, exc)
            failed.append(name)
    return failed


def main() -> None:
    """`python -m app.ui.serve run APP [streamlit flags]`: the `streamlit` command, preloaded."""
    preload()
    from streamlit.web import cli

    sys.argv = ["streamlit", *sys.argv[1:]]
    cli.main()


if __name__ == "__main__":
    main()
