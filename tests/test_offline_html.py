"""benchmarks/offline_html.py: the copy of asv's dashboard that loads its libraries locally (no network here)."""

import re
from pathlib import Path

import pytest
from helpers import load_benchmark_script

offline_html = load_benchmark_script("offline_html")

PAGE = """<head>
<script src="https://code.jquery.com/jquery-3.3.1.min.js" integrity="x" crossorigin="anon" onerror="f()"></script>
<script src="https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js" referrerpolicy="no"></script>
<script language="javascript" type="text/javascript" src="jquery.flot.axislabels.js"></script>
<link rel="stylesheet" href="https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css" integrity="y">
</head>
<a href="https://github.com/airspeed-velocity/asv/">airspeed velocity</a>
"""


def test_rewrite_points_cdn_resources_at_vendor_and_drops_integrity():
    out = offline_html.rewrite_index(PAGE)
    assert '<script src="vendor/jquery-3.3.1.min.js" onerror="f()"></script>' in out
    assert '<script src="vendor/jquery.flot-0.8.3.time.min.js"></script>' in out
    assert '<link rel="stylesheet" href="vendor/bootstrap-3.1.0.min.css">' in out
    assert 'src="jquery.flot.axislabels.js"' in out  # already local: untouched
    assert '<a href="https://github.com/airspeed-velocity/asv/">' in out  # a link, not a resource
    assert "integrity" not in out and "crossorigin" not in out and "referrerpolicy" not in out


def test_rewrite_refuses_a_library_it_has_no_copy_of():
    page = '<script src="https://cdn.example.org/lib/new-dependency.min.js"></script>\n'
    with pytest.raises(SystemExit, match="new-dependency.min.js"):
        offline_html.rewrite_index(page)


def _installed_asv_www():
    asv = pytest.importorskip("asv")
    www = Path(asv.__file__).parent / "www"
    if not (www / "index.html").is_file():
        pytest.skip("this asv has no www/index.html")
    return www


def test_installed_asv_page_needs_only_libraries_we_have(tmp_path):
    www = _installed_asv_www()
    vendor = tmp_path / "vendor"
    vendor.mkdir()
    for name in offline_html.VENDOR_FILES.values():
        (vendor / name).write_text(f"/* {name} */\n")
    out = offline_html.make_offline(www, tmp_path / "site", vendor)

    index = (out / "index.html").read_text(encoding="utf-8")
    resources = re.findall(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"', index)
    assert resources, "no scripts found in asv's index.html"
    assert not [url for url in resources if "://" in url]
    for url in resources:
        if url.endswith((".js", ".css")):  # publish writes the feed (regressions.xml) itself
            assert (out / url).is_file(), url
    assert "://" in (www / "index.html").read_text(encoding="utf-8")  # the installed asv is left as it was
