"""The ``site`` fixture (see :mod:`dashboard_site`)."""

from dashboard_site import site

__all__ = ["site"]
