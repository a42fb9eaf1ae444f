#!/usr/bin/env python3
"""Coverage-guided fuzzing of every decoder of outside bytes (`fuzz/`, issue 12 item 5):
runs each cargo fuzz target for a while from its committed seeds, and writes one table row
per target to bench/results/.

    python3 bench/fuzz.py [--seconds 300] [--jobs 1] [--out bench/results/fuzz-DATE.md] [TARGET...]

Installs cargo-fuzz (crates.io) when it is missing and builds the harness (`fuzz/harness`,
libFuzzer, no sanitizer: the stable toolchain has none; Rust's own checks, debug assertions
and overflow checks, stand in). The corpus grows in target/fuzz-corpus/<target>, not in the
repository; the committed seeds stay small. A crash is copied to
fuzz/regressions/<target>/, where `cargo test -p legate-fuzz` replays it from then on: fix it,
keep the file.
"""

import argparse
import datetime
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUZZ = ROOT / "fuzz"
HARNESS = FUZZ / "harness"


def targets():
    text = (HARNESS / "Cargo.toml").read_text()
    return [name for name in re.findall(r'^name = "([^"]+)"', text, re.M) if name != "legate-fuzz-harness"]


def ensure_cargo_fuzz():
    if subprocess.run(["cargo", "fuzz", "--version"], capture_output=True).returncode == 0:
        return
    subprocess.run(["cargo", "install", "--locked", "cargo-fuzz"], check=True)


def common_args():
    # No sanitizer (stable toolchain); debug assertions on, as in tests; the harness's own
    # target directory, so the workspace's builds are untouched.
    return ["--fuzz-dir", str(HARNESS), "--sanitizer", "none", "--debug-assertions",
            "--target-dir", str(ROOT / "target" / "fuzz")]


def run(target, seconds, jobs):
    corpus = ROOT / "target" / "fuzz-corpus" / target
    corpus.mkdir(parents=True, exist_ok=True)
    artifacts = ROOT / "target" / "fuzz-artifacts" / target
    shutil.rmtree(artifacts, ignore_errors=True)
    artifacts.mkdir(parents=True)
    command = ["cargo", "fuzz", "run", *common_args(), target, str(corpus), str(FUZZ / "corpus" / target),
               "--", f"-max_total_time={seconds}", "-timeout=10", "-rss_limit_mb=2048",
               "-print_final_stats=1", f"-artifact_prefix={artifacts}/"]
    if jobs > 1:
        command += [f"-fork={jobs}"]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    out = proc.stdout + proc.stderr
    execs = re.findall(r"stat::number_of_executed_units:\s*(\d+)", out)
    covs = re.findall(r"\bcov: (\d+)", out)
    crashes = sorted(p for p in artifacts.iterdir() if p.is_file())
    saved = []
    for crash in crashes:
        dest = FUZZ / "regressions" / target
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy(crash, dest / crash.name)
        saved.append(str((dest / crash.name).relative_to(ROOT)))
    if proc.returncode != 0 and not crashes:
        sys.stderr.write(out[-4000:])
    return {
        "target": target,
        "seconds": seconds,
        "execs": int(execs[-1]) if execs else 0,
        "cov": int(covs[-1]) if covs else 0,
        "corpus": len(list(corpus.iterdir())),
        "crashes": saved,
        "ok": proc.returncode == 0 and not crashes,
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=300)
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--out")
    parser.add_argument("only", nargs="*")
    args = parser.parse_args()
    # The workspace's release profile links with fat LTO (for the shipped binary); a fuzz
    # build wants coverage instrumentation quickly, not that.
    os.environ.setdefault("CARGO_PROFILE_RELEASE_LTO", "false")
    os.environ.setdefault("CARGO_PROFILE_RELEASE_CODEGEN_UNITS", "16")
    ensure_cargo_fuzz()
    chosen = args.only or targets()
    subprocess.run(["cargo", "fuzz", "build", *common_args(), "-O"], cwd=ROOT, check=True)
    rows = []
    for target in chosen:
        row = run(target, args.seconds, args.jobs)
        rows.append(row)
        print(f"{target}: {row['execs']} runs, cov {row['cov']}, corpus {row['corpus']}, "
              f"{'ok' if row['ok'] else 'FAILED ' + ', '.join(row['crashes'])}", flush=True)
    day = datetime.date.today().isoformat()
    out = Path(args.out) if args.out else ROOT / "bench" / "results" / f"fuzz-{day}.md"
    lines = [f"# Fuzzing, {day}", "",
             f"`python3 bench/fuzz.py --seconds {args.seconds}" + (f" --jobs {args.jobs}" if args.jobs > 1 else "") + "`"
             + " (cargo fuzz, libFuzzer, no sanitizer, debug assertions on; seeds from `fuzz/corpus`).", "",
             "| target | seconds | runs | runs/s | coverage (edges) | corpus | crashes |",
             "|---|---:|---:|---:|---:|---:|---|"]
    for row in rows:
        rate = row["execs"] / max(row["seconds"], 1)
        lines.append(f"| {row['target']} | {row['seconds']} | {row['execs']} | {rate:.0f} | {row['cov']} | "
                     f"{row['corpus']} | {', '.join(row['crashes']) or '0'} |")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}")
    sys.exit(0 if all(row["ok"] for row in rows) else 1)


if __name__ == "__main__":
    main()
