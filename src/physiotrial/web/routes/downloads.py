"""The data page: the lock in force, lock and unlock, whole-study unblinding, and downloads.

Everything here is a service call; the page only offers what ``may(action)`` says the role may
do, and the services refuse the rest anyway:

- lock state for every signed-in user (``locking.current_manifest``: data hash, rows, protocol
  version and hash, software version, locked at and by); lock and unlock with a reason
  (``locking.lock``/``unlock``) and unblinding of the locked study with a reason and a confirming
  tick (``randomisation.unblind_study``), data manager only;
- the export (``services.export``): written to a private temporary directory, zipped under one
  top folder with its ``manifest.json`` and ``data_dictionary.csv``, sent as an attachment and
  the directory removed after sending. Whether the export is blinded is the service's decision
  (``blinding.sees_allocation``): a blinded role's tables have no ``arm`` column, and
  ``manifest.json`` says ``"blinded": true``;
- the trial report (``services.reporting.trial_report``: ``analysis.analyse`` then
  ``report.render``, HTML alone or the PDF made from it) in a temporary directory, sent the
  same way. The web may not import ``report`` itself (tests/test_architecture.py); the
  reporting service is imported inside the route, as it pulls in WeasyPrint and matplotlib.

A refusal a user can act on (not locked, blank reason, too little data to draw the report) is
shown on the data page beside its form with the service's message (409 or 422), never as a 500.
Successful lock, unlock and unblinding redirect back (303) with a fixed notice key in the query,
so a reload does not post again and no user text travels in the URL.
"""

from __future__ import annotations

import re
import shutil
import tempfile
import zipfile
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, RedirectResponse, Response
from starlette.background import BackgroundTask

from physiotrial.errors import PermissionDeniedError, PhysiotrialError
from physiotrial.services.access import shown
from physiotrial.services.context import Actor
from physiotrial.services.export import FORMATS, export
from physiotrial.services.locking import current_manifest, lock, unlock
from physiotrial.services.randomisation import unblind_study
from physiotrial.services.study import study_info
from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES
from physiotrial.web.deps import CurrentActor, allowed, web_state
from physiotrial.web.errors import status_of
from physiotrial.web.templating import render

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
Exporter = Annotated[Actor, Depends(allowed("export"))]
Analyst = Annotated[Actor, Depends(allowed("analyse"))]
Locker = Annotated[Actor, Depends(allowed("lock"))]
Unlocker = Annotated[Actor, Depends(allowed("unlock"))]
Unblinder = Annotated[Actor, Depends(allowed("unblind"))]
DONE = {
    "lock": "The study database is locked. The manifest below is what analyses and reports cite.",
    "unlock": "The study database is unlocked: data entry and corrections are open again.",
    "unblind": "The study is unblinded: the statistician now sees the arms.",
}
"""Notices after a successful action, chosen by a fixed key (no user text in the URL)."""
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class FormInputError(PhysiotrialError, ValueError):
    """A required input of a data-page form is blank or not one of its choices (422)."""


def _required_reason(reason: str) -> str:
    if not reason.strip():
        raise FormInputError(
            f"reason: {reason!r} is blank; allowed: a sentence saying why "
            "(it is kept in the audit trail)"
        )
    return reason


def _data_page(
    request: Request,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    state = web_state(request)
    done = request.query_params.get("done")
    manifest = current_manifest(state.store)
    context: dict[str, Any] = {
        "title": "Data",
        "study": study_info(state.store),
        "manifest": manifest,
        "locked_at": shown(manifest.locked_at) if manifest else None,
        "notice": DONE.get(done or ""),
        "errors": errors or {},
        "values": values or {},
        "export_formats": FORMATS,
    }
    return render(request, "data.html", context, status=status)


def _refused(request: Request, form: str, error: PhysiotrialError, **values: str) -> Response:
    """The data page with the service's message beside ``form`` (permission refusals are not
    form errors: they become the 403 page)."""
    if isinstance(error, PermissionDeniedError):
        raise error
    return _data_page(request, errors={form: str(error)}, values=values, status=status_of(error))


@router.get("/data")
def data_page(request: Request, _actor: CurrentActor) -> Response:
    return _data_page(request)


@router.post("/data/lock")
def lock_submit(request: Request, actor: Locker, reason: Annotated[str, Form()] = "") -> Response:
    try:
        lock(web_state(request).store, actor.username, _required_reason(reason))
    except PhysiotrialError as error:
        return _refused(request, "lock", error, lock_reason=reason)
    return RedirectResponse("/data?done=lock", status_code=303)


@router.post("/data/unlock")
def unlock_submit(
    request: Request, actor: Unlocker, reason: Annotated[str, Form()] = ""
) -> Response:
    try:
        unlock(web_state(request).store, actor.username, _required_reason(reason))
    except PhysiotrialError as error:
        return _refused(request, "unlock", error, unlock_reason=reason)
    return RedirectResponse("/data?done=unlock", status_code=303)


@router.post("/data/unblind")
def unblind_submit(
    request: Request,
    actor: Unblinder,
    reason: Annotated[str, Form()] = "",
    confirm: Annotated[str, Form()] = "",
) -> Response:
    try:
        if confirm != "yes":
            raise FormInputError(
                f"confirm: {confirm!r} is not a confirmation; allowed: tick the box to confirm "
                "that unblinding the whole study cannot be undone"
            )
        unblind_study(web_state(request).store, actor.username, _required_reason(reason))
    except PhysiotrialError as error:
        return _refused(request, "unblind", error, unblind_reason=reason)
    return RedirectResponse("/data?done=unblind", status_code=303)


def _stamp(request: Request) -> tuple[str, str]:
    """The study id and the UTC moment as safe file-name parts."""
    state = web_state(request)
    study = _UNSAFE.sub("-", study_info(state.store).study_id).strip("-") or "study"
    return study, state.now().strftime("%Y%m%dT%H%M%SZ")


def _zip(source: Path, target: Path, folder: str) -> None:
    """Every file of ``source`` into ``target`` under ``folder/`` (sorted, so listings are
    stable)."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(source.iterdir()):
            archive.write(path, f"{folder}/{path.name}")


def _attachment(path: Path, name: str, media_type: str, scratch: Path) -> FileResponse:
    """``path`` sent as a download named ``name``; ``scratch`` is removed once it is sent."""
    response = FileResponse(
        path,
        media_type=media_type,
        filename=name,
        background=BackgroundTask(shutil.rmtree, scratch, ignore_errors=True),
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/data/export")
def export_download(
    request: Request, actor: Exporter, format: Annotated[str, Form()] = ""
) -> Response:
    """The tidy tables in one format, zipped with the dictionary and the manifest."""
    if format not in FORMATS:
        error = FormInputError(
            f"format: {format!r} is not an export format; allowed: {', '.join(FORMATS)}"
        )
        return _refused(request, "export", error, format=format)
    study, moment = _stamp(request)
    name = f"physiotrial-export-{study}-{moment}"
    scratch = Path(tempfile.mkdtemp(prefix="physiotrial-export-"))
    try:
        export(web_state(request).store, actor.username, scratch / "tables", [format])
        _zip(scratch / "tables", scratch / f"{name}.zip", name)
    except PhysiotrialError as error:
        shutil.rmtree(scratch, ignore_errors=True)
        return _refused(request, "export", error, format=format)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    return _attachment(scratch / f"{name}.zip", f"{name}.zip", "application/zip", scratch)


@router.post("/data/report")
def report_download(request: Request, actor: Analyst, format: str = "html") -> Response:
    """The trial report of the locked study as the actor may see it (A/B when blinded)."""
    from physiotrial.services.reporting import REPORT_FORMATS, trial_report

    if format not in REPORT_FORMATS:
        error = FormInputError(
            f"format: {format!r} is not a report format; allowed: {', '.join(REPORT_FORMATS)}"
        )
        return _refused(request, "report", error)
    study, moment = _stamp(request)
    scratch = Path(tempfile.mkdtemp(prefix="physiotrial-report-"))
    try:
        path = trial_report(web_state(request).store, actor.username, scratch, format)
    except PhysiotrialError as error:
        shutil.rmtree(scratch, ignore_errors=True)
        return _refused(request, "report", error)
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    name = f"physiotrial-report-{study}-{moment}.{format}"
    media_type = "text/html; charset=utf-8" if format == "html" else "application/pdf"
    return _attachment(path, name, media_type, scratch)
