"""``python -m devkit.cas_emulator``: run the CAS emulator on its own (see ``cli.py`` for the options)."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
