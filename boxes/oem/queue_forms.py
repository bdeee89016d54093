"""The distribution queue's form (``boxes.oem.queue_views``): the leads ticked, each as the version the
manager saw, how to hand them out and to whom. Parsed here; what is allowed is ``boxes.oem.queue``'s rule."""

from __future__ import annotations

from wtforms import Field, StringField
from wtforms.widgets import CheckboxInput

from boxes import inputs
from boxes.forms import NO_ROW, ActionForm, RowIdField, strip

MAX_SELECTED = 1000  # more than a queue page shows; beyond, the rest is ignored


class LeadSelectionField(Field):
    """Ticked checkboxes, each ``<opportunity id>:<version>`` → ``[(id, version)]``. A value that is no id
    at all becomes ``NO_ROW`` (the service answers it as any id it does not know: 404); a missing or bad
    version is ``NO_ROW`` too (a version no row has: "changed by someone else")."""

    widget = CheckboxInput()

    def process_formdata(self, valuelist):
        self.data = []
        for raw in valuelist[:MAX_SELECTED]:
            row, _, version = str(raw).partition(":")
            self.data.append((inputs.row_id(row) or NO_ROW, inputs.row_id(version) or NO_ROW))

    def _value(self):
        return ""


class DistributeForm(ActionForm):
    leads = LeadSelectionField(default=())
    how = StringField(filters=[strip])  # the button pressed: "assign" or "round_robin"
    user_id = RowIdField()
