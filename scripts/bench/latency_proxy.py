"""A TCP proxy that adds a fixed delay to every request on its way to the server (the rig's
stand-in for a real network to AWS): python latency_proxy.py LISTEN_PORT UPSTREAM_PORT DELAY_MS"""
import asyncio
import sys

listen, upstream, delay = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]) / 1000


async def pipe(reader, writer, wait):
    try:
        while data := await reader.read(65536):
            if wait:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def handle(client_r, client_w):
    server_r, server_w = await asyncio.open_connection("127.0.0.1", upstream)
    await asyncio.gather(pipe(client_r, server_w, delay), pipe(server_r, client_w, 0))


async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen)
    async with server:
        await server.serve_forever()


asyncio.run(main())
