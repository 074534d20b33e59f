"""Build a gadget image from C: compile with pybpf.toolchain, verify, derive its config from BTF.

The config (media type `application/vnd.pybpf.gadget.config.v1+json`) records what the generated
user space needs: the programs and their types, the event columns (the ring buffer's record
struct, field by field), the `const volatile` parameters with their defaults, and the metrics
(maps named in the manifest `gadget.yaml`).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import yaml

from pybpf.btf.printer import declaration
from pybpf.btf.types import Kind
from pybpf.gadget.store import GadgetError, Image, Store, parse_ref
from pybpf.object.spec import CollectionSpec

BUILTIN_DIR = Path(__file__).with_name("bpf")
HOOK_PREFIX = "hook/"  # programs for an application's pybpf.hooks.HookPoint


CONFIG_FORMAT = 2  # bump when config_of() changes what it writes: built-in images are then rebuilt
BUILTIN_ANNOTATION = "org.pybpf.gadget.builtin.digest"


def builtin_gadgets() -> dict[str, Path]:
    """The gadgets shipped with pybpf: {name: C source}."""
    return {p.stem: p for p in sorted(BUILTIN_DIR.glob("*.c"))}


def read_manifest(path: str | os.PathLike[str] | None) -> dict[str, Any]:
    """The optional gadget.yaml: name, description, metrics (gauges or counters), histograms (map names), params."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text())
    except OSError as exc:
        raise GadgetError(f"cannot read manifest {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise GadgetError(f"manifest {path} is not valid YAML: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise GadgetError(f"manifest {path} must be a mapping (name, description, metrics, params)")
    return data


def _ring_buffers(spec: CollectionSpec) -> list[str]:
    from pybpf.abi import MapType

    return [name for name, m in spec.maps.items() if m.type in (MapType.RINGBUF, MapType.PERF_EVENT_ARRAY)]


def event_columns(spec: CollectionSpec) -> tuple[str | None, str | None, list[dict[str, str]]]:
    """(ring buffer map, event struct name, columns) from BTF; Nones and [] when there is none."""
    from pybpf.object.events import event_type_id

    btf = spec.btf
    for map_name in _ring_buffers(spec):
        type_id = event_type_id(spec, map_name) if btf is not None else 0
        if not type_id:
            continue
        t = btf.skip_modifiers(type_id)
        if t.kind != Kind.STRUCT:
            continue
        columns = [{"name": m.name, "type": declaration(btf, m.type_id)} for m in t.members if m.name]
        return map_name, t.name, columns
    rings = _ring_buffers(spec)
    return (rings[0] if rings else None), None, []


def parameters(spec: CollectionSpec) -> list[dict[str, Any]]:
    """The `const volatile` globals (.rodata variables) with their size and default value."""
    btf = spec.btf
    out: list[dict[str, Any]] = []
    if btf is None:
        return out
    for name, m in spec.maps.items():
        if not name.startswith(".rodata") or ".str" in name:
            continue
        sec = btf.find(m.section or name, Kind.DATASEC)
        if sec is None:
            continue
        data = m.contents[0][1] if m.contents else bytes(m.value_size)
        for info in sec.secinfos:
            var = btf.type(info.type_id)
            type_name = declaration(btf, var.type_id)
            raw = data[info.offset:info.offset + info.size]
            out.append({"name": var.name, "type": type_name, "size": info.size,
                        "default": int.from_bytes(raw, "little")})
    return out


def config_of(spec: CollectionSpec, name: str, manifest: dict[str, Any]) -> dict[str, Any]:
    """The gadget config document for `spec`."""
    event_map, event_type, columns = event_columns(spec)
    metrics = _metric_entries(spec, manifest)
    histograms = _map_names(spec, manifest, "histograms")
    for name in histograms:
        m = spec.maps[name]
        if m.key_size != 4 or m.value_size != 8:
            raise GadgetError(f"manifest: histogram {name!r} must map a u32 log2 slot to a u64 count "
                              f"(it has {m.key_size}-byte keys and {m.value_size}-byte values)")
    param_docs = manifest.get("params") or {}
    params = parameters(spec)
    for p in params:
        if isinstance(param_docs, dict) and p["name"] in param_docs:
            p["description"] = str(param_docs[p["name"]])
    return {
        "name": str(manifest.get("name") or name),
        "description": str(manifest.get("description") or ""),
        "programs": [_program(p) for p in spec.programs.values()],
        "eventMap": event_map,
        "eventType": event_type,
        "columns": columns,
        "params": params,
        "metrics": metrics,
        "histograms": [{"map": m} for m in histograms],
    }


def _program(prog: Any) -> dict[str, str]:
    out = {"name": prog.name, "section": prog.section, "type": prog.type.name}
    if prog.section.startswith(HOOK_PREFIX):
        out["hook"] = prog.section[len(HOOK_PREFIX):]
    return out


def _for_verification(spec: CollectionSpec) -> CollectionSpec:
    """Programs for an application's hook point (section `hook/NAME`) are checked with a kprobe's
    context rules (a read-only context of up to 168 bytes), the widest a HookPoint uses; the hook
    point verifies them again with its own context size when they are attached."""
    from dataclasses import replace

    from pybpf.abi import ProgramType

    hooked = {n: replace(p, type=ProgramType.KPROBE) for n, p in spec.programs.items()
              if p.section.startswith(HOOK_PREFIX)}
    return replace(spec, programs={**spec.programs, **hooked}) if hooked else spec


def load_spec(ref: str, store: Store | None = None) -> CollectionSpec:
    """The CollectionSpec of the stored image `ref` (verified by digest), e.g. for
    `HookPoint.attach()`: a policy for an application's hook point distributed as a gadget."""
    from pybpf.object import load_bytes

    store = store or Store()
    image = ensure(ref, store)
    return load_bytes(store.object_of(image), name=image.ref)


METRIC_KINDS = ("gauge", "counter")


def _metric_entries(spec: CollectionSpec, manifest: dict[str, Any]) -> list[dict[str, str]]:
    """The manifest's `metrics`: map names (gauges) or `{map: NAME, type: gauge|counter}` mappings."""
    entries = manifest.get("metrics") or []
    if not isinstance(entries, list):
        raise GadgetError("manifest: metrics must be a list of map names or {map, type} mappings")
    out: list[dict[str, str]] = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"map": entry}
        if not isinstance(entry, dict) or not isinstance(entry.get("map"), str) or \
                set(entry) - {"map", "type"} or entry.get("type", "gauge") not in METRIC_KINDS:
            raise GadgetError(f"manifest: metrics entry {entry!r} must be a map name or "
                              f"{{map: NAME, type: {'|'.join(METRIC_KINDS)}}}")
        out.append({"map": entry["map"], "type": str(entry.get("type", "gauge"))})
    _map_names(spec, {"metrics": [e["map"] for e in out]}, "metrics")
    return out


def _map_names(spec: CollectionSpec, manifest: dict[str, Any], field: str) -> list[str]:
    names = manifest.get(field) or []
    if not isinstance(names, list) or not all(isinstance(x, str) for x in names):
        raise GadgetError(f"manifest: {field} must be a list of map names")
    for name in names:
        if name not in spec.maps:
            raise GadgetError(f"manifest: {field} names {name!r}, not a map of the object "
                              f"(it has: {', '.join(spec.maps)})")
    return names


def build(source: str | os.PathLike[str], ref: str, *, manifest: str | os.PathLike[str] | None = None,
          store: Store | None = None, annotations: dict[str, str] | None = None) -> Image:
    """Compile `source`, verify every program, and store the image as `ref`."""
    from pybpf.object import load_bytes
    from pybpf.toolchain import compile_c
    from pybpf.verifier import verify_collection

    src = Path(source)
    if not src.is_file():
        raise GadgetError(f"no such C source: {src}")
    doc = read_manifest(manifest)
    obj = Path(compile_c(src)).read_bytes()
    spec = load_bytes(obj, name=str(src))
    if not spec.programs:
        raise GadgetError(f"{src} defines no eBPF program")
    verify_collection(_for_verification(spec))
    name = parse_ref(ref)[0].rsplit("/", 1)[-1]
    config = config_of(spec, name, doc)
    labels = {"org.opencontainers.image.title": config["name"], **(annotations or {})}
    if config["description"]:
        labels["org.opencontainers.image.description"] = config["description"]
    return (store or Store()).add(ref, config, obj, labels)


def _builtin_digest(source: Path) -> str:
    """What a built-in gadget's image is built from: its C, its manifest and the config format."""
    h = hashlib.sha256(f"config-format {CONFIG_FORMAT}\n".encode())
    for path in (source, source.with_suffix(".yaml")):
        h.update(path.read_bytes() if path.exists() else b"")
    return h.hexdigest()


def ensure(ref: str, store: Store) -> Image:
    """The stored image `ref`; a built-in gadget's name builds it into the store on first use, and
    again when pybpf ships a different source, manifest or config format for it (an image the
    user built under that name is left alone)."""
    name, tag = parse_ref(ref)
    builtin = builtin_gadgets().get(name) if tag == "latest" and "/" not in name else None
    if builtin is None:
        return store.image(ref)
    digest = _builtin_digest(builtin)
    if store.resolve(ref) is not None:
        image = store.image(ref)
        if image.manifest.get("annotations", {}).get(BUILTIN_ANNOTATION) in (digest, None):
            return image  # current, or an image the user built under this name
    yaml_path = builtin.with_suffix(".yaml")
    return build(builtin, ref, manifest=yaml_path if yaml_path.exists() else None, store=store,
                 annotations={BUILTIN_ANNOTATION: digest})
