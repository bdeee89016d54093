"""Users and memberships, as a dealer's admin sees them.

An admin manages memberships at their own dealer, never another dealer's, and never the account of
a user who does not belong to this dealer alone:

- Adding an email that has no account creates the user here. Adding one that has an account is an
  **invitation** the user accepts or declines after logging in (``/invitations``); only accepting
  creates the membership. The admin sees pending invitations and can revoke them.
- Reset password, and the global effects of deactivation (the account's ``active`` flag, ending
  every open session), reach only users whose every membership is at this dealer. For a user who
  works elsewhere too, or a group-wide user, reset is refused unless the admin is a **group admin**
  (``User.group_admin``, granted by the operator with ``boxes user group-admin``) and is audited as
  such; deactivating removes their roles here only — they lose this dealer at their next request and
  keep working elsewhere.
- A deactivated account is reactivated only by a group admin.

A user of another dealer is never shown here: their id is a 404.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session, aliased

from boxes.audit import record
from boxes.auth import sessions
from boxes.auth.passwords import MIN_LENGTH, hash_password
from boxes.errors import ActionError, NotFound
from boxes.models import Dealer, Invitation, Membership, User
from boxes.models.tenancy import LOCALES, ROLES


@dataclass(frozen=True)
class Member:
    user: User
    roles: list[str]
    # Every membership of the user is here and the user is not group-wide: their account (password,
    # active flag, sessions) is this dealer's to manage.
    only_here: bool


def members(session: Session, dealer: Dealer) -> list[Member]:
    other = aliased(Membership)
    elsewhere = exists().where(other.user_id == User.id, other.dealer_id != dealer.id)
    rows = session.execute(
        select(User, Membership.role, elsewhere).join(Membership, Membership.user_id == User.id)
        .where(Membership.dealer_id == dealer.id).order_by(User.name, User.id, Membership.role)).all()
    roles: dict[int, list[str]] = defaultdict(list)
    users: dict[int, tuple[User, bool]] = {}
    for user, role, works_elsewhere in rows:
        users[user.id] = (user, not works_elsewhere and not user.group_admin)
        roles[user.id].append(role)
    return [Member(user, roles[uid], only_here) for uid, (user, only_here) in users.items()]


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


def only_here(session: Session, dealer: Dealer, user: User) -> bool:
    """Whether the user's account is this dealer's alone to manage (see the module's docstring)."""
    if user.group_admin:
        return False
    return session.scalar(select(Membership.id).where(Membership.user_id == user.id,
                                                      Membership.dealer_id != dealer.id).limit(1)) is None


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


@dataclass(frozen=True)
class Added:
    user: User
    invitation: Invitation | None  # an existing account: invited, not yet a member


def add_member(session: Session, dealer: Dealer, actor: User, *, email: str, name: str, password: str,
               roles, locale: str | None = None) -> Added:
    """Create the user here, or invite an existing account (see the module's docstring)."""
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
        for role in chosen:
            session.add(Membership(user_id=user.id, dealer_id=dealer.id, role=role))
        record(session, dealer_id=dealer.id, user_id=actor.id, action="membership.add", entity="user",
               entity_id=user.id, data={"roles": chosen})
        session.commit()
        return Added(user, None)
    if session.scalar(select(Membership.id).where(Membership.user_id == user.id,
                                                  Membership.dealer_id == dealer.id).limit(1)):
        raise ActionError.field("email", _l("This user is already a member of this dealer."))
    if session.scalar(select(Invitation.id).where(Invitation.user_id == user.id, Invitation.dealer_id == dealer.id)):
        raise ActionError.field("email", _l("This user is already invited; the invitation waits for their answer."))
    if not user.active:
        if not actor.group_admin:
            raise ActionError.field("email", _l("This account is deactivated. Only a group administrator can "
                                                "reactivate it."))
        user.active = True
        record(session, dealer_id=dealer.id, user_id=actor.id, action="user.reactivate", entity="user",
               entity_id=user.id, data={"group_admin": True})
    invitation = Invitation(dealer_id=dealer.id, user_id=user.id, roles=chosen, invited_by_id=actor.id)
    session.add(invitation)
    session.flush()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="invitation.create", entity="user",
           entity_id=user.id, data={"roles": chosen, "invitation_id": invitation.id})
    session.commit()
    return Added(user, invitation)


def invitations(session: Session, dealer: Dealer) -> list[tuple[Invitation, str]]:
    """Pending invitations of this dealer with the email the admin typed (nothing else of the account:
    the invitee may be another dealer's user)."""
    return [tuple(row) for row in session.execute(
        select(Invitation, User.email).join(User, User.id == Invitation.user_id)
        .where(Invitation.dealer_id == dealer.id).order_by(Invitation.created_at, Invitation.id))]


def revoke_invitation(session: Session, dealer: Dealer, actor: User, invitation_id) -> None:
    invitation = session.scalar(select(Invitation).where(Invitation.id == invitation_id,
                                                         Invitation.dealer_id == dealer.id))
    if invitation is None:
        raise NotFound("invitation")
    record(session, dealer_id=dealer.id, user_id=actor.id, action="invitation.revoke", entity="user",
           entity_id=invitation.user_id, data={"roles": invitation.roles, "invitation_id": invitation.id})
    session.delete(invitation)
    session.commit()


def pending_invitations(session: Session, user: User) -> list[Invitation]:
    """The user's own invitations, from any dealer (their ``dealer`` is loaded with them)."""
    return list(session.scalars(select(Invitation).where(Invitation.user_id == user.id)
                                .order_by(Invitation.created_at, Invitation.id)))


def _own_invitation(session: Session, user: User, invitation_id) -> Invitation:
    invitation = session.scalar(select(Invitation).where(Invitation.id == invitation_id,
                                                         Invitation.user_id == user.id))
    if invitation is None:  # someone else's invitation does not exist for this user
        raise NotFound("invitation")
    return invitation


def accept_invitation(session: Session, user: User, invitation_id) -> Dealer:
    """The membership the invitation offered, created by the invitee's own consent."""
    invitation = _own_invitation(session, user, invitation_id)
    dealer = invitation.dealer
    held = set(session.scalars(select(Membership.role).where(Membership.user_id == user.id,
                                                             Membership.dealer_id == dealer.id)))
    roles = [role for role in invitation.roles if role in ROLES]
    for role in roles:
        if role not in held:
            session.add(Membership(user_id=user.id, dealer_id=dealer.id, role=role))
    record(session, dealer_id=dealer.id, user_id=user.id, action="invitation.accept", entity="user",
           entity_id=user.id, data={"roles": roles, "invited_by": invitation.invited_by_id})
    session.delete(invitation)
    session.commit()
    session.expire(user, ["memberships"])
    return dealer


def decline_invitation(session: Session, user: User, invitation_id) -> Dealer:
    invitation = _own_invitation(session, user, invitation_id)
    dealer = invitation.dealer
    record(session, dealer_id=dealer.id, user_id=user.id, action="invitation.decline", entity="user",
           entity_id=user.id, data={"roles": invitation.roles, "invited_by": invitation.invited_by_id})
    session.delete(invitation)
    session.commit()
    return dealer


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
    """Removes the user's roles here: they lose this dealer at their next request. A user who
    belonged here only is also deactivated and every open session of theirs ends now; a user who
    works elsewhere (or is group-wide) keeps their account and their sessions there."""
    user, before = member(session, dealer, user_id)
    if user.id == actor.id:
        raise ActionError.field("user", _l("You cannot deactivate yourself."))
    local = only_here(session, dealer, user)
    session.execute(delete(Membership).where(Membership.user_id == user.id, Membership.dealer_id == dealer.id))
    if local:
        user.active = False
        sessions.end_all(session, user.id)
    record(session, dealer_id=dealer.id, user_id=actor.id, action="membership.deactivate", entity="user",
           entity_id=user.id, data={"roles": before, "user_active": user.active})
    session.commit()
    session.expire(user, ["memberships"])
    return user


def reset_password(session: Session, dealer: Dealer, actor: User, user_id, password: str) -> User:
    """Sets the account's password and ends every open session of it: only for a user of this dealer
    alone, or by a group admin (audited as such)."""
    user, _roles_here = member(session, dealer, user_id)
    local = only_here(session, dealer, user)
    if not local and not actor.group_admin:
        raise ActionError.field("password", _l("This user also works for other dealers (or for the whole group): "
                                               "only a group administrator can reset their password."))
    user.password_hash = _password(password)
    sessions.end_all(session, user.id)
    record(session, dealer_id=dealer.id, user_id=actor.id, action="user.password_reset", entity="user",
           entity_id=user.id, data={"group_admin": bool(actor.group_admin), "only_here": local})
    session.commit()
    return user


def change_member(session: Session, dealer: Dealer, actor: User, user_id, operation: str, *, roles=(),
                  password: str = "") -> str:
    """The users page's buttons on one member: ``roles``, ``deactivate``, ``password``. Returns what was
    done: ``roles``, ``deactivated``, ``removed`` (a user who keeps working for other dealers), ``password``."""
    if operation == "roles":
        set_roles(session, dealer, actor, user_id, roles)
        return "roles"
    if operation == "deactivate":
        return "removed" if deactivate(session, dealer, actor, user_id).active else "deactivated"
    if operation == "password":
        reset_password(session, dealer, actor, user_id, password)
        return "password"
    raise ActionError.field("operation", _l("Unknown operation."))
