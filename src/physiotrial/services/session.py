"""Opening an existing study's database for a service call."""

from __future__ import annotations

from physiotrial.services.study import study_info
from physiotrial.store.migrate import bring_up_to_date
from physiotrial.store.store import Store

__all__ = ["Store", "open_study"]


def open_study(database_url: str) -> Store:
    """The store of an initialised study; a clear error when there is no study there."""
    store = Store(database_url)
    try:
        # A study made by an older physiotrial is brought to the current schema (migrations only
        # add tables); an empty or foreign database is left alone and refused by study_info.
        bring_up_to_date(store.engine)
        study_info(store)
    except Exception:
        store.close()
        raise
    return store
