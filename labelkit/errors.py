"""The errors labelkit raises for bad input.

Each message says which argument, what was found, what was expected and one fix. The classes subclass
``ValueError``/``TypeError`` so that ordinary handlers catch them, and set ``ag_pass_through`` so that
TensorFlow's autograph re-raises them unchanged while a ``tf.function`` traces (otherwise it wraps them
in ``StagingError`` and ``except ShapeMismatchError`` stops working).
"""

from __future__ import annotations

__all__ = ["BackendError", "LabelValueError", "LabelkitError", "ShapeMismatchError"]


class LabelkitError(Exception):
    """Base class of every error labelkit raises for bad input."""

    # Autograph (tf.function) passes exceptions with this attribute through untouched.
    ag_pass_through = True


class ShapeMismatchError(LabelkitError, ValueError):
    """The labels' shape does not fit the logits' shape (or the requested loss)."""


class LabelValueError(LabelkitError, ValueError):
    """The labels' values are not valid for their format (ids out of range, rows that are not one-hot...)."""


class BackendError(LabelkitError, TypeError):
    """An argument is not an array labelkit can serve, or two frameworks are mixed in one call."""
