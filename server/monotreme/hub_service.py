"""`monotreme.v1.HubService`: actions and events, over whichever door."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from monotreme.bus import Subscription
from monotreme.call import Call
from monotreme.errors import Unauthenticated
from monotreme.rpc import public
from monotreme.v1 import hub_pb2

if TYPE_CHECKING:
    from monotreme.hub import Hub


async def _close_when(revoked: asyncio.Event, subscription: Subscription) -> None:
    await revoked.wait()
    subscription.close()


class HubService:
    def __init__(self, hub: Hub) -> None:
        self._hub = hub

    async def Execute(self, request: hub_pb2.ExecuteRequest, call: Call) -> hub_pb2.ExecuteResponse:
        return await self._hub.dispatcher.execute(request, call)

    async def StreamEvents(
        self, request: hub_pb2.StreamEventsRequest, call: Call
    ) -> AsyncIterator[hub_pb2.StreamEventsResponse]:
        # A revoked token ends its streams at once, not at the next call.
        revoked = self._hub.auth.watch(call.user)
        try:
            async with self._hub.bus.subscribe(request) as subscription:
                closer = asyncio.ensure_future(_close_when(revoked, subscription))
                try:
                    await call.stream_started()
                    async for response in subscription:
                        if revoked.is_set():
                            break
                        yield response
                finally:
                    closer.cancel()
        finally:
            self._hub.auth.unwatch(call.user, revoked)
        if revoked.is_set():
            raise Unauthenticated("the token has been revoked", reason="TOKEN_REVOKED")

    async def PublishEvent(
        self, request: hub_pb2.PublishEventRequest, call: Call
    ) -> hub_pb2.PublishEventResponse:
        return hub_pb2.PublishEventResponse(event=self._hub.bus.publish(request.event))

    async def ListActions(
        self, request: hub_pb2.ListActionsRequest, call: Call
    ) -> hub_pb2.ListActionsResponse:
        return hub_pb2.ListActionsResponse(actions=self._hub.actions.describe(request.plugin))

    @public
    async def CallWebhook(
        self, request: hub_pb2.CallWebhookRequest, call: Call
    ) -> hub_pb2.CallWebhookResponse:
        return await self._hub.webhooks.call(request)
