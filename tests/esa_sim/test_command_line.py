"""`python -m prefetch_ui.esa_sim --help` says what every option does: the simulator is a tool of its own."""

from __future__ import annotations

import subprocess
import sys

from prefetch_ui.esa_sim.server import build_parser


def test_help_explains_every_option() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "prefetch_ui.esa_sim", "--help"], capture_output=True, text=True, check=True
    ).stdout
    flat = " ".join(shown.split())
    options = [action for action in build_parser()._actions if action.option_strings]
    assert len(options) > 15
    for option in options:
        assert option.help and len(option.help) > 15, f"{option.option_strings} has no help"
        assert option.option_strings[-1] in shown
    for words in (
        "ESA_ACCESS_KEY_ID",
        "TooManyRequests",
        "503 ServiceUnavailable",
        "500 InternalError",
        "plans run only on active sites",
        "/_sim/calls",
        "(default 9910)",
    ):
        assert words in flat, words
