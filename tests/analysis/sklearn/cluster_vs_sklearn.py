#!/usr/bin/python3
"""scentrack cluster vs scikit-learn DBSCAN on the same integer coordinates.

usage: cluster_vs_sklearn.py PATH/TO/scentrack [--quick]

For each seeded data set (clustered "targets" plus uniform false indications, up to 10^5 points) it runs
sklearn.cluster.DBSCAN(eps, min_samples, metric="euclidean", algorithm="kd_tree") and `scentrack cluster`
(both the incremental core and --batch), then requires:
  * the same core points;
  * the same partition of the core points (labels equal up to renaming), and our name for each cluster is
    the smallest id among its core points;
  * the same noise points;
  * every border point is in a cluster having a core point within eps of it (scikit-learn's own border
    choice depends on input order, so only validity is required), and is our documented choice: the
    nearest such core point, ties by smaller id.

eps: ours tests dx² + dy² <= E² in integers; sklearn tests sqrt(d²) <= eps in floating point. Distances
are square roots of integers, so eps = sqrt(E² + 0.5) separates "d² <= E²" from "d² >= E² + 1" with a margin
of ~0.25/E mm, far above double rounding for coordinates of a few km in mm. The test also counts the
pairs within 1 mm² of the boundary so that the boundary is known to be exercised.

Exit status 0 when everything matches, 1 on any mismatch (with the reason on stderr).
"""
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from scipy.spatial import cKDTree
from sklearn.cluster import DBSCAN


def make_data(seed, n, extent_mm, spread_mm, lattice_mm):
    """n points: ~60 % around targets (Gaussian, spread_mm), ~40 % uniform; coordinates on a lattice so
    that exact-eps distances and distance ties occur; some duplicated positions; shuffled unique ids."""
    rng = np.random.default_rng(seed)
    n_cl = int(n * 0.6)
    centres = rng.integers(-extent_mm, extent_mm, size=(max(1, n_cl // 5), 2))
    which = rng.integers(0, len(centres), size=n_cl)
    clustered = centres[which] + rng.normal(0, spread_mm, size=(n_cl, 2))
    noise = rng.uniform(-extent_mm, extent_mm, size=(n - n_cl, 2))
    xy = np.vstack([clustered, noise])
    xy = (np.round(xy / lattice_mm) * lattice_mm).astype(np.int64)
    dup = rng.random(n) < 0.03
    dup[0] = False
    xy[dup] = xy[np.nonzero(dup)[0] - 1]
    ids = rng.permutation(np.arange(n, dtype=np.int64) * 3 + 1000)  # unique, not in order
    order = rng.permutation(n)
    return ids[order], xy[order]


def run_scentrack(exe, ids, xy, eps_mm, min_pts, batch):
    with tempfile.NamedTemporaryFile("w", suffix=".csv", delete=False) as f:
        f.write("id,x_mm,y_mm\n")
        np.savetxt(f, np.column_stack([ids, xy]), fmt="%d", delimiter=",")
        path = f.name
    try:
        cmd = [exe, "cluster", "--eps-mm", str(eps_mm), "--min-pts", str(min_pts), path]
        if batch:
            cmd.insert(2, "--batch")
        t0 = time.perf_counter()
        p = subprocess.run(cmd, capture_output=True, text=True)
        dt = time.perf_counter() - t0
    finally:
        os.unlink(path)
    if p.returncode != 0:
        raise SystemExit(f"scentrack failed ({p.returncode}): {p.stderr}")
    out = np.loadtxt(p.stdout.splitlines(), delimiter=",", dtype=np.int64).reshape(-1, 3)
    return out, dt


def check(name, ids, xy, eps_mm, min_pts, out):
    n = len(ids)
    if len(out) != n:
        return f"{name}: {len(out)} output lines for {n} points"
    if not np.all(np.diff(out[:, 0]) > 0):
        return f"{name}: output not sorted by id"
    pos = {int(i): k for k, i in enumerate(ids)}
    idx = np.array([pos[int(i)] for i in out[:, 0]])  # output row -> input index
    ours_cl = np.full(n, -1, dtype=np.int64)
    ours_core = np.zeros(n, dtype=bool)
    ours_cl[idx] = out[:, 1]
    ours_core[idx] = out[:, 2] == 1

    eps_sk = float(np.sqrt(eps_mm * eps_mm + 0.5))
    t0 = time.perf_counter()
    sk = DBSCAN(eps=eps_sk, min_samples=min_pts, metric="euclidean", algorithm="kd_tree").fit(xy.astype(np.float64))
    sk_time = time.perf_counter() - t0
    sk_core = np.zeros(n, dtype=bool)
    sk_core[sk.core_sample_indices_] = True
    lab = sk.labels_

    if not np.array_equal(sk_core, ours_core):
        bad = np.nonzero(sk_core != ours_core)[0][:5]
        return f"{name}: core sets differ at ids {ids[bad].tolist()}"
    if not np.array_equal(lab == -1, ours_cl == -1):
        bad = np.nonzero((lab == -1) != (ours_cl == -1))[0][:5]
        return f"{name}: noise differs at ids {ids[bad].tolist()}"
    # core partition: a bijection between sklearn labels and our names on core points
    c = np.nonzero(sk_core)[0]
    pairs = set(zip(lab[c].tolist(), ours_cl[c].tolist()))
    if len({a for a, _ in pairs}) != len(pairs) or len({b for _, b in pairs}) != len(pairs):
        return f"{name}: core partitions differ ({len(pairs)} label pairs)"
    # names: the smallest core id of each cluster
    for lab_sk, ours in pairs:
        members = c[lab[c] == lab_sk]
        if ids[members].min() != ours:
            return f"{name}: cluster named {ours}, smallest core id is {ids[members].min()}"
    # border points: in a cluster with a core within eps; our rule: nearest core, ties by smaller id
    tree = cKDTree(xy.astype(np.float64))
    border = np.nonzero((~sk_core) & (lab != -1))[0]
    core_set = sk_core
    boundary_pairs = 0
    for b in border:
        nb = [j for j in tree.query_ball_point(xy[b].astype(np.float64), eps_mm + 1.0) if core_set[j]]
        d2 = [(int(xy[j, 0] - xy[b, 0]) ** 2 + int(xy[j, 1] - xy[b, 1]) ** 2, int(ids[j]), j) for j in nb]
        d2 = [t for t in d2 if t[0] <= eps_mm * eps_mm]
        boundary_pairs += sum(1 for t in d2 if t[0] == eps_mm * eps_mm)
        if not d2:
            return f"{name}: border id {ids[b]} has no core within eps"
        valid = {int(ours_cl[j]) for _, _, j in d2}
        if int(ours_cl[b]) not in valid:
            return f"{name}: border id {ids[b]} in cluster {ours_cl[b]}, not one of {sorted(valid)}"
        want = ours_cl[min(d2)[2]]
        if ours_cl[b] != want:
            return f"{name}: border id {ids[b]} in {ours_cl[b]}, nearest-core rule says {want}"
        if lab[b] not in {lab[j] for _, _, j in d2}:
            return f"{name}: sklearn border id {ids[b]} not within eps of its cluster (eps mapping broken)"
    stats = dict(n=n, core=int(sk_core.sum()), clusters=len(pairs), noise=int((lab == -1).sum()),
                 border=len(border), border_at_exact_eps=boundary_pairs, sklearn_s=sk_time)
    return stats


def main():
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    exe = sys.argv[1]
    quick = "--quick" in sys.argv[2:]
    cases = [
        # seed, n, extent_mm, spread_mm, lattice_mm, eps_mm, min_pts
        (1, 2000, 20000, 800, 100, 1000, 1),
        (2, 2000, 20000, 800, 100, 1000, 2),
        (3, 5000, 40000, 700, 100, 1000, 3),
        (4, 5000, 150000, 1500, 50, 2500, 5),
        (5, 10000, 500000, 2000, 1, 5000, 4),
        (6, 20000, 150000, 600, 100, 1000, 3),
        (7, 100000, 600000, 700, 10, 1000, 3),
    ]
    if quick:
        cases = cases[:4]
    failed = 0
    t_start = time.perf_counter()
    for seed, n, extent, spread, lattice, eps, k in cases:
        ids, xy = make_data(seed, n, extent, spread, lattice)
        for batch in (False, True):
            name = f"seed={seed} n={n} eps={eps} min_pts={k} {'batch' if batch else 'incremental'}"
            out, dt = run_scentrack(exe, ids, xy, eps, k, batch)
            res = check(name, ids, xy, eps, k, out)
            if isinstance(res, str):
                print("FAIL " + res, file=sys.stderr)
                failed += 1
            else:
                print(f"ok   {name}: {res['core']} core, {res['clusters']} clusters, {res['border']} border "
                      f"({res['border_at_exact_eps']} core pairs at exactly eps), {res['noise']} noise; "
                      f"scentrack {dt:.2f} s (process, CSV in/out), sklearn fit {res['sklearn_s']:.2f} s")
    print(f"{len(cases) * 2 - failed}/{len(cases) * 2} comparisons identical "
          f"({time.perf_counter() - t_start:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
