"""The OEM lead integration (seed 001): leads from the car maker's CRM (a Salesforce org) become
opportunities, and their status goes back as triggers (Stage/Substage).

Today this package holds its two building blocks, independent of the storage that comes later:

- ``api``: the OEM CRM's vocabulary — paths, Salesforce dates and ids, lead types, the Stage and
  Substage picklists — shared by both sides;
- ``leads``: a lead of the feed, read and checked (``parse_lead``);
- ``client``: the transport (OAuth2 token, timeouts, retries, pacing, typed errors), usable from an
  RQ job without Flask;
- ``simulator/``: ``boxes oem-simulator``, the OEM peer of the tests, the demo and the benchmarks.

See docs/integrations.md ("The OEM CRM").
"""
