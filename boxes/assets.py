"""Assets that come from installed Python packages rather than npm: plotly.min.js."""

from __future__ import annotations

from pathlib import Path

import plotly
from flask import Blueprint, send_from_directory

bp = Blueprint("assets", __name__, url_prefix="/assets")

PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"


@bp.get("/plotly.min.js")
def plotly_js():
    # Served by the app (never a CDN) and cached for a day; the version is in the file.
    return send_from_directory(PLOTLY_DIR, "plotly.min.js", max_age=86400)
