"""An HTTP service with eBPF inside: every request fires a hook point whose verified program decides.

`python -m pybpf.hooks.webapp` serves a small Starlette application with uvicorn; the ASGI
middleware `HookMiddleware` fires `HookPoint("webapp:request")` with a `HttpRequest` context for
each request and answers 429 or 403 when the attached program's verdict says so. The default
policy is `ratelimit.c` (package data): at most `limit` requests per client per window, paths
under `/admin` refused.
"""
