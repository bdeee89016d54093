"""The cron table, loaded by the installation's one cron process (``boxes cron``, i.e.
``rq cron jobs.cron``). Every entry enqueues a job on a queue; a worker runs it.

``interval`` jobs run once at start and then every ``interval`` seconds.
"""

from __future__ import annotations

import os

from rq import cron

from jobs.campaigns import recover_campaigns
from jobs.mail import recover_messages, send_due_reminders
from jobs.oem_import import import_all
from jobs.oem_log import prune_oem_logs
from jobs.oem_relay import relay_all
from jobs.runtime import record_heartbeat
from jobs.sync import sync_all

# Liveness of cron + worker, for /healthz and operators: `redis-cli GET boxes:cron:heartbeat`.
cron.register(record_heartbeat, queue_name="default", interval=60, job_timeout=30, result_ttl=300)

# Email: the automatic reminders of every dealer (each dealer's window and hour are in its own time
# zone; running often only makes them punctual), and the sweep that re-enqueues messages whose worker
# died after claiming them or whose job was lost.
cron.register(send_due_reminders, queue_name="mail", interval=300, job_timeout=240, result_ttl=3600)
cron.register(recover_messages, queue_name="mail", interval=60, job_timeout=50, result_ttl=600)

# The DMS sync: queues one job per dealer with an enabled connector (queue "sync", with Retry), every
# BOXES_SYNC_INTERVAL_MINUTES (read from the environment as boxes.config does: no secret key needed here).
cron.register(sync_all, queue_name="sync", interval=60 * int(os.environ.get("BOXES_SYNC_INTERVAL_MINUTES") or 5),
              job_timeout=120, result_ttl=3600)

# Campaigns: the sweep that resumes a campaign whose job died (its worker was killed) or was never queued
# (Redis was down when it was saved), or marks it failed after too many restarts (boxes/campaigns/service.py).
cron.register(recover_campaigns, queue_name="campaigns", interval=60, job_timeout=50, result_ttl=600)

# The OEM lead import: queues one job per dealer with an enabled OEM connector (queue "oem", with Retry),
# every BOXES_OEM_IMPORT_INTERVAL_MINUTES.
cron.register(import_all, queue_name="oem",
              interval=60 * int(os.environ.get("BOXES_OEM_IMPORT_INTERVAL_MINUTES") or 5),
              job_timeout=120, result_ttl=3600)

# The OEM status relay: every minute, each dealer with a status event due (new, or whose retry time has
# come) gets one relay job on "oem" (events are sent in order per lead; boxes/oem/relay.py).
cron.register(relay_all, queue_name="oem", interval=60, job_timeout=50, result_ttl=600)

# The OEM integration log: rows older than each dealer's retention go, once a day.
cron.register(prune_oem_logs, queue_name="oem", interval=24 * 3600, job_timeout=600, result_ttl=24 * 3600)

# Later issues register here:
