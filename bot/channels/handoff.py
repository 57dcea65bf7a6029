"""How a channel hands one verified message to the core, from its event loop."""

from __future__ import annotations

import asyncio
from typing import Any

from conversations.messages import Incoming


async def hand_to_core(core: Any, incoming: Incoming, *, inline: bool) -> Any:
    """Run the core on one message from a channel's event loop: on the loop itself where
    the core has a path for it (`handle_async`), else `handle` in a worker thread."""
    on_loop = getattr(core, "handle_async", None)
    if on_loop is not None:
        return await on_loop(incoming, inline=inline)
    return await asyncio.to_thread(core.handle, incoming, inline=inline)
