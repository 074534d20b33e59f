"""Tetragon TracingPolicy YAML (cilium.io/v1alpha1) read into checked, immutable hook descriptions.

Every mistake is reported as one PolicyError naming the file and the YAML line: an unknown
operator or action, an argument index no `args` entry captures, more than 5 selectors, a value
of the wrong kind. What the kernel decides (does the tracepoint exist, how many fields it has)
is checked later, when the hooks are bound to the running kernel (pybpf.guard.bind).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from pybpf.errors import BpfError
from pybpf.guard.yamlnodes import YList, YMap, load_documents

MAX_SELECTORS = 5
INT_TYPES = {"int", "int8", "int16", "int32", "sint8", "sint16", "sint32", "int64", "sint64", "long",
             "uint8", "uint16", "uint32", "uint64", "ulong", "unsigned long", "size_t", "fd", "auto"}
STRING_TYPES = {"string", "char_buf", "filename"}
KERNEL_POINTER_TYPES = {"file", "path", "dentry", "sock", "skb", "cred", "linux_binprm", "net_device"}
ARG_OPERATORS = {"Equal", "NotEqual", "Prefix", "NotPrefix", "Postfix", "NotPostfix", "Mask",
                 "GT", "LT", "GreaterThan", "LessThan"}
STRING_ONLY = {"Prefix", "NotPrefix", "Postfix", "NotPostfix"}
INT_ONLY = {"Mask", "GT", "LT", "GreaterThan", "LessThan"}
IN_NOT_IN = {"In", "NotIn"}
ACTIONS = {"Sigkill", "Signal", "Post", "NoPost", "Override"}
NAMESPACES = {"Uts", "Ipc", "Mnt", "Pid", "PidForChildren", "Net", "Cgroup", "Time", "TimeForChildren", "User"}
CAP_TYPES = {"Effective", "Inheritable", "Permitted"}
CAPABILITIES = (
    "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
    "CAP_SETGID", "CAP_SETUID", "CAP_SETPCAP", "CAP_LINUX_IMMUTABLE", "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST", "CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO", "CAP_SYS_CHROOT", "CAP_SYS_PTRACE", "CAP_SYS_PACCT", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_MKNOD", "CAP_LEASE",
    "CAP_AUDIT_WRITE", "CAP_AUDIT_CONTROL", "CAP_SETFCAP", "CAP_MAC_OVERRIDE", "CAP_MAC_ADMIN",
    "CAP_SYSLOG", "CAP_WAKE_ALARM", "CAP_BLOCK_SUSPEND", "CAP_AUDIT_READ", "CAP_PERFMON", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
)  # the bit number is the position (linux/capability.h)
# selector keys Tetragon has that this implementation refuses with a clear message
UNSUPPORTED_FILTERS = {"matchData", "matchReturnArgs", "matchParentBinaries", "matchNamespaceChanges",
                       "matchCapabilityChanges", "matchWorkloads", "matchReturnActions"}


class PolicyError(BpfError):
    """A TracingPolicy that cannot be used; the message names the file and the line."""

    def __init__(self, message: str, *, path: str = "", line: int = 0) -> None:
        self.reason, self.path, self.line = message, path, line
        where = f"{path}:{line}: " if path and line else (f"{path}: " if path else "")
        super().__init__(f"{where}{message}")


@dataclass(frozen=True)
class ArgSpec:
    """One `args` entry: which field/argument (`index`), read as `type`."""

    index: int
    type: str
    line: int
    size_arg_index: int = 0  # char_buf: 1-based index of the argument holding the size
    label: str = ""


@dataclass(frozen=True)
class ArgFilter:
    """One matchArgs entry; `arg` is the position in the hook's `args` list it filters."""

    arg: int
    operator: str
    values: tuple[str, ...]
    line: int


@dataclass(frozen=True)
class ListFilter:
    """matchBinaries, matchPIDs, matchNamespaces (`kind` = namespace), matchCapabilities (`kind` = set)."""

    operator: str
    values: tuple[str, ...]
    line: int
    kind: str = ""
    follow: bool = False  # matchPIDs followForks: children forked later match too


@dataclass(frozen=True)
class Action:
    action: str
    line: int
    arg_sig: int = 0
    rate_limit_ns: int = 0
    rate_limit_scope: str = "thread"
    arg_error: int = 0


@dataclass(frozen=True)
class Selector:
    line: int
    args: tuple[ArgFilter, ...] = ()
    binaries: tuple[ListFilter, ...] = ()
    pids: tuple[ListFilter, ...] = ()
    namespaces: tuple[ListFilter, ...] = ()
    capabilities: tuple[ListFilter, ...] = ()
    actions: tuple[Action, ...] = ()


@dataclass(frozen=True)
class Hook:
    """One hook of a policy: kind tracepoint (target subsystem/event), uprobe (path:symbol),
    kprobe (call) or lsmhook (hook)."""

    kind: str
    target: str
    line: int
    args: tuple[ArgSpec, ...] = ()
    selectors: tuple[Selector, ...] = ()
    raw: bool = False
    message: str = ""
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class TracingPolicy:
    name: str
    path: str
    hooks: tuple[Hook, ...] = field(default_factory=tuple)


class _Reader:
    """Checks one policy document, raising PolicyError with the line of the offending node."""

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, message: str, line: int) -> PolicyError:
        return PolicyError(message, path=self.path, line=line)

    def map(self, value: Any, what: str, line: int, allowed: set[str] | None = None) -> YMap:
        if not isinstance(value, YMap):
            raise self.fail(f"{what} must be a mapping", line)
        if allowed is not None:
            for key in value:
                if key in UNSUPPORTED_FILTERS:
                    raise self.fail(f"{key} is not supported by pybpf guard", value.key_line(key))
                if key not in allowed:
                    raise self.fail(f"unknown field {key!r} in {what} (expected one of: "
                                    f"{', '.join(sorted(allowed))})", value.key_line(key))
        return value

    def seq(self, parent: YMap, key: str, what: str) -> YList:
        value = parent.get(key, YList())
        if value is None:
            value = YList()
        if not isinstance(value, YList):
            raise self.fail(f"{what} must be a list", parent.key_line(key))
        if not hasattr(value, "item_lines"):
            value.item_lines, value.line = [], parent.key_line(key)
        return value

    def integer(self, value: Any, what: str, line: int) -> int:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.fail(f"{what} must be an integer, not {value!r}", line)
        try:
            return int(value, 0) if isinstance(value, str) else value
        except ValueError:
            raise self.fail(f"{what} must be an integer, not {value!r}", line) from None

    def strings(self, parent: YMap, key: str, what: str) -> tuple[str, ...]:
        values = self.seq(parent, key, what)
        out = []
        for i, v in enumerate(values):
            if isinstance(v, (YMap, YList)) or v is None:
                raise self.fail(f"{what} must be a list of strings or numbers", values.item_line(i))
            out.append(str(v).lower() if isinstance(v, bool) else str(v))
        return tuple(out)

    def operator(self, m: YMap, allowed: set[str], what: str) -> str:
        op = m.get("operator")
        if op not in allowed:
            raise self.fail(f"unknown operator {op!r} in {what} (expected one of: {', '.join(sorted(allowed))})",
                            m.key_line("operator"))
        return str(op)

    # --- documents -------------------------------------------------------------------------------

    def policy(self, doc: Any) -> TracingPolicy:
        top = self.map(doc, "a TracingPolicy", 1)
        if top.get("apiVersion") != "cilium.io/v1alpha1":
            raise self.fail(f"apiVersion must be cilium.io/v1alpha1, not {top.get('apiVersion')!r}",
                            top.key_line("apiVersion"))
        if top.get("kind") not in ("TracingPolicy", "TracingPolicyNamespaced"):
            raise self.fail(f"kind must be TracingPolicy, not {top.get('kind')!r}", top.key_line("kind"))
        meta = self.map(top.get("metadata"), "metadata", top.key_line("metadata"))
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise self.fail("metadata.name must be a non-empty string", meta.key_line("name"))
        spec = self.map(top.get("spec"), "spec", top.key_line("spec"),
                        {"tracepoints", "uprobes", "kprobes", "lsmhooks", "options", "lists", "podSelector",
                         "containerSelector", "hostSelector"})
        hooks: list[Hook] = []
        for key, kind in (("tracepoints", "tracepoint"), ("uprobes", "uprobe"), ("kprobes", "kprobe"),
                          ("lsmhooks", "lsmhook")):
            items = self.seq(spec, key, f"spec.{key}")
            for i, item in enumerate(items):
                hooks.extend(self.hook(kind, item, items.item_line(i)))
        if not hooks:
            raise self.fail("the policy has no hooks (spec.tracepoints, uprobes, kprobes or lsmhooks)",
                            top.key_line("spec"))
        return TracingPolicy(name=name, path=self.path, hooks=tuple(hooks))

    def hook(self, kind: str, item: Any, line: int) -> list[Hook]:
        common = {"args", "selectors", "message", "tags", "returnArg", "returnArgAction", "return", "ignore"}
        fields = {"tracepoint": {"subsystem", "event", "raw"}, "uprobe": {"path", "symbols", "offsets"},
                  "kprobe": {"call", "syscall"}, "lsmhook": {"hook"}}[kind]
        m = self.map(item, f"a {kind} hook", line, common | fields)
        args = self.args(m)
        selectors = self.selectors(m, args)
        message = str(m.get("message", "") or "")
        tags = self.strings(m, "tags", "tags")
        made = dict(line=line, args=args, selectors=selectors, message=message, tags=tags)
        if kind == "tracepoint":
            sub, event = m.get("subsystem"), m.get("event")
            if not isinstance(sub, str) or not sub:
                raise self.fail("a tracepoint needs a subsystem", m.key_line("subsystem"))
            if not isinstance(event, str) or not event:
                raise self.fail("a tracepoint needs an event", m.key_line("event"))
            return [Hook(kind, f"{sub}/{event}", raw=bool(m.get("raw", False)), **made)]  # type: ignore[arg-type]
        if kind == "uprobe":
            path = m.get("path")
            if not isinstance(path, str) or not path:
                raise self.fail("a uprobe needs a path", m.key_line("path"))
            symbols = self.strings(m, "symbols", "symbols")
            if not symbols:
                raise self.fail("a uprobe needs at least one symbol", m.key_line("symbols"))
            return [Hook(kind, f"{path}:{sym}", **made) for sym in symbols]  # type: ignore[arg-type]
        target = m.get("call" if kind == "kprobe" else "hook")
        if not isinstance(target, str) or not target:
            raise self.fail(f"a {kind} needs a {'call' if kind == 'kprobe' else 'hook'}", line)
        return [Hook(kind, target, **made)]  # type: ignore[arg-type]

    def args(self, m: YMap) -> tuple[ArgSpec, ...]:
        items = self.seq(m, "args", "args")
        out = []
        for i, item in enumerate(items):
            line = items.item_line(i)
            a = self.map(item, "an argument", line,
                         {"index", "type", "sizeArgIndex", "label", "returnCopy", "maxData", "resolve"})
            if "index" not in a:
                raise self.fail("an argument needs an index", line)
            index = self.integer(a["index"], "index", a.key_line("index"))
            if index < 0:
                raise self.fail(f"argument index {index} is negative", a.key_line("index"))
            typ = str(a.get("type", "auto"))
            if typ not in INT_TYPES | STRING_TYPES | KERNEL_POINTER_TYPES:
                raise self.fail(f"unknown argument type {typ!r}", a.key_line("type"))
            size_idx = self.integer(a.get("sizeArgIndex", 0), "sizeArgIndex", a.key_line("sizeArgIndex"))
            if typ == "char_buf" and size_idx <= 0:
                raise self.fail("a char_buf argument needs sizeArgIndex (1-based)", a.key_line("type"))
            out.append(ArgSpec(index, typ, line, size_idx, str(a.get("label", "") or "")))
        return tuple(out)

    def selectors(self, m: YMap, args: tuple[ArgSpec, ...]) -> tuple[Selector, ...]:
        items = self.seq(m, "selectors", "selectors")
        if len(items) > MAX_SELECTORS:
            raise self.fail(f"too many selectors: {len(items)} (a hook takes at most {MAX_SELECTORS})",
                            m.key_line("selectors"))
        return tuple(self.selector(item, items.item_line(i), args) for i, item in enumerate(items))

    def selector(self, item: Any, line: int, args: tuple[ArgSpec, ...]) -> Selector:
        s = self.map(item, "a selector", line, {"matchArgs", "matchBinaries", "matchPIDs", "matchNamespaces",
                                                 "matchCapabilities", "matchActions"} | UNSUPPORTED_FILTERS)
        arg_filters = []
        items = self.seq(s, "matchArgs", "matchArgs")
        for i, f in enumerate(items):
            fm = self.map(f, "a matchArgs entry", items.item_line(i), {"index", "args", "operator", "values"})
            arg_filters.append(self.arg_filter(fm, items.item_line(i), args))
        return Selector(
            line=line, args=tuple(arg_filters),
            binaries=self.list_filters(s, "matchBinaries", {"operator", "values", "followChildren"}, ""),
            pids=self.list_filters(s, "matchPIDs", {"operator", "values", "followForks", "isNamespacePID"}, ""),
            namespaces=self.list_filters(s, "matchNamespaces", {"operator", "values", "namespace"}, "namespace"),
            capabilities=self.list_filters(s, "matchCapabilities", {"operator", "values", "type",
                                                                     "isNamespaceCapability"}, "type"),
            actions=self.actions(s),
        )

    def arg_filter(self, fm: YMap, line: int, args: tuple[ArgSpec, ...]) -> ArgFilter:
        op = self.operator(fm, ARG_OPERATORS, "matchArgs")
        if "args" in fm:
            positions = self.seq(fm, "args", "matchArgs args")
            if len(positions) != 1:
                raise self.fail("matchArgs args must name exactly one argument", fm.key_line("args"))
            pos = self.integer(positions[0], "args", fm.key_line("args"))
            if not 0 <= pos < len(args):
                raise self.fail(f"matchArgs args [{pos}] is out of range: the hook has {len(args)} args",
                                fm.key_line("args"))
        else:
            if "index" not in fm:
                raise self.fail("a matchArgs entry needs an index", line)
            index = self.integer(fm["index"], "index", fm.key_line("index"))
            matches = [i for i, a in enumerate(args) if a.index == index]
            if not matches:
                have = ", ".join(str(a.index) for a in args) or "none"
                raise self.fail(f"matchArgs index {index} is not captured by the hook's args "
                                f"(indexes: {have})", fm.key_line("index"))
            pos = matches[0]
        values = self.strings(fm, "values", "values")
        if not values:
            raise self.fail("matchArgs needs at least one value", line)
        typ = args[pos].type
        is_str = typ in STRING_TYPES
        if op in STRING_ONLY and not is_str:
            raise self.fail(f"operator {op} needs a string argument, args[{pos}] is {typ}", fm.key_line("operator"))
        if op in INT_ONLY and is_str:
            raise self.fail(f"operator {op} needs an integer argument, args[{pos}] is {typ}",
                            fm.key_line("operator"))
        if not is_str:
            for v in values:
                self.integer(v, f"a value of {typ} args[{pos}]", fm.key_line("values"))
        elif any(len(v.encode()) > 255 for v in values):
            raise self.fail("string values are limited to 255 bytes", fm.key_line("values"))
        return ArgFilter(pos, op, values, line)

    def list_filters(self, s: YMap, key: str, allowed: set[str], kind_key: str) -> tuple[ListFilter, ...]:
        items = self.seq(s, key, key)
        out = []
        for i, f in enumerate(items):
            line = items.item_line(i)
            fm = self.map(f, f"a {key} entry", line, allowed)
            op = self.operator(fm, IN_NOT_IN, key)
            values = self.strings(fm, "values", "values")
            if not values:
                raise self.fail(f"{key} needs at least one value", line)
            kind = ""
            if key == "matchPIDs":
                if fm.get("isNamespacePID"):
                    raise self.fail("isNamespacePID is not supported by pybpf guard", fm.key_line("isNamespacePID"))
                for v in values:
                    self.integer(v, "a PID", fm.key_line("values"))
            if key == "matchBinaries" and fm.get("followChildren"):
                raise self.fail("followChildren is not supported by pybpf guard", fm.key_line("followChildren"))
            if key == "matchNamespaces":
                kind = str(fm.get("namespace"))
                if kind not in NAMESPACES:
                    raise self.fail(f"unknown namespace {kind!r} (expected one of: {', '.join(sorted(NAMESPACES))})",
                                    fm.key_line("namespace"))
                for v in values:
                    if v != "host_ns":
                        self.integer(v, "a namespace inode or host_ns", fm.key_line("values"))
            if key == "matchCapabilities":
                kind = str(fm.get("type", "Effective"))
                if kind not in CAP_TYPES:
                    raise self.fail(f"unknown capability set {kind!r} (expected one of: {', '.join(sorted(CAP_TYPES))})",
                                    fm.key_line("type"))
                for v in values:
                    if v.upper() not in CAPABILITIES:
                        raise self.fail(f"unknown capability {v!r}", fm.key_line("values"))
            out.append(ListFilter(op, values, line, kind, bool(fm.get("followForks", False))))
        return tuple(out)

    def actions(self, s: YMap) -> tuple[Action, ...]:
        items = self.seq(s, "matchActions", "matchActions")
        out = []
        for i, a in enumerate(items):
            line = items.item_line(i)
            am = self.map(a, "an action", line, {"action", "argSig", "rateLimit", "rateLimitScope", "argError",
                                                  "kernelStackTrace", "userStackTrace"})
            name = am.get("action")
            if name not in ACTIONS:
                raise self.fail(f"unknown action {name!r} (expected one of: {', '.join(sorted(ACTIONS))})",
                                am.key_line("action"))
            sig = 0
            if name == "Signal":
                if "argSig" not in am:
                    raise self.fail("a Signal action needs argSig", line)
                sig = self.integer(am["argSig"], "argSig", am.key_line("argSig"))
                if not 0 < sig < 65:
                    raise self.fail(f"argSig {sig} is not a signal number", am.key_line("argSig"))
            rate = 0
            if "rateLimit" in am:
                if name != "Post":
                    raise self.fail("rateLimit belongs to a Post action", am.key_line("rateLimit"))
                rate = parse_duration(str(am["rateLimit"]))
                if rate <= 0:
                    raise self.fail(f"bad rateLimit {am['rateLimit']!r} (e.g. 30, 5m, 1h)", am.key_line("rateLimit"))
            scope = str(am.get("rateLimitScope", "thread"))
            if scope not in ("thread", "process", "global"):
                raise self.fail(f"unknown rateLimitScope {scope!r} (thread, process or global)",
                                am.key_line("rateLimitScope"))
            err = self.integer(am.get("argError", 0), "argError", am.key_line("argError"))
            out.append(Action(str(name), line, sig, rate, scope, err))
        return tuple(out)


def parse_duration(text: str) -> int:
    """Tetragon's rateLimit: seconds by default, or with an m/h (or s/ms) suffix; nanoseconds, 0 if bad."""
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h)?\s*", text)
    if not m:
        return 0
    unit = {"ms": 10**6, "s": 10**9, None: 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}[m.group(2)]
    return int(m.group(1)) * unit


def parse_policies(text: str, path: str = "<policy>") -> list[TracingPolicy]:
    """Every TracingPolicy in a YAML stream (several documents may be separated by ---)."""
    try:
        docs = load_documents(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise PolicyError(f"bad YAML: {problem}", path=path, line=mark.line + 1 if mark else 0) from None
    docs = [d for d in docs if d is not None]
    if not docs:
        raise PolicyError("no TracingPolicy in the file", path=path)
    reader = _Reader(path)
    return [reader.policy(d) for d in docs]


def load_policy_files(paths: list[str]) -> list[TracingPolicy]:
    out: list[TracingPolicy] = []
    for p in paths:
        try:
            text = Path(p).read_text()
        except OSError as exc:
            raise PolicyError(f"cannot read policy: {exc.strerror}", path=p) from None
        out.extend(parse_policies(text, p))
    names = [pol.name for pol in out]
    for name in names:
        if names.count(name) > 1:
            raise PolicyError(f"two policies are named {name!r}")
    return out
