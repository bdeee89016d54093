"""Login sessions kept on the server: one row per login and browser (``LoginSession``).

The signed cookie carries a random secret; the table keeps its SHA-256 only. A session ends when
the user logs out, when their password is reset or their account deactivated, when it has been idle
longer than ``session_idle_minutes`` or when it is older than ``session_max_hours`` — whatever the
cookie says. The user loader reads the session with the user (and, on a dealer URL, the user's roles
there) in the one statement it already ran: no extra round trip per request. "Last seen" is written
at most every ``TOUCH_EVERY``, so a board polling /badges every minute writes a few rows an hour.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, String, and_, bindparam, delete, or_, select, update
from sqlalchemy.orm import Session, lazyload

from boxes.db import UTCDateTime, utcnow
from boxes.models import Dealer, LoginSession, Membership, User

# How stale "last seen" may get before a request writes it: the idle lifetime is exact to this much.
TOUCH_EVERY = timedelta(minutes=5)


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    absolute: timedelta

    @classmethod
    def of(cls, config) -> Lifetimes:
        return cls(idle=timedelta(minutes=config.session_idle_minutes),
                   absolute=timedelta(hours=config.session_max_hours))

    def alive(self, created_at: datetime, last_seen_at: datetime, ended_at: datetime | None,
              now: datetime) -> bool:
        return ended_at is None and now - last_seen_at < self.idle and now - created_at < self.absolute


def _hash(identity: str) -> str:
    return hashlib.sha256(identity.encode()).hexdigest()


def start(session: Session, user: User, lifetimes: Lifetimes, *, user_agent: str = "", address: str = "") -> str:
    """A new login session for ``user``; returns the identity the cookie carries (and sets it on the
    user for Flask-Login's ``login_user``). The user's ended and expired sessions are removed here,
    so the table holds about one row per browser in use."""
    now = utcnow()
    session.execute(delete(LoginSession).where(
        LoginSession.user_id == user.id,
        or_(LoginSession.ended_at.is_not(None), LoginSession.created_at < now - lifetimes.absolute,
            LoginSession.last_seen_at < now - lifetimes.idle)))
    identity = secrets.token_urlsafe(32)
    session.add(LoginSession(user_id=user.id, token_hash=_hash(identity), created_at=now, last_seen_at=now,
                             user_agent=(user_agent or "")[:200], address=(address or "")[:64]))
    session.commit()
    user.login_identity = identity
    return identity


def end(session: Session, identity: str | None) -> None:
    """Logout: this browser's session ends on the server, so a copy of its cookie is worth nothing."""
    if not identity:
        return
    session.execute(update(LoginSession).where(LoginSession.token_hash == _hash(identity),
                                               LoginSession.ended_at.is_(None)).values(ended_at=utcnow()))
    session.commit()


def end_all(session: Session, user_id: int) -> None:
    """Every open session of the user ends (password reset, deactivation). The caller commits, with
    the change that made it necessary."""
    session.execute(update(LoginSession).where(LoginSession.user_id == user_id, LoginSession.ended_at.is_(None))
                    .values(ended_at=utcnow()))


_SESSION = (LoginSession.id, LoginSession.created_at, LoginSession.last_seen_at, LoginSession.ended_at)
_TOKEN = bindparam("token_hash", type_=String)

# Both built once (the board is performance-critical); their memberships load only when a page reads
# them (the dealer switcher).
_USER = (select(User, *_SESSION).join(LoginSession, LoginSession.user_id == User.id)
         .where(LoginSession.token_hash == _TOKEN).options(lazyload(User.memberships)))
_USER_AT_DEALER = (
    select(User, *_SESSION, Dealer, Membership.role)
    .select_from(LoginSession)
    .join(User, User.id == LoginSession.user_id)
    .outerjoin(Membership, and_(Membership.user_id == User.id,
                                Membership.dealer_id == select(Dealer.id).where(
                                    Dealer.code == bindparam("dealer_code", type_=String)).scalar_subquery()))
    .outerjoin(Dealer, Dealer.id == Membership.dealer_id)
    .where(LoginSession.token_hash == _TOKEN)
    .options(lazyload(User.memberships))
)
_TOUCH = (update(LoginSession).where(LoginSession.id == bindparam("session_id", type_=Integer))
          .values(last_seen_at=bindparam("now", type_=UTCDateTime)))


def load(session: Session, identity: str, dealer_code: str | None, lifetimes: Lifetimes):
    """The logged-in user of this cookie identity, or None (no such session, ended, expired, inactive
    user). With a dealer code also the dealer and the user's roles there: ``(user, dealer, roles)``,
    dealer None and no roles when the user is not a member there."""
    if not identity:
        return None
    params = {"token_hash": _hash(identity)}
    if dealer_code is None:
        row = session.execute(_USER, params).first()
        rows = [row] if row is not None else []
    else:
        rows = session.execute(_USER_AT_DEALER, {**params, "dealer_code": dealer_code}).all()
    if not rows:
        return None
    user, session_id, created_at, last_seen_at, ended_at = rows[0][:5]
    now = utcnow()
    if not user.active or not lifetimes.alive(created_at, last_seen_at, ended_at, now):
        return None
    if now - last_seen_at >= TOUCH_EVERY:
        session.execute(_TOUCH, {"session_id": session_id, "now": now})
        session.commit()
    user.login_identity = identity
    if dealer_code is None:
        return user, None, frozenset()
    roles = frozenset(row[-1] for row in rows if row[-1] is not None)
    return user, (rows[0][5] if roles else None), roles
