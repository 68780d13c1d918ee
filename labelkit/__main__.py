"""``python -m labelkit``: the ``labelkit`` command (see ``labelkit.cli``)."""

from labelkit.cli import main

raise SystemExit(main())
