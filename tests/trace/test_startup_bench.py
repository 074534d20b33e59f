"""The start-up measurement behind `pybpf bench` (pybpf.bench.trace): what it reports for a command."""

from __future__ import annotations

import os
import resource
import sys

from pybpf.bench.trace import time_to_command


def test_a_command_is_timed_and_sized_on_its_own() -> None:
    # /bin/sh stamping the time: a positive delay, some CPU, and a max RSS that is the command's (a few MiB),
    # not this test process's (pytest with pybpf and LLVM loaded), which a plain fork-and-exec would report
    seconds, cpu, rss_mib = time_to_command(["/bin/sh", "{sh}"], dict(os.environ))
    own_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert 0 < seconds < 60
    assert cpu >= 0
    assert 0 < rss_mib < own_mib / 2, (rss_mib, own_mib)


def test_a_command_that_never_runs_has_no_start_time() -> None:
    # python exits without running the stamping script: no time is made up
    seconds, _, _ = time_to_command([sys.executable, "-c", "pass"], dict(os.environ))
    assert seconds != seconds  # NaN: the traced command never ran
