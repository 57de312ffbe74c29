"""Kernel time of an Easel run by category, from the Kineto traces `easel_bench --profile P`
writes (P_sample.json: one SampleLatents, graphs off; P_encode.json; P_decode.json). Categories
are those of bench/profile_unet.py, so the rows compare with diffusers' profile.

Usage: python3 bench/trace_summary.py TRACE.json [TRACE.json ...] [--steps N]
  --steps N: also print per-step figures (divide by the sampling steps of the trace).
"""
import json
import re
import sys

CATEGORIES = [  # first match wins; matched against the lower-cased kernel name
    ("attention", r"flash|fmha|attention|efficient"),
    ("groupnorm", r"group_norm|groupnorm|rowwisemoments|computefused|welford|gn(partials|apply|finalize)"),
    ("geglu", r"geglu"),
    ("layernorm", r"layer_norm|layernorm"),
    ("convolution", r"conv|fprop|dgrad|wgrad|implicit"),
    ("matmul", r"gemm|cutlass|cublas|xmma|matmul|sm90|sm80"),
    ("layout copy", r"copy|transpose|permute|nchw|nhwc|contiguous|cat"),
    ("elementwise", r"elementwise|vectorized|unrolled|silu|gelu|add|mul|reduce|softmax"),
]


def category(name):
    n = name.lower()
    for cat, pattern in CATEGORIES:
        if re.search(pattern, n):
            return cat
    return "other"


def summarize(path, steps):
    with open(path) as f:
        events = json.load(f)["traceEvents"]
    kernels = [e for e in events if e.get("cat") == "kernel" and "dur" in e]
    if not kernels:
        print(f"{path}: no kernel events")
        return
    total = sum(e["dur"] for e in kernels)
    span = max(e["ts"] + e["dur"] for e in kernels) - min(e["ts"] for e in kernels)
    div = steps or 1
    unit = "per step" if steps else "total"
    print(f"== {path}: {len(kernels)} kernels, {total / 1e3:.2f} ms of kernel time in a "
          f"{span / 1e3:.2f} ms span (GPU busy {100 * total / span:.0f}%); ms {unit}")
    by_cat, by_name = {}, {}
    for e in kernels:
        c = category(e["name"])
        by_cat[c] = by_cat.get(c, 0) + e["dur"]
        t, n = by_name.get(e["name"], (0, 0))
        by_name[e["name"]] = (t + e["dur"], n + 1)
    for c, us in sorted(by_cat.items(), key=lambda kv: -kv[1]):
        print(f"  {c:12} {us / 1e3 / div:8.3f} ms  {100 * us / total:5.1f}%")
    print("  top kernels (ms, launches):")
    for name, (us, n) in sorted(by_name.items(), key=lambda kv: -kv[1][0])[:25]:
        print(f"    {us / 1e3 / div:7.3f} {n // div:5d}  [{category(name)}] {name[:160]}")
    # The ATen op that launched each kernel (Kineto links them by "External id").
    ops = {e["args"]["External id"]: e["name"] for e in events
           if e.get("cat") == "cpu_op" and "External id" in e.get("args", {})}
    by_op = {}
    for e in kernels:
        op = ops.get(e.get("args", {}).get("External id"), "?")
        key = (op, category(e["name"]))
        t, n = by_op.get(key, (0, 0))
        by_op[key] = (t + e["dur"], n + 1)
    print("  by launching op (ms, launches):")
    for (op, cat), (us, n) in sorted(by_op.items(), key=lambda kv: -kv[1][0])[:25]:
        print(f"    {us / 1e3 / div:7.3f} {n // div:5d}  {op} [{cat}]")


def main(argv):
    steps = 0
    if "--steps" in argv:
        i = argv.index("--steps")
        steps = int(argv[i + 1])
        argv = argv[:i] + argv[i + 2:]
    if not argv:
        sys.exit(__doc__)
    for path in argv:
        summarize(path, steps if path.endswith("_sample.json") else 0)


if __name__ == "__main__":
    main(sys.argv[1:])
