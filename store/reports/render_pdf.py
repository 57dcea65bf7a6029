"""HTML (Jinja2) to PDF (WeasyPrint) with a CJK font installed by the system.

WeasyPrint finds fonts through fontconfig: Debian's fonts-wqy-microhei (or
fonts-noto-cjk) must be installed, or Chinese text prints as empty boxes.
"""

from __future__ import annotations

import base64
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup, escape

from store.reports.layout import Grid

TEMPLATES = Path(__file__).parent / "templates"


@lru_cache(maxsize=1)
def env() -> Environment:
    e = Environment(loader=FileSystemLoader(str(TEMPLATES)), undefined=StrictUndefined,
                    autoescape=select_autoescape(["html", "j2"]), trim_blocks=True,
                    lstrip_blocks=True)
    e.filters["pct"] = lambda v: "—" if v is None else f"{v * 100:.1f}%"
    e.filters["png_uri"] = lambda data: "data:image/png;base64," + base64.b64encode(data).decode()
    e.filters["whole"] = keep_whole
    return e


# ID numbers, phones and dates: broken mid-number they are misread on paper.
_NUMBER = re.compile(r"\d[\d\-]{5,}[\dXx]?")
SHORT = 5  # a name, a gender, 是/否: never one character per line


def keep_whole(value: object, short: bool = False) -> Markup:
    """Cell text, escaped, with long numbers (and, in lists, whole short values such as
    names) kept on one line. A form's narrow label cells may still wrap their words."""
    text = "" if value is None else str(value)
    if short and 0 < len(text) <= SHORT and "\n" not in text:
        return Markup('<span class="whole">%s</span>') % text
    return Markup(_NUMBER.sub(lambda m: f'<span class="whole">{m.group(0)}</span>',
                              str(escape(text))))


def render_html(template: str, **context: Any) -> str:
    return env().get_template(template).render(**context)


def html_to_pdf(html: str, path: Path) -> Path:
    from weasyprint import HTML  # imported late: it loads pango, slow and only for PDFs

    HTML(string=html, base_url=str(TEMPLATES)).write_pdf(str(path))
    return path


def grids_html(grids: list[Grid], title: str) -> str:
    return render_html("form.html.j2", grids=grids, title=title)


def grids_to_pdf(grids: list[Grid], path: Path, title: str = "") -> Path:
    return html_to_pdf(grids_html(grids, title or (grids[0].title if grids else "")), path)
