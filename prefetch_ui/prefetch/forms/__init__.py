"""Every form operators fill in, checked here and turned into what the services take.

One module per form (the plan editor, the new job, the batch builder with its generator), and the
token every create form carries. Times are wall-clock times in a named zone.
"""

from __future__ import annotations

from .builder import MAX_ROWS, BuilderForm, BuilderRow, PlanGeneratorForm, new_row_id, times_moved_to_zone
from .new_job import URL_SOURCES, NewJobForm
from .plan import PlanWindowForm
from .tokens import FORM_TOKEN, form_token_or_new, new_form_token

__all__ = [
    "FORM_TOKEN",
    "MAX_ROWS",
    "URL_SOURCES",
    "BuilderForm",
    "BuilderRow",
    "NewJobForm",
    "PlanGeneratorForm",
    "PlanWindowForm",
    "form_token_or_new",
    "new_form_token",
    "new_row_id",
    "times_moved_to_zone",
]
