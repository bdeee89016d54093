"""Users, logins and memberships: the service functions behind the auth views and the CLI."""

from __future__ import annotations

from dataclasses import dataclass

import redis
from sqlalchemy import Integer, String, and_, bindparam, select
from sqlalchemy.orm import Session, lazyload

from boxes.audit import record
from boxes.auth.passwords import MIN_LENGTH, hash_password, needs_rehash, verify_password
from boxes.db import utcnow
from boxes.models import Dealer, Membership, User
from boxes.models.tenancy import LOCALES, ROLES


class UserError(ValueError):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class LoginThrottle:
    """Failed logins, counted in Redis so the limits hold across every web worker, two ways:

    - per account *and* address: ``max_failures`` wrong passwords for one account from one address
      make that address wait. The account's owner, at their own address, is never refused: an
      attacker cannot lock a user out.
    - per address across accounts: failures on ``max_accounts`` different accounts from one address
      make it wait for every account (password spraying: one guess on each of many accounts).

    The address is the client's as the web server sees it: behind a reverse proxy that is the
    proxy's unless ``BOXES_PROXY_COUNT`` says to trust its X-Forwarded-For (see ``create_app``).
    Each window starts at the first failure and lasts ``window_seconds``."""

    client: redis.Redis
    max_failures: int
    max_accounts: int
    window_seconds: int

    def _account_key(self, email: str, address: str) -> str:
        return f"boxes:login-failures:{address}:{email.strip().lower()}"

    def _address_key(self, address: str) -> str:
        return f"boxes:login-failed-accounts:{address}"

    def blocked(self, email: str, address: str) -> bool:
        pipe = self.client.pipeline(transaction=False)
        pipe.get(self._account_key(email, address))
        pipe.scard(self._address_key(address))
        count, accounts = pipe.execute()
        return (count is not None and int(count) >= self.max_failures) or accounts >= self.max_accounts

    def failed(self, email: str, address: str) -> None:
        # SET NX EX then INCR, and a set whose expiry is set once: the embedded Redis (6.2) has no
        # EXPIRE ... NX, and a window that slid with every failure would never close for a busy office.
        key, accounts = self._account_key(email, address), self._address_key(address)
        pipe = self.client.pipeline()
        pipe.set(key, 0, ex=self.window_seconds, nx=True)
        pipe.incr(key)
        pipe.sadd(accounts, email.strip().lower())
        pipe.ttl(accounts)
        *_, ttl = pipe.execute()
        if ttl < 0:
            self.client.expire(accounts, self.window_seconds)

    def succeeded(self, email: str, address: str) -> None:
        self.client.delete(self._account_key(email, address))


def authenticate(session: Session, email: str, password: str) -> User | None:
    user = session.scalar(select(User).where(User.email == email.strip().lower()))
    ok = verify_password(user.password_hash if user else None, password)
    if not ok or user is None or not user.active:
        return None
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    session.commit()
    return user


def validate_password(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise UserError("password", f"at least {MIN_LENGTH} characters")


def create_user(session: Session, *, email: str, name: str, password: str, locale: str | None = None,
                memberships: list[tuple[Dealer, str]] = (), actor_id: int | None = None) -> User:
    email = email.strip().lower()
    if "@" not in email:
        raise UserError("email", "not an email address")
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise UserError("email", "a user with this email exists")
    validate_password(password)
    if locale is not None and locale not in LOCALES:
        raise UserError("locale", f"locale must be one of {', '.join(LOCALES)}")
    user = User(email=email, name=name.strip() or email, password_hash=hash_password(password), locale=locale)
    session.add(user)
    session.flush()
    for dealer, role in memberships:
        if role not in ROLES:
            raise UserError("role", f"role must be one of {', '.join(ROLES)}")
        session.add(Membership(user_id=user.id, dealer_id=dealer.id, role=role))
        record(session, dealer_id=dealer.id, user_id=actor_id, action="membership.create",
               entity="user", entity_id=user.id, data={"role": role})
    record(session, dealer_id=None, user_id=actor_id, action="user.create", entity="user",
           entity_id=user.id, data={"email": email})
    session.commit()
    return user


# Every dealer URL asks it once, with the login; built once.
_USER_AT_DEALER = (
    select(User, Dealer, Membership.role)
    .select_from(User)
    .outerjoin(Membership, and_(Membership.user_id == User.id,
                                Membership.dealer_id == select(Dealer.id).where(
                                    Dealer.code == bindparam("dealer_code", type_=String)).scalar_subquery()))
    .outerjoin(Dealer, Dealer.id == Membership.dealer_id)
    .where(User.id == bindparam("user_id", type_=Integer))
    .options(lazyload(User.memberships))
)


def user_with_membership(session: Session, user_id: int, dealer_code: str) -> tuple:
    """The user, the dealer with that code and the user's roles there, in one statement: (None, ...)
    for no such user; (user, None, no roles) when the user is not a member there."""
    rows = session.execute(_USER_AT_DEALER, {"user_id": user_id, "dealer_code": dealer_code}).all()
    if not rows:
        return None, None, frozenset()
    roles = frozenset(role for _, _, role in rows if role is not None)
    return rows[0][0], (rows[0][1] if roles else None), roles


def dealers_of(user: User) -> list[Dealer]:
    seen: dict[int, Dealer] = {}
    for m in user.memberships:
        seen.setdefault(m.dealer_id, m.dealer)
    return sorted(seen.values(), key=lambda d: d.name)


def set_locale(session: Session, user: User, locale: str) -> None:
    if locale not in LOCALES:
        raise UserError("locale", f"locale must be one of {', '.join(LOCALES)}")
    user.locale = locale
    record(session, dealer_id=None, user_id=user.id, action="user.locale", entity="user",
           entity_id=user.id, data={"locale": locale})
    session.commit()


# --- where a user lands --------------------------------------------------------------------------

def landing_dealer(user: User) -> Dealer | None:
    """The dealer a login lands on: the one the user worked at last, else the first they were given
    (their oldest membership — the demo's first dealer, whatever the names' order), None without one."""
    memberships = sorted(user.memberships, key=lambda m: m.id)
    for m in memberships:
        if m.dealer_id == user.last_dealer_id:
            return m.dealer
    return memberships[0].dealer if memberships else None


def remember_dealer(session: Session, user: User, dealer: Dealer) -> None:
    """The user is working at ``dealer`` now: the next login lands there."""
    if user.last_dealer_id == dealer.id:
        return
    previous = user.last_dealer_id
    user.last_dealer_id = dealer.id
    record(session, dealer_id=dealer.id, user_id=user.id, action="user.last_dealer", entity="user",
           entity_id=user.id, data={"from": previous})
    session.commit()
def _user_by_email(session: Session, email: str) -> User:
    user = session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None:
        raise UserError("email", "no user with this email")
    return user


def set_group_admin(session: Session, email: str, granted: bool) -> User:
    """The group-wide role, given or taken by the operator (``boxes user group-admin``): no page lets a
    dealer's admin set it."""
    user = _user_by_email(session, email)
    user.group_admin = granted
    record(session, dealer_id=None, user_id=None, action="user.group_admin", entity="user", entity_id=user.id,
           data={"group_admin": granted})
    session.commit()
    return user


def operator_reset_password(session: Session, email: str, password: str) -> User:
    """The operator's reset (``boxes user reset-password``): any account, every open session ends,
    audited with no acting user. Reactivates the account too, which is what the operator is asked
    for when someone's only dealer deactivated them by mistake."""
    from boxes.auth import sessions

    user = _user_by_email(session, email)
    validate_password(password)
    user.password_hash = hash_password(password)
    reactivated = not user.active
    user.active = True
    sessions.end_all(session, user.id)
    record(session, dealer_id=None, user_id=None, action="user.password_reset", entity="user", entity_id=user.id,
           data={"operator": True, "reactivated": reactivated})
    session.commit()
    return user
