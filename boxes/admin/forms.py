"""The admin page's forms: a new member (or the invitation of an existing account) and the changes to a
member (roles, deactivation, password). Parsed here; who may do what to whom is ``boxes.admin.users``'."""

from __future__ import annotations

from wtforms import PasswordField, SelectMultipleField, StringField
from wtforms.validators import Length

from boxes import inputs
from boxes.forms import ActionForm, as_typed, strip

NAME_MAX = 200  # User.name


class AddMemberForm(ActionForm):
    email = StringField(filters=[strip])
    name = StringField(filters=[strip], validators=[Length(max=NAME_MAX, message=inputs.too_long(NAME_MAX))])
    password = PasswordField(filters=[as_typed])
    # Which roles exist is the service's rule ("Unknown role."), not a second message here.
    roles = SelectMultipleField(validate_choice=False)
    locale = StringField(filters=[strip])


class ChangeMemberForm(ActionForm):
    operation = StringField()
    roles = SelectMultipleField(validate_choice=False)
    password = PasswordField(filters=[as_typed])
