"""labelkit: labels that fit the logits, on NumPy, PyTorch, TensorFlow and JAX.

``import labelkit`` imports NumPy only; a framework is noticed when you pass its arrays, never
imported by labelkit.
"""

from __future__ import annotations

import importlib.util as _importlib_util
import os as _os

# Installed, ``backends/`` is mapped to ``labelkit.backends`` (pyproject.toml). In a bare source
# checkout on PYTHONPATH it sits beside this folder instead: let the package find it there.
if _importlib_util.find_spec("labelkit.backends") is None:  # pragma: no cover - source checkout only
    __path__.append(_os.path.dirname(_os.path.dirname(_os.path.abspath(__file__))))

from labelkit._diagnose import Diagnosis, Problem, diagnose
from labelkit._dispatch import available_backends, backend_of, register_backend
from labelkit._distributed import count_valid
from labelkit._explain import explain
from labelkit._losses import (
    LossChoice,
    binary_crossentropy,
    categorical_crossentropy,
    cross_entropy,
    select_loss,
    sparse_categorical_crossentropy,
)
from labelkit._metrics import accuracy
from labelkit._ops import align, infer, one_hot, squeeze, to_sparse, validate
from labelkit._pending import check_pending
from labelkit._spec import AlignTo, ArgumentError, CheckValues, Reduction, Spec, Task
from labelkit.errors import BackendError, LabelkitError, LabelValueError, ShapeMismatchError

# The one place the version is written: pyproject.toml reads it (``[tool.setuptools.dynamic]``).
__version__ = "0.1.0"

__all__ = [
    "AlignTo",
    "ArgumentError",
    "BackendError",
    "CheckValues",
    "Diagnosis",
    "LabelValueError",
    "LabelkitError",
    "LossChoice",
    "Problem",
    "Reduction",
    "ShapeMismatchError",
    "Spec",
    "Task",
    "accuracy",
    "align",
    "available_backends",
    "backend_of",
    "binary_crossentropy",
    "categorical_crossentropy",
    "check_pending",
    "count_valid",
    "cross_entropy",
    "diagnose",
    "explain",
    "infer",
    "one_hot",
    "register_backend",
    "select_loss",
    "sparse_categorical_crossentropy",
    "squeeze",
    "to_sparse",
    "validate",
]

# The argument types (``Literal``s) that annotations may use: ``def step(reduction: lk.Reduction)``.
_TYPE_ALIASES = ("AlignTo", "CheckValues", "Reduction", "Task")

# Inside a tf.function, autograph would re-write every labelkit function it meets (seconds on the first
# trace, for control flow that only ever reads static shapes). An ``autograph_info__`` attribute marks a
# callable as an autograph artifact, which autograph calls unconverted; TensorFlow is not imported.
for _name in __all__:
    _obj = globals()[_name]
    if _name not in _TYPE_ALIASES and callable(_obj) and not (
        isinstance(_obj, type) and issubclass(_obj, BaseException)
    ):
        _obj.autograph_info__ = frozenset()
del _name, _obj
