"""Assets that come from installed Python packages rather than npm: plotly.min.js, and the CSS that
plotly.js would otherwise inject into the page itself.

plotly.js adds its stylesheet (the layout of its SVG layers, the toolbar, the tooltips) as
``<style>`` rules when it loads, which a ``style-src 'self'`` Content-Security-Policy refuses: the
pies then lose their layout. It skips that when the page already has an element
``#plotly.js-style-global.no-inline-styles`` (plotly.js ≥ 3, PR #7109), i.e. a ``<link>`` to the same
rules served as a file. No such file ships with the Python package, so ``/assets/plotly.css`` is
read out of the installed bundle itself (``plotly_css``): always the rules of the plotly.js we
serve. Its bundler also injects the map library's CSS unless an element with that CSS's id exists
(``style_guards``); Boxes draws no maps, so an empty placeholder with that id is enough.
``static/js/reports.js`` adds both before it loads plotly.js; tests/browser/test_reports.py checks
the rules equal what plotly.js injects and that the reports raise no CSP violation.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import plotly
from flask import Blueprint, Response, send_from_directory

bp = Blueprint("assets", __name__, url_prefix="/assets")

PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"
PLOTLY_JS = PLOTLY_DIR / "plotly.min.js"
MAX_AGE = 86400

# plotly.js's own stylesheet: an object literal {selector: declarations} walked by
# ``for (k in rules) addStyleRule(k.replace(/^,/, " ,").replace(/X/g, ...).replace(/Y/g, ...), rules[k])``.
_WALK = re.compile(r'for\(([\w$]+) in ([\w$]+)\)[\w$]+=\1\.replace\(/\^,/," ,"\)\.replace\(/X/g,"([^"]*)"\)'
                   r'\.replace\(/Y/g,"([^"]*)"\)')
_STRING = r'"((?:[^"\\]|\\.)*)"|\'((?:[^\'\\]|\\.)*)\''
_PAIR = re.compile(rf"(?:{_STRING}|([\w$]+)):(?:{_STRING}),?")
# The bundler's injected stylesheets: ``if(!document.getElementById("<sha256>")){...createElement("style")``.
_GUARD = re.compile(r'if\(!document\.getElementById\("([0-9a-f]{64})"\)\)\{'
                    r'var [\w$]+=document\.createElement\("style"\)')


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text)


@cache
def plotly_css() -> str:
    """The rules plotly.js would add with ``addStyleRule``, as a stylesheet, in the order its
    ``<style>`` element ends up with (each rule is inserted first, so the last one comes first)."""
    bundle = PLOTLY_JS.read_text(encoding="utf-8")
    walk = _WALK.search(bundle)
    start = bundle.rfind(f"{walk.group(2)}={{", 0, walk.start()) if walk else -1
    end = bundle.rfind("};", start, walk.start()) if walk else -1
    if start < 0 or end < 0:
        raise RuntimeError(f"plotly.js's stylesheet was not found in {PLOTLY_JS}: see boxes/assets.py")
    body, pos, rules = bundle[start + len(walk.group(2)) + 2:end], 0, []
    while pos < len(body):
        pair = _PAIR.match(body, pos)
        if pair is None:
            raise RuntimeError(f"plotly.js's stylesheet could not be read at {body[pos:pos + 60]!r}")
        key = _unescape(pair.group(1) or pair.group(2) or pair.group(3))
        selector = re.sub(r"^,", " ,", key).replace("X", walk.group(3)).replace("Y", walk.group(4))
        rules.append(f"{selector}{{{_unescape(pair.group(4) or pair.group(5) or '')}}}")
        pos = pair.end()
    return f"/* plotly.js {plotly_version()}: its own stylesheet, served as a file (boxes/assets.py). */\n" + \
        "\n".join(reversed(rules)) + "\n"


@cache
def plotly_version() -> str:
    head = PLOTLY_JS.read_text(encoding="utf-8")[:200]
    found = re.search(r"plotly\.js v([\w.-]+)", head)
    return found.group(1) if found else "?"


@cache
def style_guards() -> tuple[str, ...]:
    """Ids whose presence stops plotly.js's bundle from injecting a ``<style>`` it does not need here."""
    return tuple(dict.fromkeys(_GUARD.findall(PLOTLY_JS.read_text(encoding="utf-8"))))


@bp.get("/plotly.min.js")
def plotly_js():
    # Served by the app (never a CDN) and cached for a day; the version is in the file.
    return send_from_directory(PLOTLY_DIR, "plotly.min.js", max_age=MAX_AGE)


@bp.get("/plotly.css")
def plotly_stylesheet():
    response = Response(plotly_css(), mimetype="text/css")
    response.cache_control.public = True
    response.cache_control.max_age = MAX_AGE
    return response
