"""Random scripts: the front end (lexer, parser, semantic analysis) fails only with TraceError."""

from __future__ import annotations

import random

import pytest

from pybpf.trace.compiler import compile_script
from pybpf.trace.errors import TraceError
from pybpf.trace.parser import parse
from pybpf.trace.probes import ConcreteProbe
from pybpf.trace.semantic import Analyzer

PIECES = ["BEGIN", "END", "{", "}", "(", ")", "[", "]", "/", ";", ",", "@", "@x", "@y", "$a", "$b", "=", "+=", "++",
          "--", "==", "!=", "<", ">", "&&", "||", "!", "~", "-", "+", "*", "%", "?", ":", "->", ".", "1", "0x10",
          "1e3", '"s"', '"%d\\n"', "'c'", "pid", "comm", "args", "arg0", "retval", "count()", "hist(", "lhist(",
          "printf(", "str(", "if", "else", "while", "break", "unroll", "(uint8)", "(struct task_struct *)", "#x\n",
          "//c\n", "/*", "*/", "\\", '"', "'", "$", "$1", "$#", "tracepoint:a:b", "uprobe:/bin/sh:f", "kprobe:f",
          "interval:s:1", "exit()", "delete(", "clear(", "print(", "join(", "kstack", "ksym(", "\n", " "]


def random_script(rng: random.Random) -> str:
    if rng.random() < 0.5:  # mostly well-formed skeletons with random bodies
        body = " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))
        return f"BEGIN {{ {body} }}"
    return " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 25)))


@pytest.mark.parametrize("seed", range(4))
def test_front_end_errors_are_trace_errors(seed: int) -> None:
    rng = random.Random(seed)
    parsed = 0
    for _ in range(300):
        src = random_script(rng)
        try:
            script = parse(src)
            parsed += 1
            if all(ap.provider in ("BEGIN", "END") for p in script.probes for ap in p.attach_points):
                Analyzer().analyze(script, [[ConcreteProbe(p.attach_points[0].provider, "BEGIN")]
                                            for p in script.probes])
                compile_script(src)  # code generation too (BEGIN/END need no kernel to compile)
        except TraceError as exc:
            assert exc.render(src)  # always renderable
    assert parsed > 0
