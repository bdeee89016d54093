"""Feed-v1 record validation: each bad record gets a readable reason, never an exception."""

from __future__ import annotations

import pytest

from boxes.dms.records import RecordError, parse

GOOD_RO = {"dms_id": "R1", "number": "1", "vehicle_dms_id": "V1", "opened_at": "2025-03-10T09:00:00-03:00",
           "dms_updated_at": "2025-03-10T12:00:00Z", "lines": [{"work_done": "Service"}]}


def test_good_records_parse_to_utc():
    ro = parse("repair_orders", GOOD_RO)
    assert ro.opened_at.isoformat() == "2025-03-10T12:00:00+00:00" and ro.status == "open"
    assert ro.lines[0].line_no == 1


@pytest.mark.parametrize(("entity", "raw", "reason"), [
    ("customers", {"dms_id": "C1", "dms_updated_at": "2025-01-01T00:00:00Z"}, "name: missing"),
    ("customers", {"dms_id": "C1", "name": "A", "dms_updated_at": "2025-01-01 10:00"}, "has no UTC offset"),
    ("customers", ["not", "an", "object"], "expected a JSON object"),
    ("vehicles", {"dms_id": "V1", "vin": "IOQ", "dms_updated_at": "2025-01-01T00:00:00Z"}, "is not a VIN"),
    ("vehicles", {"dms_id": "V1", "dms_updated_at": "2025-01-01T00:00:00Z"}, "needs at least one of them"),
    ("appointments", {"dms_id": "A1", "vehicle_dms_id": "V1", "scheduled_at": "2025-01-01T09:00:00Z",
                      "status": "teleported", "dms_updated_at": "2025-01-01T00:00:00Z"}, "unknown value 'teleported'"),
    ("repair_orders", {**GOOD_RO, "opened_at": "32/13/2025 25:61"}, "is not an ISO 8601"),
    ("repair_orders", {**GOOD_RO, "delivered_at": "2025-03-09T00:00:00Z"}, "before opened_at"),
    ("repair_orders", {**GOOD_RO, "lines": [{"work_done": "a", "line_no": 1}, {"work_done": "b", "line_no": 1}]},
     "repeated"),
    ("repair_orders", {**GOOD_RO, "mileage": "lots"}, "is not a whole number"),
])
def test_bad_records_have_a_readable_reason(entity, raw, reason):
    with pytest.raises(RecordError, match=reason):
        parse(entity, raw)
