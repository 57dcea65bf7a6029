"""The socket `visitbot run --workers N` shares gives every connection TCP_NODELAY: a
reply written as headers then body is not held back for the client's delayed ACK."""

from __future__ import annotations

import asyncio
import socket

from bot.web.server import listening_socket


def nodelay_of_accepted(sock: socket.socket) -> int:
    async def main() -> int:
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                raw = transport.get_extra_info("socket")
                seen.set_result(raw.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await asyncio.get_running_loop().create_server(Probe, sock=sock)
        _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
        try:
            return await asyncio.wait_for(seen, 10)
        finally:
            writer.close()
            server.close()

    return asyncio.run(main())


def test_shared_socket_accepts_with_nodelay() -> None:
    assert nodelay_of_accepted(listening_socket("127.0.0.1", 0)) != 0

