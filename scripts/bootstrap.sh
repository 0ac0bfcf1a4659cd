#!/usr/bin/env bash
# Prepare this checkout for `tachigo dev up`: a Python 3.11 venv holding the package
# and its dev tools, and the Kafka broker jars. Safe to re-run: each finished step is
# recorded in .tachigo/bootstrap.stamp under a hash of the file it depends on
# (pyproject.toml, infra/kafka/pom.xml), so a second run only checks and exits.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

state="$root/.tachigo"
logs="$state/logs"
stamp="$state/bootstrap.stamp"
libs="$state/kafka-libs"
pom="$root/infra/kafka/pom.xml"

say() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is not on PATH; $2"; }
digest() { sha256sum "$1" | cut -d' ' -f1; }

# A stamp line is "<step> <sha256 of the file the step depends on>".
is_stamped() { grep -qxF "$1 $2" "$stamp" 2>/dev/null; }
set_stamp() {
  { grep -v "^$1 " "$stamp" 2>/dev/null || true; printf '%s %s\n' "$1" "$2"; } >"$stamp.tmp"
  mv "$stamp.tmp" "$stamp"
}

# run_logged LOG CMD...: quiet when it works; on failure, the log's tail and exit 1.
run_logged() {
  local log="$1"
  shift
  if ! "$@" >"$log" 2>&1 </dev/null; then
    tail -n 30 "$log" >&2
    die "'$*' failed; the whole output is in $log"
  fi
}

mkdir -p "$logs"

# 1. The virtualenv.
if [[ ! -x .venv/bin/python ]]; then
  need python3.11 "install Python 3.11"
  say "creating .venv with $(python3.11 --version)"
  python3.11 -m venv .venv
fi

# 2. The package (editable) with its dev tools.
pip_key="$(digest pyproject.toml)"
if is_stamped pip "$pip_key" && [[ -x .venv/bin/tachigo ]]; then
  say "python packages: up to date"
else
  say "python packages: pip install -e '.[dev]' (log: .tachigo/logs/bootstrap-pip.log) ..."
  run_logged "$logs/bootstrap-pip.log" .venv/bin/python -m pip install -e '.[dev]'
  set_stamp pip "$pip_key"
  say "python packages: installed"
fi

# 3. The Kafka broker jars. Resolved into a scratch folder first, so an interrupted
#    run never leaves a half-filled kafka-libs that looks complete.
kafka_key="$(digest "$pom")"
if is_stamped kafka "$kafka_key" && compgen -G "$libs/kafka_2.13-*.jar" >/dev/null; then
  say "kafka jars: up to date"
else
  need java "install a JDK, 17 or newer (Debian: openjdk-17-jdk-headless)"
  need mvn "install Maven (Debian: maven)"
  say "kafka jars: resolving with Maven (log: .tachigo/logs/bootstrap-mvn.log) ..."
  rm -rf "$libs.tmp"
  run_logged "$logs/bootstrap-mvn.log" mvn -q -B -f "$pom" \
    -Dmaven.repo.local="$state/m2" \
    dependency:copy-dependencies -DoutputDirectory="$libs.tmp"
  rm -rf "$libs"
  mv "$libs.tmp" "$libs"
  set_stamp kafka "$kafka_key"
  say "kafka jars: $(find "$libs" -name '*.jar' | wc -l) jars in .tachigo/kafka-libs"
fi
