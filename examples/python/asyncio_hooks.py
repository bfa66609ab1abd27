"""Hooks from asyncio: a hook runs on a library thread, so it hands its work to the event
loop with ``loop.call_soon_threadsafe`` and never awaits; coroutines call the hub
directly (an emit takes microseconds and releases the GIL) or through
``asyncio.to_thread`` for calls that may wait (``shutdown``).
"""

import asyncio
from typing import Any, Dict

from microcoaster_realtime import Hub


async def main() -> None:
    loop = asyncio.get_running_loop()
    client_events: "asyncio.Queue[Dict[str, Any]]" = asyncio.Queue()

    def on_client_event(event: Dict[str, Any]) -> None:
        # Called on a server thread (or the thread that passed the message).
        loop.call_soon_threadsafe(client_events.put_nowait, event)

    hub = Hub(on_client_event=on_client_event)
    hub.emit_user_logged_in({"id": 123, "name": "Ada"}, "sess-ada")
    with hub.connect_in_process() as tab:
        tab.authenticate({"userId": 123, "page": "modules", "sessionId": "sess-ada"})
        tab.send("cart:launch", {"speed": 3})
        event = await asyncio.wait_for(client_events.get(), timeout=5)
        print(event["userId"], event["event"], event["data"])
        hub.emit_to_user(event["userId"], "cart:launched", {"speed": event["data"]["speed"]})
        print([name for name, _ in tab.drain()])
    await asyncio.to_thread(hub.shutdown)


if __name__ == "__main__":
    asyncio.run(main())
