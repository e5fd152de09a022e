"""`monotreme.v1.HubService`: actions and events, over whichever door."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from monotreme import metrics, scopes
from monotreme.actions.dispatcher import Dispatcher
from monotreme.actions.outcome import Outcome
from monotreme.actions.registry import ActionRegistry
from monotreme.automation.webhooks import Webhooks
from monotreme.call import Call
from monotreme.errors import InvalidArgument
from monotreme.events.bus import EventBus, Subscription
from monotreme.events.types import published_type
from monotreme.identity.permissions import Permissions
from monotreme.identity.revocation import Revocations
from monotreme.services import execute
from monotreme.services.table import public
from monotreme.v1 import hub_pb2
from monotreme.values import from_struct

# Events in one StreamEventBatches message at most: a few dozen kilobytes
# for typical events, well under any message size limit.
BATCH_SIZE = 64
# StreamEventBatches' max_delay_ms at most: a linger, not a poll interval.
MAX_DELAY_MS = 1000


def _type_of(response: hub_pb2.StreamEventsResponse) -> str:
    return response.event.args.fields["type"].string_value


async def _close_when(ended: asyncio.Event, subscription: Subscription) -> None:
    await ended.wait()
    subscription.close()


class HubService:
    def __init__(
        self,
        dispatcher: Dispatcher,
        actions: ActionRegistry,
        bus: EventBus,
        webhooks: Webhooks,
        revocations: Revocations,
        permissions: Permissions,
    ) -> None:
        self._dispatcher = dispatcher
        self._actions = actions
        self._bus = bus
        self._webhooks = webhooks
        self._revocations = revocations
        self._permissions = permissions

    async def outcome(self, action: str, args: dict[str, Any], call: Call) -> Outcome:
        """Execute's one path, for every door; the HTTP door calls it directly
        (authorized by the method table) with the request's args as JSON
        values, and prints the envelope from it."""
        return await self._dispatcher.execute(action, args, call)

    async def Execute(self, request: hub_pb2.ExecuteRequest, call: Call) -> hub_pb2.ExecuteResponse:
        outcome = await self.outcome(request.action, from_struct(request.args), call)
        if outcome.refusal is not None:
            raise outcome.refusal
        return execute.response(request, outcome, self._dispatcher.origin)

    async def StreamEvents(
        self, request: hub_pb2.StreamEventsRequest, call: Call
    ) -> AsyncIterator[hub_pb2.StreamEventsResponse]:
        async for batch in self._stream(request, call, 1):
            yield batch[0]

    async def StreamEventBatches(
        self, request: hub_pb2.StreamEventBatchesRequest, call: Call
    ) -> AsyncIterator[list[hub_pb2.StreamEventsResponse]]:
        """Yields each message's events, not a StreamEventBatchesResponse: the
        events are the bus's shared messages, which the door encodes once for
        every subscriber and splices into each message (memo.py)."""
        if request.max_events > BATCH_SIZE:
            raise InvalidArgument(f"max_events: at most {BATCH_SIZE} (0 for {BATCH_SIZE})")
        if request.max_delay_ms > MAX_DELAY_MS:
            raise InvalidArgument(f"max_delay_ms: at most {MAX_DELAY_MS} (0 to send at once)")
        limit, delay = request.max_events or BATCH_SIZE, request.max_delay_ms / 1000
        async for batch in self._stream(request.request, call, limit, delay):
            yield batch

    async def _stream(
        self, request: hub_pb2.StreamEventsRequest, call: Call, limit: int, delay: float = 0.0
    ) -> AsyncIterator[list[hub_pb2.StreamEventsResponse]]:
        self._permissions.read_events(call)
        # Only the types its scopes name reach a token scoped to some.
        visible = None if scopes.unrestricted(call.user) else call.user
        # A token revoked or expired ends its streams at once, not at the next call.
        watch = self._revocations.watch(call.user)
        try:
            async with self._bus.subscribe(request) as subscription:
                closer = asyncio.ensure_future(_close_when(watch.ended, subscription))
                try:
                    await call.stream_started()
                    async for batch in subscription.batches(limit, delay):
                        if watch.ended.is_set():
                            break
                        if visible is not None:
                            batch = [r for r in batch if scopes.may_read(visible, _type_of(r))]
                            if not batch:
                                continue
                        yield batch
                finally:
                    closer.cancel()
        finally:
            self._revocations.unwatch(watch)
        if watch.ended.is_set():
            raise watch.error()

    async def PublishEvent(
        self, request: hub_pb2.PublishEventRequest, call: Call
    ) -> hub_pb2.PublishEventResponse:
        fields = request.event.args.fields
        if "type" in fields and fields["type"].string_value:  # the bus refuses an event without one
            self._permissions.publish(call, published_type(fields["type"].string_value))
        return hub_pb2.PublishEventResponse(event=await self._bus.publish(request.event))

    async def ListActions(
        self, request: hub_pb2.ListActionsRequest, call: Call
    ) -> hub_pb2.ListActionsResponse:
        return hub_pb2.ListActionsResponse(actions=self._actions.describe(request.plugin, call.user))

    @public
    async def CallWebhook(
        self, request: hub_pb2.CallWebhookRequest, call: Call
    ) -> hub_pb2.CallWebhookResponse:
        answer = await self._webhooks.call(request)
        metrics.WEBHOOK_CALLS.labels(str(answer.status)).inc()
        return answer
