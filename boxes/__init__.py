"""Boxes: the active after-sales scheduling board.

``create_app`` is the only way to build the web application; ``app.py`` at the root calls it.
"""

from __future__ import annotations

from datetime import timedelta

from flask import Flask

from boxes.config import ROOT, Config


def create_app(config: Config | None = None) -> Flask:
    # Imported here, not at the top: every ``import boxes.<module>`` (a job, the CLI, a migration) runs
    # this package first and must not load the whole web app with it.
    from boxes import web
    from boxes.admin.views import bp as admin_bp
    from boxes.assets import bp as assets_bp
    from boxes.auth.views import bp as auth_bp
    from boxes.board import actions, badges, views  # noqa: F401  (actions, views: their routes go on the board's bp)
    from boxes.board import bp as board_bp
    from boxes.campaigns.views import bp as campaigns_bp
    from boxes.dms.views import bp as integrations_bp
    from boxes.health import bp as health_bp
    from boxes.messaging.views import bp as messaging_bp
    from boxes.models import campaigns, integration, messaging, oem, opportunities, tenancy, workshop
    from boxes.oem.queue_views import bp as lead_queue_bp
    from boxes.oem.views import bp as oem_bp
    from boxes.reports.views import bp as reports_bp
    from boxes.settings.views import bp as settings_bp

    config = config or Config.from_env()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(config.instance_dir),
    )
    app.config.update(
        BOXES=config,
        SECRET_KEY=config.secret_key,
        TESTING=config.testing,
        # Dashboards stay open all day: a CSRF token lives as long as the longest login (not Flask-WTF's
        # hour); it is tied to the cookie's session, which a new login replaces and logout clears.
        WTF_CSRF_TIME_LIMIT=config.session_max_hours * 3600,
        # The signed cookie is refused after the absolute login lifetime (Flask's default is 31 days;
        # the server-side login session ends sooner on its own) and not re-sent on every poll.
        PERMANENT_SESSION_LIFETIME=timedelta(hours=config.session_max_hours),
        SESSION_REFRESH_EACH_REQUEST=False,
        WTF_CSRF_SSL_STRICT=not config.embedded,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=not config.embedded,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=not config.embedded,
        BABEL_DEFAULT_LOCALE="es",
        BABEL_TRANSLATION_DIRECTORIES=str(ROOT / "boxes" / "translations"),
        # A request is at most 16 MB (an uploaded VIN/plate list: 100,000 entries are ~2 MB); its
        # text fields together at most 4 MB (a pasted list of 100,000 VINs); beyond: a localized 413.
        MAX_CONTENT_LENGTH=16 * 1024 * 1024,
        MAX_FORM_MEMORY_SIZE=4 * 1024 * 1024,
    )
    if config.proxy_count:
        from werkzeug.middleware.proxy_fix import ProxyFix

        # Only the proxies the operator declared: otherwise anyone could name their own address in
        # X-Forwarded-For (and walk around the login throttle). Never X-Forwarded-Host: a proxy that
        # does not set it would pass the client's value through.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=config.proxy_count, x_proto=config.proxy_count)
    web.init_app(app, config)
    # Each list of values with its labels, defined beside the values, for every template.
    app.jinja_env.globals.update(
        ORIGIN_LABELS=opportunities.ORIGIN_LABELS, OPPORTUNITY_STATUS_LABELS=opportunities.OPPORTUNITY_STATUS_LABELS,
        CHANNEL_LABELS=opportunities.CHANNEL_LABELS, OUTCOME_LABELS=opportunities.OUTCOME_LABELS,
        APPOINTMENT_STATUS_LABELS=workshop.APPOINTMENT_STATUS_LABELS,
        LOCALE_LABELS=tenancy.LOCALE_LABELS, ROLE_LABELS=tenancy.ROLE_LABELS,
        CAMPAIGN_KIND_LABELS=campaigns.CAMPAIGN_KIND_LABELS, CAMPAIGN_STATUS_LABELS=campaigns.CAMPAIGN_STATUS_LABELS,
        CAMPAIGN_FAILURE_LABELS=campaigns.CAMPAIGN_FAILURE_LABELS,
        MESSAGE_KIND_LABELS=messaging.MESSAGE_KIND_LABELS, MESSAGE_ORIGIN_LABELS=messaging.MESSAGE_ORIGIN_LABELS,
        MESSAGE_REASON_LABELS=messaging.MESSAGE_REASON_LABELS, SMTP_SECURITY_LABELS=messaging.SMTP_SECURITY_LABELS,
        DMS_ENTITY_LABELS=integration.DMS_ENTITY_LABELS, SYNC_STATUS_LABELS=integration.SYNC_STATUS_LABELS,
        CONNECTOR_KIND_LABELS=integration.CONNECTOR_KIND_LABELS,
        LEAD_TYPE_LABELS=oem.LEAD_TYPE_LABELS, DISTRIBUTION_MODE_LABELS=oem.DISTRIBUTION_MODE_LABELS,
        EVENT_STATUS_LABELS=oem.EVENT_STATUS_LABELS, CALL_KIND_LABELS=oem.CALL_KIND_LABELS,
        LOST_SALE_REASON_LABELS=oem.LOST_SALE_REASON_LABELS,
        BUTTONS=badges.BUTTONS, BUTTON_LABELS=badges.BUTTON_LABELS, BUTTON_ROLES=badges.BUTTON_ROLES,
    )
    app.register_blueprint(auth_bp)
    app.register_blueprint(board_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(assets_bp)
    app.register_blueprint(settings_bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(messaging_bp)
    app.register_blueprint(reports_bp)
    app.register_blueprint(campaigns_bp)
    app.register_blueprint(integrations_bp)
    app.register_blueprint(oem_bp)
    app.register_blueprint(lead_queue_bp)
    return app
