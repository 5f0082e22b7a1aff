"""An incident as one HTML page: its state, how it was detected, its alerts and timeline,
times in Japan time (JST) to the millisecond with the zone shown, in Japanese or English
from the message catalogs. Data only from the incident view; every text from the data is
escaped (a label or a note can carry markup); what people wrote is quoted as written."""

from __future__ import annotations

from collections.abc import Callable
from importlib import resources
from typing import Any

from kinko.i18n import JST, Localizer, environment
from kinko.render.fsa import actor

__all__ = ["incident_html"]


def incident_html(view: Any, lang: str = "ja",
                  amount: Callable[[str, Any], str] | None = None) -> str:
    """``view``: an :class:`~kinko.services.incidents.IncidentView`; ``amount(asset, units)``
    formats an amount (default: minor units)."""
    L = Localizer(lang, JST)
    show = amount or (lambda _asset, units: L.number(int(units)))
    template = environment(None, L.lang).from_string(
        resources.files("kinko.render").joinpath("templates/incident.html.j2")
        .read_text("utf-8"))
    return template.render(L=L, i=view.incident, alerts=view.alerts, timeline=view.timeline,
                           amount=show, actor=lambda name: actor(name, L))
