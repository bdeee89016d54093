"""Integrations → OEM's forms: the connector (``admin.ConnectorInput``), where each kind of lead goes
(``admin.DistributionInput``) and the integration log's search (``log.LogSearch``). Parsed here: texts
stripped, the secret as typed, numbers and ids into numbers, dates into dates. The required settings,
the ranges, the reach of the address, the users a lead may go to and the search's bounds are
``boxes.oem.admin``'s and ``boxes.oem.log``'s rules."""

from __future__ import annotations

from wtforms import BooleanField, PasswordField, StringField

from boxes.dms.forms import NamesField, NumberSettingField
from boxes.forms import ActionForm, DayField, RowIdField, WholeNumberField, as_typed, strip
from boxes.models.oem import DISTRIBUTED_LEAD_TYPES
from boxes.oem.admin import NUMBER_FIELDS, ROUTE_KEYS, SECRETS, TEXT_FIELDS, ConnectorInput, DistributionInput
from boxes.oem.log import LogSearch


class OemConnectorForm(ActionForm):
    enabled = BooleanField()
    clear = NamesField()  # the stored secrets to remove

    def typed(self) -> ConnectorInput:
        settings = {name: self[name].data for name in (*TEXT_FIELDS, *NUMBER_FIELDS)}
        settings = {name: value for name, value in settings.items() if value not in (None, "")}
        return ConnectorInput(settings=settings, secrets={name: self[name].data for name in SECRETS},
                              cleared=self.clear.data or set(), enabled=self.enabled.data)


for _name in TEXT_FIELDS:
    setattr(OemConnectorForm, _name, StringField(filters=[strip]))
for _name in NUMBER_FIELDS:
    setattr(OemConnectorForm, _name, NumberSettingField())
for _name in SECRETS:  # write-only, as typed
    setattr(OemConnectorForm, _name, PasswordField(filters=[as_typed]))


class OemDistributionForm(ActionForm):
    first_contact_hours = WholeNumberField()
    open_leads_cap = WholeNumberField()
    retention_days = WholeNumberField()

    def typed(self) -> DistributionInput:
        routes = {lead_type: (self[f"{key}_mode"].data or None, self[f"{key}_user_id"].data)
                  for lead_type, key in ROUTE_KEYS.items()}
        return DistributionInput(routes=routes, first_contact_hours=self.first_contact_hours.data,
                                 open_leads_cap=self.open_leads_cap.data, retention_days=self.retention_days.data)


for _type in DISTRIBUTED_LEAD_TYPES:  # service_mode, service_user_id, … parts_user_id
    setattr(OemDistributionForm, f"{ROUTE_KEYS[_type]}_mode", StringField(filters=[strip]))
    setattr(OemDistributionForm, f"{ROUTE_KEYS[_type]}_user_id", RowIdField())


class LogSearchForm(ActionForm):
    """The integration log's search, from the query string (``LogSearchForm(formdata=request.args)``)."""

    lead = StringField(filters=[strip])
    start = DayField()
    end = DayField()
    failed = BooleanField()

    def typed(self) -> LogSearch:
        return LogSearch(lead=self.lead.data or "", first=self.start.data, last=self.end.data,
                         failed_only=bool(self.failed.data))
