"""The demo's rows and the DMS simulator's feed are one world: every record Boxes holds from the
demo says what the feed says, so the first sync of ``make run`` has nothing to correct — in
particular no vehicle, RO or appointment with another owner at the same DMS version."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import aliased

from boxes.dms.simulator.demo import load_dataset, profile_for
from boxes.dms.simulator.living import LivingDms
from boxes.models import Appointment, Customer, Delivery, RepairOrder, Vehicle
from tests import factories

NOW = datetime(2026, 3, 11, 13, 0, tzinfo=UTC)
VEHICLES = 200  # the simulator keeps a reserve of cars Sales delivers later


def _stored(db, dealer, model, *columns):
    owner = aliased(Customer)
    rows = db.execute(select(model.dms_id, owner.dms_id, *columns).join(owner, owner.id == model.customer_id)
                      .where(model.dealer_id == dealer.id)).all()
    return {row[0]: tuple(row[1:]) for row in rows}


def test_the_demo_and_the_simulator_feed_agree_on_every_owner_and_version(db, dealers):
    ar = dealers[0]
    factories.user(db, role="caller", dealer=ar)
    load_dataset(db, ar, 42, VEHICLES, NOW)
    db.commit()
    feed = LivingDms([profile_for(ar)], seed=42, vehicles=VEHICLES, now=NOW, reserve=40).feed(ar.code).truth

    vehicles = _stored(db, ar, Vehicle, Vehicle.mileage, Vehicle.dms_updated_at)
    assert len(vehicles) == len(feed["vehicles"]) == VEHICLES
    differ = {k: (v, feed["vehicles"][k]["customer_dms_id"]) for k, v in vehicles.items()
              if (v[0], v[1]) != (feed["vehicles"][k]["customer_dms_id"], feed["vehicles"][k]["mileage"])}
    assert differ == {}
    for model, entity in ((RepairOrder, "repair_orders"), (Appointment, "appointments"), (Delivery, "deliveries")):
        stored = _stored(db, ar, model)
        assert set(stored) == set(feed[entity]), entity
        assert {k for k, (owner,) in stored.items() if owner != feed[entity][k]["customer_dms_id"]} == set(), entity
    # Every customer of the demo is the feed's (the feed adds the reserve cars' buyers when Sales delivers).
    customers = set(db.scalars(select(Customer.dms_id).where(Customer.dealer_id == ar.id)))
    assert customers == set(feed["customers"])
