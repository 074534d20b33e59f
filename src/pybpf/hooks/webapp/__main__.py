"""`python -m pybpf.hooks.webapp [POLICY] [--engine E] [--param N=V] [--pin DIR]`: serve the demo with its hook."""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pybpf.errors import BpfError, LoadError
from pybpf.hooks.webapp.app import HOOK_NAME, POLICY, HttpRequest, create_app, load_policy


def parse_param(item: str) -> tuple[str, int | str]:
    """`NAME=VALUE`: an integer (0x.. too), else the text for a char array global."""
    name, sep, value = item.partition("=")
    if not sep or not name:
        raise LoadError(f"--param takes NAME=VALUE, not {item!r}")
    try:
        return name, int(value, 0)
    except ValueError:
        return name, value


def _pin(hook: Any, directory: str) -> list[str]:
    from pybpf.kernel.pin import pin_object

    os.makedirs(directory, exist_ok=True)
    paths = []
    for name, m in hook.maps.items():
        if name.startswith("."):
            continue
        path = os.path.join(directory, name)
        pin_object(m.fd, path)
        paths.append(path)
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m pybpf.hooks.webapp",
                                description="A small HTTP service whose requests go through an eBPF policy "
                                            f"attached to the hook point {HOOK_NAME!r}.")
    p.add_argument("policy", nargs="?", default=str(POLICY),
                   help="C source or object with a program in section hook/webapp:request "
                        "(default: the shipped ratelimit.c)")
    p.add_argument("--engine", choices=("interp", "jit", "kernel"), default="jit")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000, help="0 picks a free port (printed)")
    p.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                   help="set a const volatile global of the policy, e.g. limit=3 or blocked_prefix=/private")
    p.add_argument("--pin", metavar="DIR", help="(kernel engine) pin the policy's maps in DIR on bpffs, "
                                                "for `pybpf map dump DIR/NAME`")
    args = p.parse_args(argv)
    pinned: list[str] = []
    try:
        if args.pin and args.engine != "kernel":
            raise LoadError("--pin needs --engine kernel (the user-space engines' maps live in this process)")
        from pybpf.hooks.hookpoint import HookPoint

        hook = HookPoint(HOOK_NAME, context=HttpRequest, engine=args.engine)
        btf = load_policy(hook, args.policy, globals=dict(parse_param(i) for i in args.param))
        if args.pin:
            pinned = _pin(hook, args.pin)
        sock = socket.socket(socket.AF_INET6 if ":" in args.host else socket.AF_INET)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((args.host, args.port))
        except OSError as exc:
            raise LoadError(f"cannot listen on {args.host}:{args.port}: {exc.strerror}") from None
        sock.listen(128)
    except BpfError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import uvicorn

    host, port = sock.getsockname()[:2]
    print(f"listening on http://{host}:{port} (policy {Path(args.policy).name}, engine {args.engine})",
          file=sys.stderr, flush=True)
    # uvicorn stops on SIGINT/SIGTERM, then raises the signal again: leave through `finally`
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        uvicorn.Server(uvicorn.Config(create_app(hook, btf), log_level="warning")).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        hook.close()
        for path in pinned:
            try:
                os.unlink(path)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
