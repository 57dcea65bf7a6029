"""Every view or export of subject data leaves an AuditEntry (who, what, when)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.orm import Session

from store.models import AuditEntry


def audit(session: Session, actor_id: int | None, action: str, subject_id: int | None = None,
          **detail: Any) -> None:
    """Add the entry to the caller's transaction: it commits with the work it records."""
    session.add(AuditEntry(actor_id=actor_id, action=action[:32], subject_id=subject_id,
                           detail=json.dumps(detail, ensure_ascii=False, default=str)))
