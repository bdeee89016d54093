"""Dealers (tenants), users and their memberships."""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from boxes.db import Base, UTCDateTime, utcnow

COUNTRIES = ("AR", "BR")
LOCALES = ("es", "pt_BR", "en")
ROLES = ("caller", "manager", "campaigns", "admin")
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


def new_session_token() -> str:
    return secrets.token_urlsafe(24)


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    # None: the dealer's locale.
    locale: Mapped[str | None] = mapped_column(String(8), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Part of the login cookie's identity: rotating it ends every open session of the user at once.
    session_token: Mapped[str] = mapped_column(String(64), default=new_session_token)
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

    def get_id(self) -> str:
        return f"{self.id}:{self.session_token}"


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
