"""Pruning the event log: events of sessions finished long ago go; their records stay."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from models.base import utcnow
from models.events import prune_events
from server.settings import Settings

logger = logging.getLogger("chorus.retention")

PRUNE_EVERY_S = 6 * 3600


async def prune_once(db: async_sessionmaker[AsyncSession], retention_days: int) -> int:
    async with db() as transaction:
        removed = await prune_events(transaction, utcnow() - timedelta(days=retention_days))
    if removed:
        logger.info(
            "pruned %d events of sessions finished over %d days ago", removed, retention_days
        )
    return removed


async def prune_events_periodically(
    db: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    while True:
        try:
            await prune_once(db, settings.event_retention_days)
        except Exception:
            logger.exception("pruning old events failed; trying again later")
        await asyncio.sleep(PRUNE_EVERY_S)
