"""The OEM integration log's upkeep (queue ``oem``): thin, the rule is ``boxes.oem.log``.

- ``prune_oem_logs()``: cron, daily; deletes each dealer's integration log rows older than its
  retention (Integrations → OEM, "Keep the integration log", default 180 days).
"""

from __future__ import annotations

from jobs.runtime import job_context

# Nothing of boxes at import time: the cron process imports this module for its table (jobs/cron.py)
# and stays free of Flask.
QUEUE = "oem"


def prune_oem_logs() -> dict:
    from boxes.db import utcnow
    from boxes.oem.log import prune_all

    with job_context() as job:
        return {"deleted": prune_all(job.session, utcnow())}
