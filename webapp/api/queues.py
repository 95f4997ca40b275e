"""API: the queues one works, and one queue's cases with the same filters as the queue page."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from webapp.api.schemas import CaseOut, ErrorOut, QueueOut, QueuePageOut
from webapp.auth import context, require_user
from webapp.filters import parse_filters
from webapp.services.cases import refresh_before_reading
from webapp.services.queues import QueueSummary, check_queue, queue_overview, queue_page
from webapp.services.users import Actor

router = APIRouter(prefix="/api", tags=["queues"], responses={
    400: {"model": ErrorOut}, 401: {"model": ErrorOut}, 403: {"model": ErrorOut}, 404: {"model": ErrorOut}})


def queue_out(summary: QueueSummary) -> QueueOut:
    """A queue summary as JSON."""
    return QueueOut(id=summary.id, description=summary.description, open=summary.open, overdue=summary.overdue,
                    due_soon=summary.due_soon, target_hours=summary.target.total_seconds() / 3600,
                    desk=summary.desk or None)


@router.get("/queues", response_model=list[QueueOut])
def queues(request: Request, actor: Actor = Depends(require_user)) -> list[QueueOut]:
    """Every queue the person works, with open, due-soon and overdue counts."""
    ctx = context(request)
    refresh_before_reading(ctx.db)
    return [queue_out(s) for s in queue_overview(ctx.db, actor, ctx.vocabulary, ctx.sla, ctx.counts)]


@router.get("/queues/{queue}/cases", response_model=QueuePageOut)
def cases(request: Request, queue: str, actor: Actor = Depends(require_user),
          topic: str | None = Query(None, max_length=64), language: str | None = Query(None, max_length=20),
          status: str | None = Query(None, description="open (default), all, or a state"),
          age: str | None = Query(None, description="older than: 1h, 4h, 1d, 2d, 7d; or soon, overdue"),
          signal: list[str] | None = Query(None, description="urgent, complaint"),
          sort: str | None = Query(None, description="oldest (default) or newest"),
          page: str | None = Query(None)) -> QueuePageOut:
    """One page of a queue's cases."""
    ctx = context(request)
    check_queue(actor, queue, ctx.vocabulary)
    params = {key: request.query_params.getlist(key) for key in request.query_params.keys()}
    filters = parse_filters(params, ctx.vocabulary)
    refresh_before_reading(ctx.db)
    overview = queue_overview(ctx.db, actor, ctx.vocabulary, ctx.sla, ctx.counts)
    found = queue_page(ctx.db, actor, queue, filters, vocabulary=ctx.vocabulary, sla=ctx.sla,
                       page_size=ctx.web.page_size, summary=next(s for s in overview if s.id == queue))
    return QueuePageOut(queue=queue_out(found.queue), total=found.total, page=filters.page, pages=found.pages, cases=[
        CaseOut(inquiry_id=r.inquiry_id, subject=r.subject, sender=r.sender, topic=r.topic, language=r.language,
                state=r.state, urgent=r.urgent, complaint=r.complaint, received_at=r.received_at,
                age_seconds=int(r.age.total_seconds()), sla=r.sla, held_by=r.held_by)
        for r in found.rows
    ])
