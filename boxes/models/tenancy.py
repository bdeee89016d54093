"""Dealers (tenants), users and their memberships."""

from __future__ import annotations

from datetime import datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy import false as sa_false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from boxes.db import Base, DealerOwned, UTCDateTime, utcnow

COUNTRIES = ("AR", "BR")
LOCALES = ("es", "pt_BR", "en")
# Each language by its own name (the language menu reads the same in every language).
LOCALE_LABELS = {"es": "Español", "pt_BR": "Português (Brasil)", "en": "English"}
ROLES = ("caller", "manager", "campaigns", "admin")
ROLE_LABELS = {"caller": _l("Caller"), "manager": _l("Manager"), "campaigns": _l("Campaigns"), "admin": _l("Admin")}
DEFAULT_WORKING_HOURS = {str(day): ["08:00", "18:00"] for day in range(5)} | {"5": ["08:00", "12:00"]}


class Dealer(Base):
    __tablename__ = "dealer"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))
    time_zone: Mapped[str] = mapped_column(String(64))
    locale: Mapped[str] = mapped_column(String(8))
    workshop_address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    first_service_months: Mapped[int] = mapped_column(Integer, default=6)
    first_service_km: Mapped[int] = mapped_column(Integer, default=10000)
    support_contact: Mapped[str] = mapped_column(String(200), default="")
    # Opening hours per weekday (0 = Monday): {"0": ["08:00", "18:00"], ...}; a missing day is closed.
    working_hours: Mapped[dict] = mapped_column(JSON, default=lambda: dict(DEFAULT_WORKING_HOURS))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    # None: the dealer's locale.
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A group-wide role: may reset the password of a user who works for several dealers. Granted only
    # by the operator (`boxes user group-admin`); no page lets a dealer's admin set it.
    group_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=sa_false())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The dealer this user worked at last: where the next login lands (see ``auth.service.landing_dealer``).
    last_dealer_id: Mapped[int | None] = mapped_column(ForeignKey("dealer.id", ondelete="SET NULL"), nullable=True)

    memberships: Mapped[list[Membership]] = relationship(back_populates="user", lazy="selectin")

    # Flask-Login protocol
    @property
    def is_active(self) -> bool:
        return self.active

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def is_anonymous(self) -> bool:
        return False

    # The login session this request runs in (``boxes.auth.sessions``): what Flask-Login keeps in the
    # signed cookie. Not a column: a user has one per browser they logged in from.
    login_identity = None  # str, set by boxes.auth.sessions

    def get_id(self) -> str:
        if not self.login_identity:
            raise RuntimeError("log in through boxes.auth.sessions.start(): a user has no identity of its own")
        return self.login_identity


class Membership(Base):
    """User × dealer × role. Scoped by user, not by the current dealer: it drives the switcher."""

    __tablename__ = "membership"
    __table_args__ = (UniqueConstraint("user_id", "dealer_id", "role"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    dealer_id: Mapped[int] = mapped_column(ForeignKey("dealer.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))

    user: Mapped[User] = relationship(back_populates="memberships")
    dealer: Mapped[Dealer] = relationship(lazy="joined")


class LoginSession(Base):
    """One login in one browser. The cookie carries a random secret; only its SHA-256 is stored, so a
    copy of the table logs nobody in. Ending it (logout, password reset, deactivation) or letting it
    pass its idle or absolute lifetime logs that browser out at its next request."""

    __tablename__ = "login_session"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Written at most every few minutes (``sessions.TOUCH_EVERY``), not on every request.
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(64), default="")


class Invitation(DealerOwned, Base):
    """A dealer's offer of roles to a user who already has an account (who may work for another
    dealer): no membership exists until the user accepts it. One pending invitation per user and
    dealer; accepting, declining or revoking deletes it (the audit trail keeps the history)."""

    __tablename__ = "invitation"
    __table_args__ = (UniqueConstraint("dealer_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    roles: Mapped[list] = mapped_column(JSON, default=list)
    invited_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"),
                                                      nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    dealer: Mapped[Dealer] = relationship(lazy="joined")
