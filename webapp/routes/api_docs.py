"""The API's description (OpenAPI) and a page listing its operations, both for logged-in people only."""

from __future__ import annotations

from html import escape
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, JSONResponse

from webapp.auth import require_user
from webapp.services.users import Actor

router = APIRouter(include_in_schema=False)


@router.get("/api/openapi.json")
def openapi(request: Request, actor: Actor = Depends(require_user)) -> JSONResponse:
    """The OpenAPI description of the API."""
    return JSONResponse(request.app.openapi())


@router.get("/api/docs", response_class=HTMLResponse)
def docs(request: Request, actor: Actor = Depends(require_user)) -> HTMLResponse:
    """A plain page listing every operation of the API (no remote scripts)."""
    schema: dict[str, Any] = request.app.openapi()
    rows = []
    for path, operations in sorted(schema.get("paths", {}).items()):
        for method, operation in operations.items():
            summary = operation.get("summary") or operation.get("description", "").split("\n")[0]
            rows.append(f"<tr><td><code>{escape(method.upper())}</code></td><td><code>{escape(path)}</code></td>"
                        f"<td>{escape(summary)}</td></tr>")
    page = ("<!doctype html><html lang=\"en\"><meta charset=\"utf-8\"><title>triage API</title>"
            f"<h1>{escape(schema.get('info', {}).get('title', 'API'))}</h1>"
            "<p>The full description: <a href=\"/api/openapi.json\">/api/openapi.json</a>.</p>"
            "<table><tr><th>method</th><th>path</th><th>what</th></tr>" + "".join(rows) + "</table></html>")
    return HTMLResponse(page)
