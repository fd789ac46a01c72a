"""Office-hours engine: scale idle non-production namespaces to zero outside office hours.

`engine.OfficeHoursEngine` is the entry point (registered by the lead in the engine registry); the
other modules are its parts: settings, gates (what is never scheduled, the namespace timezone),
idle (the hour-of-week CPU profile, the office hours, the idle test), costs (replica prices from
the price book) and report (rationale, evidence).
"""

from engines.office_hours.engine import OfficeHoursEngine
from engines.office_hours.settings import OfficeHoursSettings

__all__ = ["OfficeHoursEngine", "OfficeHoursSettings"]
