#!/usr/bin/env bash
# The asv dashboard: run the benchmark suite over the last N commits, `asv publish` it, and optionally
# take a screenshot of the published page with headless Chromium.
#
#   benchmarks/dashboard.sh                                  # last 5 commits of main, small shapes, one sample, Sparse.time_sparse
#   benchmarks/dashboard.sh -n 10 -b 'Sparse' --full         # 10 commits, the Sparse benchmarks, full sampling
#   benchmarks/dashboard.sh -n 3 --screenshot benchmarks/dashboard.png
#   CROSSENTROPY_BENCH_SHAPES=large benchmarks/dashboard.sh -n 3
#
# asv builds every commit into a wheel in its own virtualenv under benchmarks/env/ (first run: minutes per
# commit, and PyPI access for the build requirements); commits already measured are skipped on later runs
# (--skip-existing-commits).  Results go to benchmarks/results/, the site to benchmarks/html/ (both
# git-ignored); `cd benchmarks && asv preview` serves it on http://127.0.0.1:8080.
# --screenshot renders offline: offline_html.py copies html/ with asv's CDN libraries (jQuery, flot,
# Bootstrap) served locally (from asv 0.5.1's sdist, fetched once with pip into ~/.cache/crossentropy/
# asv-vendor, or from $ASV_VENDOR_DIR), serves the copy on 127.0.0.1 and points headless Chromium at
# $DASHBOARD_PAGE (default: the Sparse.time_sparse graph, float32, one thread, C layout, log scale).
set -euo pipefail

n=5
ref=main
bench='Sparse\.time_sparse\b'
quick=(--quick)
shot=""
while [ $# -gt 0 ]; do
  case "$1" in
    -n) n="$2"; shift 2 ;;
    -r|--ref) ref="$2"; shift 2 ;;
    -b|--bench) bench="$2"; shift 2 ;;
    --full) quick=(); shift ;;
    --screenshot) shot="$2"; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "dashboard.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ -n "$shot" ] && case "$shot" in /*) ;; *) shot="$PWD/$shot" ;; esac

cd "$(dirname "$0")"
export CROSSENTROPY_BENCH_SHAPES="${CROSSENTROPY_BENCH_SHAPES:-small}"
hashes="$(mktemp)"
trap 'rm -f "$hashes"' EXIT
git rev-list -n "$n" "$ref" > "$hashes"
echo "== asv over $(wc -l < "$hashes") commits of $ref (shapes: $CROSSENTROPY_BENCH_SHAPES, bench: $bench)"
asv machine --yes > /dev/null
asv run "${quick[@]}" --show-stderr --skip-existing-commits --bench "$bench" "HASHFILE:$hashes"
asv publish
echo "== published: $PWD/html/index.html (view with: cd $PWD && asv preview)"

if [ -n "$shot" ]; then
  browser="$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)"
  if [ -z "$browser" ]; then
    echo "dashboard.sh: no chromium found for --screenshot (Debian: apt-get install chromium)" >&2
    exit 1
  fi
  # asv's page loads jQuery/flot/Bootstrap from CDNs; serve a copy that has them locally
  site="$(mktemp -d)"
  trap 'kill "${server:-}" 2>/dev/null || true; rm -rf "$hashes" "$site"' EXIT
  python offline_html.py ${ASV_VENDOR_DIR:+--vendor "$ASV_VENDOR_DIR"} html "$site" > /dev/null
  # the site loads its JSON with XHR, so serve it over HTTP rather than file://
  port="$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  python -m http.server "$port" --bind 127.0.0.1 --directory "$site" > /dev/null 2>&1 &
  server=$!
  sleep 1
  default_page="#bench_gufuncs.Sparse.time_sparse?p-dtype=%27float32%27&p-threads=1&p-layout=%27C%27&y-axis-scale=log"
  page="${DASHBOARD_PAGE:-$default_page}"
  "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size="${DASHBOARD_SIZE:-1200,700}" \
    --virtual-time-budget=20000 --screenshot="$shot" "http://127.0.0.1:$port/$page" 2> /dev/null
  echo "== screenshot: $shot"
fi
