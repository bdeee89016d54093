from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length, ValidationError

from boxes.inputs import UNSTORABLE, storable
from boxes.models.tenancy import LOCALES


def _storable(form, field) -> None:
    """No text a database cannot take (a NUL) reaches the user lookup (boxes.inputs)."""
    if field.data and not storable(field.data):
        raise ValidationError(UNSTORABLE)


class LoginForm(FlaskForm):
    email = EmailField(_l("Email"), validators=[DataRequired(_l("Enter your email.")), Length(max=200), _storable])
    password = PasswordField(_l("Password"), validators=[DataRequired(_l("Enter your password.")),
                                                         Length(max=200)])


class LocaleForm(FlaskForm):
    locale = SelectField(_l("Language"), choices=list(LOCALES))
    next = StringField()  # the page to go back to; only a same-site path is followed (safe_next)
