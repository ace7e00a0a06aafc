"""(placeholder: being built for issue 6)"""

from __future__ import annotations

from fastapi import APIRouter

from physiotrial.web.csrf import HTML_ROUTER_DEPENDENCIES

router = APIRouter(dependencies=HTML_ROUTER_DEPENDENCIES, include_in_schema=False)
