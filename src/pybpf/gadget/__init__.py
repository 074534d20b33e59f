"""Gadgets: eBPF programs packaged as OCI images, stored locally, pushed/pulled, run by name.

`image` builds an image from C (compile, verify, derive the config from BTF), `store` keeps
images in an OCI image layout under the user's cache directory, `registry` speaks the OCI
distribution API, `runner` loads an image on the kernel engine and prints its events.
"""

from __future__ import annotations

CONFIG_MEDIA_TYPE = "application/vnd.pybpf.gadget.config.v1+json"
OBJECT_MEDIA_TYPE = "application/vnd.pybpf.gadget.object.v1+elf"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
