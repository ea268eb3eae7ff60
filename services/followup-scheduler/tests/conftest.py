"""What the scheduler's rule tests share."""

from __future__ import annotations

from followup_scheduler.business_calendar import BusinessCalendar

# Due dates moved off non-working days (production), and left where the tables put them (the tables' own cells).
CALENDAR = BusinessCalendar(shift_off_non_working_days=True)
NO_SHIFT = BusinessCalendar(shift_off_non_working_days=False)
