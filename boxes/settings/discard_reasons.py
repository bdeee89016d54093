"""The discard-reason catalog: per dealer, labels per locale, deactivated (never deleted) once used.

Each reason may be mapped to one of the OEM's fixed lost-sale reasons (``boxes.oem.api.LOST_SALE_REASONS``,
seed 001's "Motivo no CRM"): what a discarded OEM lead's VPE trigger sends as its Substage. An OEM lead
cannot be discarded with an unmapped reason (``boxes.board.opportunities.discard``), and the OEM
integration cannot be enabled while an active reason is unmapped (``boxes.oem.admin.save``, from
:func:`without_oem_reason`)."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from boxes import inputs
from boxes.audit import record
from boxes.errors import ActionError
from boxes.models import Dealer, DiscardReason, Opportunity, User
from boxes.models.opportunities import DEFAULT_DISCARD_REASONS
from boxes.oem.api import LOST_SALE_REASONS
from boxes.owned import get_owned

# Every new dealer starts with the product's localized defaults (boxes.models.opportunities).
DEFAULTS = DEFAULT_DISCARD_REASONS
MAX_LABEL = 120
MAX_OEM_REASON = 80  # DiscardReason.oem_reason


def seed_defaults(session: Session, dealer: Dealer) -> None:
    existing = set(session.scalars(select(DiscardReason.code).where(DiscardReason.dealer_id == dealer.id)))
    for position, (code, es, pt, en, oem) in enumerate(DEFAULTS):
        if code not in existing:
            session.add(DiscardReason(dealer_id=dealer.id, code=code, label_es=es, label_pt_br=pt, label_en=en,
                                      oem_reason=oem, position=position))


def catalog(session: Session, dealer: Dealer) -> list[tuple[DiscardReason, int]]:
    """Every reason with the number of opportunities discarded with it."""
    used = (select(Opportunity.discard_reason_id, func.count().label("n"))
            .where(Opportunity.dealer_id == dealer.id, Opportunity.discard_reason_id.is_not(None))
            .group_by(Opportunity.discard_reason_id).subquery())
    return list(session.execute(
        select(DiscardReason, func.coalesce(used.c.n, 0))
        .outerjoin(used, used.c.discard_reason_id == DiscardReason.id)
        .where(DiscardReason.dealer_id == dealer.id)
        .order_by(DiscardReason.active.desc(), DiscardReason.position, DiscardReason.id)))


def without_oem_reason(session: Session, dealer: Dealer) -> list[DiscardReason]:
    """The active reasons a caller may choose that map to none of the OEM's reasons (none, or a value
    typed before the OEM's list was enforced), in the catalog's order."""
    return list(session.scalars(select(DiscardReason).where(
        DiscardReason.dealer_id == dealer.id, DiscardReason.active.is_(True),
        DiscardReason.oem_reason.is_(None) | DiscardReason.oem_reason.not_in(LOST_SALE_REASONS))
        .order_by(DiscardReason.position, DiscardReason.id)))


def _labels(label_es: str, label_pt_br: str, label_en: str, oem_reason: str = "") -> dict[str, str]:
    """The labels (and the OEM reason), bounded by their columns (boxes.inputs)."""
    errors: dict = {}
    required = _l("Enter the reason in this language.")
    labels = {key: inputs.text(value, key, errors, max_len=MAX_LABEL, required=required)
              for key, value in (("label_es", label_es), ("label_pt_br", label_pt_br), ("label_en", label_en))}
    oem = inputs.text(oem_reason, "oem_reason", errors, max_len=MAX_OEM_REASON)
    if oem and oem not in LOST_SALE_REASONS:
        errors["oem_reason"] = _l("Choose a reason from the OEM's list, or none.")
    if errors:
        raise ActionError(errors)
    return labels | {"oem_reason": oem}


def add(session: Session, dealer: Dealer, actor: User, *, label_es: str, label_pt_br: str, label_en: str,
        oem_reason: str = "") -> DiscardReason:
    labels = _labels(label_es, label_pt_br, label_en, oem_reason)
    oem_reason = labels.pop("oem_reason")
    code = re.sub(r"[^a-z0-9]+", "_", labels["label_en"].lower()).strip("_")[:40] or "reason"
    taken = set(session.scalars(select(DiscardReason.code).where(DiscardReason.dealer_id == dealer.id)))
    base, n = code, 2
    while code in taken:
        code, n = f"{base[:36]}_{n}", n + 1
    position = (session.scalar(select(func.max(DiscardReason.position))
                               .where(DiscardReason.dealer_id == dealer.id)) or 0) + 1
    reason = DiscardReason(dealer_id=dealer.id, code=code, oem_reason=oem_reason or None,
                           position=position, **labels)
    session.add(reason)
    session.flush()
    record(session, dealer_id=dealer.id, user_id=actor.id, action="discard_reason.add", entity="discard_reason",
           entity_id=reason.id, data=labels)
    session.commit()
    return reason


def rename(session: Session, dealer: Dealer, actor: User, reason_id, *, label_es: str, label_pt_br: str,
           label_en: str, oem_reason: str = "") -> DiscardReason:
    reason = get_owned(session, DiscardReason, dealer.id, reason_id)
    labels = _labels(label_es, label_pt_br, label_en, oem_reason)
    oem_reason = labels.pop("oem_reason")
    before = {"label_es": reason.label_es, "label_pt_br": reason.label_pt_br, "label_en": reason.label_en,
              "oem_reason": reason.oem_reason}
    for key, value in labels.items():
        setattr(reason, key, value)
    reason.oem_reason = oem_reason or None
    record(session, dealer_id=dealer.id, user_id=actor.id, action="discard_reason.rename",
           entity="discard_reason", entity_id=reason.id, data={"before": before, "after": labels})
    session.commit()
    return reason


def set_active(session: Session, dealer: Dealer, actor: User, reason_id, active: bool) -> DiscardReason:
    reason = get_owned(session, DiscardReason, dealer.id, reason_id)
    reason.active = active
    record(session, dealer_id=dealer.id, user_id=actor.id,
           action="discard_reason.activate" if active else "discard_reason.deactivate",
           entity="discard_reason", entity_id=reason.id)
    session.commit()
    return reason


def delete(session: Session, dealer: Dealer, actor: User, reason_id) -> None:
    """Only a reason nobody used can go; a used one is deactivated instead, so history keeps its reason."""
    reason = get_owned(session, DiscardReason, dealer.id, reason_id)
    used = session.scalar(select(func.count()).select_from(Opportunity).where(
        Opportunity.dealer_id == dealer.id, Opportunity.discard_reason_id == reason.id))
    if used:
        raise ActionError.field("reason", _l("This reason was used %(n)d times: deactivate it instead.", n=used))
    record(session, dealer_id=dealer.id, user_id=actor.id, action="discard_reason.delete",
           entity="discard_reason", entity_id=reason.id, data={"code": reason.code})
    session.delete(reason)
    session.commit()


def change(session: Session, dealer: Dealer, actor: User, reason_id, operation: str, **labels) -> None:
    """The catalog's buttons on one reason: ``rename`` (with the labels), ``activate``, ``deactivate``,
    ``delete``."""
    if operation == "rename":
        rename(session, dealer, actor, reason_id, **labels)
    elif operation in ("activate", "deactivate"):
        set_active(session, dealer, actor, reason_id, operation == "activate")
    elif operation == "delete":
        delete(session, dealer, actor, reason_id)
    else:
        raise ActionError.field("operation", _l("Unknown operation."))
