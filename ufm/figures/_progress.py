"""The figures' progress bar: :mod:`ufm.progress` (re-exported).

Off unless the figure CLI switches it on (:func:`set_enabled`); experiments wrap their long loops
in :func:`track`.
"""

from ufm.progress import LOG_INTERVAL, LOG_STEPS, bar, enabled, set_enabled, track

__all__ = ["LOG_INTERVAL", "LOG_STEPS", "bar", "enabled", "set_enabled", "track"]
