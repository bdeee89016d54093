"""Users and memberships, as a dealer's admin sees them.

An admin manages only memberships at their own dealer. "Deactivate" removes the user's roles here and
ends every open session of the user at once (the session token rotates); a user left with no dealer
at all is deactivated entirely. A user of another dealer is never shown here: their id is a 404.
"""

from __future__ import annotations

from collections import defaultdict

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from boxes.audit import record
from boxes.auth.passwords import MIN_LENGTH, hash_password
from boxes.errors import ActionError, NotFound
from boxes.models import Dealer, Membership, User
from boxes.models.tenancy import LOCALES, ROLES, new_session_token


def members(session: Session, dealer: Dealer) -> list[tuple[User, list[str]]]:
    rows = session.execute(
        select(User, Membership.role).join(Membership, Membership.user_id == User.id)
        .where(Membership.dealer_id == dealer.id).order_by(User.name, User.id, Membership.role)).all()
    roles: dict[int, list[str]] = defaultdict(list)
    users: dict[int, User] = {}
    for user, role in rows:
        users[user.id] = user
        roles[user.id].append(role)
    return [(users[uid], roles[uid]) for uid in users]


def member(session: Session, dealer: Dealer, user_id) -> tuple[User, list[str]]:
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        raise NotFound("user") from None
    roles = list(session.scalars(select(Membership.role).where(
        Membership.dealer_id == dealer.id, Membership.user_id == user_id).order_by(Membership.role)))
    if not roles:
        raise NotFound("user")
    return session.get(User, user_id), roles


def _roles(roles) -> list[str]:
    chosen = sorted(set(roles or ()))
    if not chosen:
        raise ActionError.field("roles", _l("Choose at least one role."))
    if any(role not in ROLES for role in chosen):
        raise ActionError.field("roles", _l("Unknown role."))
    return chosen


def _password(password: str) -> str:
    if len(password or "") < MIN_LENGTH:
        raise ActionError.field("password", _l("At least %(n)d characters.", n=MIN_LENGTH))
    return hash_password(password)


def add_member(session: Session, dealer: Dealer, actor: User, *, email: str, name: str, password: str,
               roles, locale: str | None = None) -> User:
    """Create the user, or give an existing user (of another dealer) roles here."""
    email = (email or "").strip().lower()
    errors = {}
    if "@" not in email or len(email) > 200:
        errors["email"] = _l("Enter a valid email address.")
    try:
        chosen = _roles(roles)
    except ActionError as exc:
        errors.update(exc.errors)
    if locale and locale not in LOCALES:
        errors["locale"] = _l("Unknown language.")
    if errors:
        raise ActionError(errors)
    user = session.scalar(select(User).where(User.email == email))
    if user is None:
        user = User(email=email, name=(name or "").strip() or email, password_hash=_password(password),
                    locale=locale or None)
        session.add(user)
        session.flush()
        record(session, dealer_id=dealer.id, user_id=actor.id, action="user.create", entity="user",
               entity_id=user.id, data={"email": email})
    else:
        if session.scalar(select(Membership.id).where(Membership.user_id == user.id,
                                                      Membership.dealer_id == dealer.id).limit(1)):
            raise ActionError.field("email", _l("This user is already a member of this dealer."))
        user.active = True
    for role in chosen:
        session.add(Membership(user_id=user.id, dealer_id=dealer.id, role=role))
    record(session, dealer_id=dealer.id, user_id=actor.id, action="membership.add", entity="user",
           entity_id=user.id, data={"roles": chosen})
    session.commit()
    return user


def set_roles(session: Session, dealer: Dealer, actor: User, user_id, roles) -> list[str]:
    user, before = member(session, dealer, user_id)
    chosen = _roles(roles)
    if user.id == actor.id and "admin" in before and "admin" not in chosen:
        raise ActionError.field("roles", _l("You cannot remove your own admin role."))
    session.execute(delete(Membership).where(Membership.user_id == user.id, Membership.dealer_id == dealer.id))
    for role in chosen:
        session.add(Membership(user_id=user.id, dealer_id=dealer.id, role=role))
    record(session, dealer_id=dealer.id, user_id=actor.id, action="membership.roles", entity="user",
           entity_id=user.id, data={"before": before, "after": chosen})
    session.commit()
    session.expire(user, ["memberships"])
    return chosen


def deactivate(session: Session, dealer: Dealer, actor: User, user_id) -> User:
    user, before = member(session, dealer, user_id)
    if user.id == actor.id:
        raise ActionError.field("user", _l("You cannot deactivate yourself."))
    session.execute(delete(Membership).where(Membership.user_id == user.id, Membership.dealer_id == dealer.id))
    elsewhere = session.scalar(select(Membership.id).where(Membership.user_id == user.id).limit(1))
    if elsewhere is None:
        user.active = False
    # Ends every open session of this user now, not when the cookie expires.
    user.session_token = new_session_token()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="membership.deactivate", entity="user",
           entity_id=user.id, data={"roles": before, "user_active": user.active})
    session.commit()
    session.expire(user, ["memberships"])
    return user


def reset_password(session: Session, dealer: Dealer, actor: User, user_id, password: str) -> User:
    user, _roles_here = member(session, dealer, user_id)
    user.password_hash = _password(password)
    user.session_token = new_session_token()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="user.password_reset", entity="user",
           entity_id=user.id)
    session.commit()
    return user
