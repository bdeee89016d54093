"""Email to car owners: reminders and booking confirmations, sent by RQ jobs exactly once.

- ``settings``: the SMTP server and reminder window that apply to a dealer (its own or the global).
- ``content``: subject, HTML and text bodies in the dealer's locale, the ``.ics`` invite, Message-ID.
- ``outbox``: the service functions the views and jobs call: request a reminder or a booking
  confirmation (the idempotent row + the job), the Outbox listing, the recovery sweep.
- ``sending``: what the job does: claim the row, check the recipient, limits, SMTP, record the result.
- ``automatic``: which appointments get an automatic reminder now.
- ``views``: the reminder button/status on the board and the admin Outbox and mail settings pages.

See ``docs/messaging.md`` for the exactly-once design.
"""
