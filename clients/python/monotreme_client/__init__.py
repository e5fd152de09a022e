"""The Monotreme hub from Python: `ManagerApi` (asyncio, in the style of
Homey's ManagerApi), `Hub` (the same without asyncio), typed errors, and the
`monotreme-client` command."""

from monotreme_client.api import Api, ApiApp
from monotreme_client.errors import (
    ActionFailed,
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    Internal,
    InvalidArgument,
    MonotremeError,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)
from monotreme_client.events import Event
from monotreme_client.manager import ManagerApi
from monotreme_client.sync import Hub

__all__ = [
    "ActionFailed",
    "AlreadyExists",
    "Api",
    "ApiApp",
    "DeadlineExceeded",
    "Event",
    "FailedPrecondition",
    "Hub",
    "Internal",
    "InvalidArgument",
    "ManagerApi",
    "MonotremeError",
    "NotFound",
    "PermissionDenied",
    "ResourceExhausted",
    "Unauthenticated",
    "Unavailable",
]
