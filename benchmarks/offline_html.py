"""Make a copy of asv's published dashboard that renders without internet access.

asv >= 0.6 loads jQuery, flot, stupidtable, blueimp-md5 and Bootstrap from public CDNs; a browser that
cannot reach them shows asv's "external JavaScript dependencies failed to load" page.  asv 0.5.1 still
shipped the same libraries in its source distribution (``asv/www/vendor/``), so this script takes them
from there (one ``pip download`` of that sdist, cached) or from ``--vendor DIR``, copies the published
site to OUT, puts the libraries in OUT/vendor/ and points OUT/index.html at them.  The published site
itself and the installed asv are left untouched.

    python benchmarks/offline_html.py benchmarks/html /tmp/asv-site
    python -m http.server 8080 --directory /tmp/asv-site     # the page loads its JSON over HTTP
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR_SDIST = "asv==0.5.1"
VENDOR_PREFIX = "asv-0.5.1/asv/www/vendor/"

# last path component of each CDN URL in asv's index.html -> the file asv 0.5.1 vendored for it
VENDOR_FILES = {
    "jquery-3.3.1.min.js": "jquery-3.3.1.min.js",
    "jquery.flot.min.js": "jquery.flot-0.8.3.min.js",
    "jquery.flot.time.min.js": "jquery.flot-0.8.3.time.min.js",
    "jquery.flot.selection.min.js": "jquery.flot-0.8.3.selection.min.js",
    "jquery.flot.categories.min.js": "jquery.flot-0.8.3.categories.min.js",
    "jquery.flot.orderBars.js": "jquery.flot.orderBars.js",
    "stupidtable.min.js": "stupidtable.js",
    "md5.min.js": "md5.js",
    "bootstrap.min.js": "bootstrap-3.1.0.min.js",
    "bootstrap.min.css": "bootstrap-3.1.0.min.css",
}

_URL_ATTR = re.compile(r'(src|href)="(https?://[^"]+)"')
# subresource-integrity and CORS attributes name the CDN bytes; the local copies are served same-origin
_CDN_ATTRS = re.compile(r'\s+(integrity|crossorigin|referrerpolicy)="[^"]*"')


def default_cache_dir():
    """Where the vendored libraries are kept between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "crossentropy" / "asv-vendor"


def fetch_vendor(cache_dir):
    """Return a directory holding every file of VENDOR_FILES, downloading asv 0.5.1's sdist if needed."""
    cache_dir = Path(cache_dir)
    if all((cache_dir / name).is_file() for name in VENDOR_FILES.values()):
        return cache_dir
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary", ":all:"]
        subprocess.run([*cmd, "--dest", tmp, VENDOR_SDIST], check=True)
        (sdist,) = Path(tmp).glob("asv-*.tar.gz")
        cache_dir.mkdir(parents=True, exist_ok=True)
        with tarfile.open(sdist) as tar:
            for member in tar.getmembers():
                name = member.name
                if member.isfile() and (name.startswith(VENDOR_PREFIX) or name == "asv-0.5.1/LICENSE.rst"):
                    target = cache_dir / Path(name).name
                    target.write_bytes(tar.extractfile(member).read())
    missing = [name for name in VENDOR_FILES.values() if not (cache_dir / name).is_file()]
    if missing:
        raise SystemExit(f"offline_html.py: {VENDOR_SDIST} sdist lacks {', '.join(missing)}")
    return cache_dir


def rewrite_index(html):
    """Point every CDN script and stylesheet of asv's index.html at vendor/; fail on a URL we do not know."""
    unknown = []

    def local(match):
        attr, url = match.groups()
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if name not in VENDOR_FILES:
            unknown.append(url)
            return match.group(0)
        return f'{attr}="vendor/{VENDOR_FILES[name]}"'

    lines = []
    for line in html.splitlines(keepends=True):
        is_resource = ("<script" in line or "<link" in line) and _URL_ATTR.search(line)
        if is_resource:
            line = _CDN_ATTRS.sub("", _URL_ATTR.sub(local, line))
        lines.append(line)
    if unknown:
        raise SystemExit("offline_html.py: no local copy for " + ", ".join(unknown) + " (a newer asv?)")
    return "".join(lines)


def make_offline(html_dir, out_dir, vendor_dir):
    """Copy the published site html_dir to out_dir with its CDN libraries served from out_dir/vendor/."""
    html_dir, out_dir, vendor_dir = Path(html_dir), Path(out_dir), Path(vendor_dir)
    if not (html_dir / "index.html").is_file():
        raise SystemExit(f"offline_html.py: {html_dir}/index.html not found (run `asv publish` first)")
    if out_dir.resolve() == html_dir.resolve():
        raise SystemExit("offline_html.py: OUT must differ from the published directory")
    shutil.copytree(html_dir, out_dir, dirs_exist_ok=True)
    (out_dir / "vendor").mkdir(exist_ok=True)
    for name in set(VENDOR_FILES.values()):
        shutil.copyfile(vendor_dir / name, out_dir / "vendor" / name)
    index = out_dir / "index.html"
    index.write_text(rewrite_index(index.read_text(encoding="utf-8")), encoding="utf-8")
    return out_dir


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("html_dir", help="the directory `asv publish` wrote (benchmarks/html)")
    parser.add_argument("out_dir", help="where the offline copy goes")
    parser.add_argument(
        "--vendor",
        help="a directory with the library files (names as in asv 0.5.1's asv/www/vendor/); "
        f"default: {default_cache_dir()}, filled from the {VENDOR_SDIST} sdist on first use",
    )
    args = parser.parse_args(argv)
    vendor = Path(args.vendor) if args.vendor else fetch_vendor(default_cache_dir())
    print(make_offline(args.html_dir, args.out_dir, vendor))


if __name__ == "__main__":
    main()
