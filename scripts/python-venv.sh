#!/usr/bin/env bash
# Create the Python venv in which the localmesos conformance tests run third-party Mesos
# scheduler libraries, unmodified (crates/localmesos/tests/python/README.md):
#   pymesos 0.3.15  (douban)   — v1 scheduler + executor HTTP API, own HTTP/RecordIO parser
#   avmesos 0.4.2   (AVENTER)  — v1 scheduler HTTP API over `requests`
#
# Venv:   ${HERD_TEST_CACHE:-$HOME/.cache/herd-test}/venv      (use <venv>/bin/python)
# Marker: <venv>/.herd-complete, written last; it records the interpreter version and every pin
#         below, so editing a pin (or changing the interpreter) rebuilds the venv. A run that
#         finds a matching marker does nothing; a venv without a matching marker is rebuilt.
# Needs:  Python 3.11 with the venv module (Debian: python3-venv) and pip access to PyPI.
#         Interpreter: $HERD_PYTHON if set, else python3 if it is 3.11, else python3.11.
#         (3.12+ cannot work: http-parser 0.9.0's setup.py imports `imp`, removed in 3.12, and
#         pip runs that setup.py even just to download the sdist; ≤ 3.10 lacks some pins below,
#         e.g. pycparser 3.12 and requests 2.34.)
#
# The http-parser workaround (shared/MESOS-API.md §5): pymesos needs `http_parser.http`, whose
# package http-parser 0.9.0 only ships an sdist with a Cython C extension generated for old
# Pythons (fails on 3.11: `longintrepr.h: No such file`). `http_parser/http.py` falls back to the
# pure-Python parser (`pyparser.py`) when the extension is missing, so the sdist's pure-Python
# modules are copied into site-packages (plus a minimal dist-info so `pip check` is satisfied),
# and pymesos is installed with --no-deps.
set -euo pipefail

# Every package in the venv, pinned. The runtime set is exactly what `pip install avmesos==0.4.2
# six addict kazoo` resolved to on Python 3.11 (checked with `pip check` at the end).
HTTP_PARSER_VERSION="0.9.0"
HTTP_PARSER_SHA256="441d3a57c6227230f98aa97539da006fda0f8f4880bc4c5cd895ff2138a52621"
BUILD_PINS=(setuptools==69.5.1 wheel==0.43.0)   # builds the pymesos sdist (no build isolation)
PYMESOS_PIN="pymesos==0.3.15"
RUNTIME_PINS=(
  six==1.17.0 addict==2.4.0 kazoo==2.11.0                     # pymesos (http-parser: see above)
  avmesos==0.4.2 requests==2.34.2 PyJWT==2.15.1 cryptography==50.0.2   # avmesos
  urllib3==2.8.0 idna==3.20 charset-normalizer==3.5.3 certifi==2026.10.19.post1   # requests
  cffi==2.1.1 pycparser==3.12                                 # cryptography
)
HTTP_PARSER_MODULES=(__init__.py http.py pyparser.py reader.py util.py _socketio.py)

die() { echo "python-venv.sh: error: $*" >&2; exit 1; }

cache="${HERD_TEST_CACHE:-$HOME/.cache/herd-test}"
venv="$cache/venv"
marker="$venv/.herd-complete"

# --- pick the interpreter -------------------------------------------------------------------
py_ok() {  # prints "3.11.7" for an interpreter in 3.11.x, fails otherwise
  "$1" -c 'import sys; v = sys.version_info
assert v[0] == 3 and v[1] == 11
print("%d.%d.%d" % v[:3])' 2>/dev/null
}
if [[ -n "${HERD_PYTHON:-}" ]]; then
  python="$HERD_PYTHON"
  py_version="$(py_ok "$python")" ||
    die "HERD_PYTHON=$python is not a Python 3.11 interpreter (http-parser 0.9.0 needs ≤ 3.11; the pins need ≥ 3.11)"
else
  python=""
  for candidate in python3 python3.11; do
    if command -v "$candidate" >/dev/null 2>&1 && py_version="$(py_ok "$candidate")"; then
      python="$candidate"
      break
    fi
  done
  [[ -n "$python" ]] || die "no Python 3.11 found (tried python3 and python3.11;
  python3 is $(python3 --version 2>&1 || echo missing)). http-parser 0.9.0, needed by
  pymesos, cannot be fetched with Python ≥ 3.12. Install python3.11 or set HERD_PYTHON."
fi

stamp="python=$py_version http-parser=$HTTP_PARSER_VERSION $PYMESOS_PIN ${BUILD_PINS[*]} ${RUNTIME_PINS[*]}"

# --- one builder at a time (tests may call this concurrently) --------------------------------
mkdir -p "$cache"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$cache/venv.lock"
  flock 9
fi

if [[ -f "$marker" && "$(cat "$marker")" == "$stamp" ]]; then
  echo "venv already complete: $venv"
  exit 0
fi

echo "Creating $venv with $python ($py_version) ..."
rm -rf "$venv"
if ! "$python" -m venv "$venv"; then
  rm -rf "$venv"
  die "'$python -m venv' failed. On Debian/Ubuntu install the venv module:
  apt-get install python3-venv   (or python3.11-venv)"
fi
vpy="$venv/bin/python"
pip_install() {
  "$vpy" -m pip install --disable-pip-version-check --no-input --quiet "$@" ||
    die "pip install $* failed (is PyPI reachable? proxy settings: PIP_INDEX_URL, HTTPS_PROXY)"
}

# 1. Build tooling, pinned, so the sdists below build the same way everywhere.
pip_install "${BUILD_PINS[@]}"

# 2. http-parser: fetch the sdist (no binary exists), check it, copy its pure-Python modules.
work="$(mktemp -d "${TMPDIR:-/tmp}/herd-python-venv.XXXXXX")"
trap 'rm -rf "$work"' EXIT
"$vpy" -m pip download --disable-pip-version-check --no-input --quiet --no-deps \
  --no-binary :all: --no-build-isolation -d "$work" "http-parser==$HTTP_PARSER_VERSION" ||
  die "could not download http-parser==$HTTP_PARSER_VERSION from PyPI"
sdist="$work/http-parser-$HTTP_PARSER_VERSION.tar.gz"
[[ -f "$sdist" ]] || die "pip download did not produce $sdist (got: $(ls "$work"))"
actual="$("$vpy" -c 'import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())' "$sdist")"
[[ "$actual" == "$HTTP_PARSER_SHA256" ]] ||
  die "sha256 of $sdist is $actual, expected $HTTP_PARSER_SHA256"
tar -xzf "$sdist" -C "$work"
site="$("$vpy" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
mkdir -p "$site/http_parser"
for module in "${HTTP_PARSER_MODULES[@]}"; do
  src="$work/http-parser-$HTTP_PARSER_VERSION/http_parser/$module"
  [[ -f "$src" ]] || die "http-parser sdist lacks http_parser/$module"
  cp "$src" "$site/http_parser/$module"
done
# Minimal dist-info so pip sees http-parser as installed (pip check / pip freeze / uninstall).
distinfo="$site/http_parser-$HTTP_PARSER_VERSION.dist-info"
mkdir -p "$distinfo"
printf 'Metadata-Version: 2.1\nName: http-parser\nVersion: %s\nSummary: pure-Python modules of the http-parser sdist (installed by herd scripts/python-venv.sh)\n' \
  "$HTTP_PARSER_VERSION" >"$distinfo/METADATA"
echo "herd-python-venv.sh" >"$distinfo/INSTALLER"
{
  for module in "${HTTP_PARSER_MODULES[@]}"; do echo "http_parser/$module,,"; done
  for f in METADATA INSTALLER RECORD; do echo "http_parser-$HTTP_PARSER_VERSION.dist-info/$f,,"; done
} >"$distinfo/RECORD"

# 3. pymesos (sdist, pure Python) without its dependency resolution, then every runtime pin.
pip_install --no-deps --no-build-isolation "$PYMESOS_PIN"
pip_install --no-deps "${RUNTIME_PINS[@]}"

# 4. Check: dependency metadata consistent, and the modules the conformance scripts use import,
#    with the pure-Python HTTP parser in use.
"$vpy" -m pip check --disable-pip-version-check ||
  die "pip check failed: a pin above no longer satisfies some package's requirements"
"$vpy" - <<'PY' || die "import check failed in $venv"
import pymesos, avmesos.client, addict, kazoo, requests
from http_parser.http import HttpParser
from http_parser.pyparser import HttpParser as PyHttpParser
assert HttpParser is PyHttpParser, "expected the pure-Python http_parser"
assert pymesos.__VERSION__ == "0.3.15", pymesos.__VERSION__
print("imports ok: pymesos %s, avmesos.client, requests %s" % (pymesos.__VERSION__, requests.__version__))
PY

echo "$stamp" >"$marker.tmp"
mv "$marker.tmp" "$marker"
echo "venv ready: $venv (python: $vpy)"
