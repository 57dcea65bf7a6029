"""All user-facing wording comes from Jinja2 templates (zh-CN by default).

A deployment can reword any message by pointing VISITBOT_TEMPLATES_DIR at a folder
holding templates of the same names; those win over the packaged ones.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, StrictUndefined

PACKAGED = Path(__file__).parent / "templates"


@lru_cache(maxsize=4)
def _env(override: str | None) -> Environment:
    loaders = [FileSystemLoader(override)] if override else []
    loaders.append(FileSystemLoader(str(PACKAGED)))
    env = Environment(
        loader=ChoiceLoader(loaders),
        undefined=StrictUndefined,
        autoescape=False,  # chat text, not HTML
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        # templates are read once per process: checking each file's mtime on every
        # message cost a stat() per render on the answer path
        auto_reload=False,
    )
    return env


def render(template: str, /, **context: Any) -> str:
    """Render `template` (a name without .j2), stripped of outer blank lines."""
    env = _env(os.environ.get("VISITBOT_TEMPLATES_DIR") or None)
    return env.get_template(f"{template}.j2").render(**context).strip()
