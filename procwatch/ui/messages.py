"""Messages from the worker threads to the app, as dataclasses. Posting a message is thread-safe and never blocks
the poster (unlike call_from_thread)."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from procwatch.sandbox import SandboxEvent
from procwatch.view.poller import Update


@dataclass
class SnapshotReady(Message):
    """A new row list from the poller. Coalesces: a UI that falls behind takes only the newest."""

    update: Update

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, SnapshotReady)


@dataclass
class SweepFailed(Message):
    error: BaseException


@dataclass
class SandboxNews(Message):
    """A sandbox event, forwarded from its reader thread."""

    event: SandboxEvent
