"""What each row action's form posts, parsed at the edge (``boxes.forms``' fields): ids, versions, scores
and the dealer's wall-clock dates become typed, bounded values; texts arrive stripped.

A value that cannot even be parsed is answered like any other bad input (422, the message next to the
field) and no service is called. What the values must be — a date in the future, a reason of this
dealer, an outcome the call can have, a row still open — is the services' rule
(``opportunities``, ``appointments``, ``contact``…), which every other caller (campaign jobs, the
sync) goes through too.
"""

from __future__ import annotations

from wtforms import StringField, TextAreaField

from boxes.forms import ActionForm, LocalDateTimeField, RowIdField, ScoreField, strip


class VersionedForm(ActionForm):
    """An action on a row edited by several callers: the version the caller saw (optimistic locking)."""

    version = RowIdField()


class CallForm(VersionedForm):
    """Register call, on any row; the courtesy call adds its satisfaction score."""

    channel = StringField(filters=[strip])
    outcome = StringField(filters=[strip])
    comment = TextAreaField(filters=[strip])
    next_contact_at = LocalDateTimeField()


class CourtesyCallForm(CallForm):
    satisfaction = ScoreField()


class OpportunityForm(ActionForm):
    """Create opportunity (from any row) and recovery opportunity (from a missed appointment)."""

    due_at = LocalDateTimeField()
    note = TextAreaField(filters=[strip])
    assigned_user_id = RowIdField()


class DiscardForm(VersionedForm):
    reason_id = RowIdField()
    comment = TextAreaField(filters=[strip])


class ReplanForm(VersionedForm):
    due_at = LocalDateTimeField()
    comment = TextAreaField(filters=[strip])


class SoldForm(VersionedForm):
    appointment_at = LocalDateTimeField()
    comment = TextAreaField(filters=[strip])


class ConfirmForm(VersionedForm):
    comment = TextAreaField(filters=[strip])


class UnitDeliveredForm(ActionForm):
    """Unit delivered: nothing to fill, the click is the fact."""
