"""Baseline for tools/bench/render.sh: the same template root compiled by
Typst's Python binding (pip install typst, 0.15).

    render_typst_py.py ROOT warm N     N compiles by one typst.Compiler (fonts loaded once): median, p95, peak memory
    render_typst_py.py ROOT fresh N    N compiles, each in a fresh Python process
"""
import resource
import statistics
import subprocess
import sys
import time

import typst

root, mode, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
entry = open(f"{root}/entry.txt").read().strip()
fonts = ["/usr/share/fonts"]


compiler = None


def compile_once():
    # One Compiler keeps its fonts and caches between compiles, as certflow's renderer does.
    global compiler
    if compiler is None:
        compiler = typst.Compiler(f"{root}/{entry}", root=root, font_paths=fonts, ignore_system_fonts=True)
    return compiler.compile()


def pct(xs, p):
    xs = sorted(xs)
    return xs[round((len(xs) - 1) * p)]


if mode == "warm":
    t = time.perf_counter()
    pdf = compile_once()
    first = (time.perf_counter() - t) * 1000
    times = []
    for _ in range(n):
        t = time.perf_counter()
        compile_once()
        times.append((time.perf_counter() - t) * 1000)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"python-typst warm: first {first:.1f} ms; {n} renders median {statistics.median(times):.2f} ms "
          f"p95 {pct(times, 0.95):.2f} ms; peak memory {peak:.0f} MiB; {len(pdf)} bytes")
else:
    code = ("import typst; typst.compile(%r, root=%r, font_paths=%r, ignore_system_fonts=True)"
            % (f"{root}/{entry}", root, fonts))
    times = []
    for _ in range(n):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        times.append((time.perf_counter() - t) * 1000)
    print(f"python-typst fresh process: {n} documents median {statistics.median(times):.1f} ms "
          f"p95 {pct(times, 0.95):.1f} ms")
