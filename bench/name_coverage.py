#!/usr/bin/env python3
"""Peer coverage on model names as apps log them (issue 13, item 6).

For every row of tests/corpus/model_names/names.tsv, prices one call with
  (a) pydantic genai-prices   (calc_price, provider_id = the row's provider)
  (b) LiteLLM                 (cost_per_token, custom_llm_provider = the row's provider)
  (c) llm_cost                (SELECT llm_cost.llm_cost(...) and llm_cost.cost_breakdown(...))
and reports, per tool: priced, priced-and-correct (within 0.5% of the corpus's
expected list price), wrong, silent zeros, and every name that llm_cost leaves
unpriced or gets wrong while a peer gets it right.

The call is TOKENS input + TOKENS output tokens, default 100,000 each: below every
long-context tier (Gemini 1.5 >128k, Claude Sonnet 4.x and Gemini 2.5/3 Pro >200k,
GPT-5.4 >272k), so that a tool applying the right tier is not counted wrong against
the base list price. `--tokens 1000000` prices the 1M + 1M call instead.
Rows of kind `embedding` are priced with input tokens only.

A peer whose lookup fails with the row's provider spelling gets a second try with
the model name alone (genai-prices then guesses the provider from the model,
LiteLLM from a `provider/` prefix): this is what an app calling them with the
logged model string would get. llm_cost gets one try, as SQL would call it.

Peers run from bench/.venv (made on first run: genai-prices 0.2.3, litellm 1.102.4
as pinned by recipes/python, psycopg 3.3.9). LiteLLM uses its bundled price map
(LITELLM_LOCAL_MODEL_COST_MAP), never the network.

Usage:
  bench/name_coverage.py                   # throwaway cluster with the installed extension
  bench/name_coverage.py --dsn 'host=/tmp/x port=5432 user=postgres dbname=postgres'
  bench/name_coverage.py --json /tmp/names.json   # also write per-row results
  bench/name_coverage.py --no-llm-cost     # peers only (no PostgreSQL needed)
Exits 0 whatever the numbers are; non-zero only when it cannot run.
"""

import argparse
import collections
import csv
import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENV = os.path.join(ROOT, "bench", ".venv")
VENV_PY = os.path.join(VENV, "bin", "python")
PINS = ["genai-prices==0.2.3", "litellm==1.102.4", "psycopg[binary]==3.3.9"]
CONSTRAINTS = os.path.join(ROOT, "recipes", "python", "constraints.txt")
CORPUS = os.path.join(ROOT, "tests", "corpus", "model_names", "names.tsv")
PG_BIN = "/usr/lib/postgresql/15/bin"
PG_LOCK = "/tmp/llm_cost_pg.lock"
TOLERANCE = Decimal("0.005")
TOOLS = ["genai-prices", "litellm", "llm_cost"]


def ensure_venv():
    """Re-runs this script with bench/.venv's python, creating the venv if needed."""
    if os.path.realpath(sys.prefix) == os.path.realpath(VENV):
        return
    if not os.path.exists(VENV_PY):
        print("creating bench/.venv (genai-prices, litellm, psycopg)...", file=sys.stderr)
        subprocess.check_call([sys.executable, "-m", "venv", VENV])
        cmd = [VENV_PY, "-m", "pip", "install", "-q"] + PINS
        if os.path.exists(CONSTRAINTS):
            cmd += ["-c", CONSTRAINTS]
        subprocess.check_call(cmd)
    os.execv(VENV_PY, [VENV_PY] + sys.argv)


def load_corpus(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    for r in rows:
        r["in"] = Decimal(r["expected_input_per_mtok"]) if r["expected_input_per_mtok"] else None
        r["out"] = Decimal(r["expected_output_per_mtok"]) if r["expected_output_per_mtok"] else None
        fee = r.get("expected_request_fee") or ""
        if fee:
            lo, _, hi = fee.partition("-")
            r["fee"] = (Decimal(lo), Decimal(hi or lo))
        else:
            r["fee"] = (Decimal(0), Decimal(0))
    return rows


def call_tokens(row, tokens):
    """(input, output) tokens of the priced call: embeddings have no output tokens."""
    return (tokens, 0) if row["kind"] == "embedding" else (tokens, tokens)


def expected_range(row, tokens):
    """(low, high) expected cost of the call, or None when the corpus gives no price."""
    if row["expected_model"] == "-" or row["in"] is None or row["out"] is None:
        return None
    i, o = call_tokens(row, tokens)
    base = (row["in"] * i + row["out"] * o) / Decimal(1_000_000)
    return base + row["fee"][0], base + row["fee"][1]


def verdict(row, cost, tokens):
    """unpriced | correct | wrong | priced (no expected price) | not-llm-priced | not-llm-unpriced"""
    if row["expected_model"] == "-":
        return "not-llm-priced" if cost is not None else "not-llm-unpriced"
    if cost is None:
        return "unpriced"
    rng = expected_range(row, tokens)
    if rng is None:
        return "priced"
    lo, hi = rng
    if hi == 0:
        return "correct" if cost == 0 else "wrong"
    return "correct" if lo * (1 - TOLERANCE) <= cost <= hi * (1 + TOLERANCE) else "wrong"


def silent_zero(row, cost):
    """A $0 for a call the corpus says costs money (or, with no price given, for any LLM)."""
    if cost is None or cost != 0 or row["expected_model"] == "-":
        return False
    rng = None if row["in"] is None else (row["in"] + row["out"])
    return rng is None or rng > 0


# ---------------------------------------------------------------- peers

def price_genai(rows, tokens):
    from genai_prices import Usage, calc_price

    out = []
    for r in rows:
        i, o = call_tokens(r, tokens)
        usage = Usage(input_tokens=i, output_tokens=o)
        res = {"cost": None, "how": None, "resolved": None, "error": None}
        for how, kw in (("provider", {"provider_id": r["provider"]}), ("model-only", {})):
            try:
                c = calc_price(usage, r["model"], **kw)
                res.update(cost=Decimal(str(c.total_price)), how=how, resolved="%s/%s" % (c.provider.id, c.model.id))
                break
            except Exception as e:  # LookupError, or anything the library raises on odd names
                res["error"] = "%s: %s" % (type(e).__name__, str(e)[:160])
        out.append(res)
    return out


def price_litellm(rows, tokens):
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    out = []
    for r in rows:
        i, o = call_tokens(r, tokens)
        res = {"cost": None, "how": None, "resolved": None, "error": None}
        for how, kw in (("provider", {"custom_llm_provider": r["provider"]}), ("model-only", {})):
            try:
                p, c = litellm.cost_per_token(model=r["model"], prompt_tokens=i, completion_tokens=o, **kw)
                res.update(cost=Decimal(repr(p)) + Decimal(repr(c)), how=how)
                break
            except Exception as e:
                res["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:160] if str(e) else "")
        out.append(res)
    return out


# ---------------------------------------------------------------- llm_cost

def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def as_postgres(cmd):
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--"] + cmd
    return cmd


class ThrowawayCluster:
    """Like scripts/lib/cluster.sh: a loopback-only cluster deleted on exit, holding
    /tmp/llm_cost_pg.lock while it runs (other agents install into the same PostgreSQL)."""

    def __enter__(self):
        self.lock = open(PG_LOCK, "a")
        fcntl.flock(self.lock, fcntl.LOCK_EX)
        self.dir = tempfile.mkdtemp(prefix="llm_cost_names.")
        os.chmod(self.dir, 0o755)
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        data = os.path.join(self.dir, "data")
        subprocess.run(as_postgres([PG_BIN + "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                    "--no-sync"]), check=True, stdout=subprocess.DEVNULL)
        self.port = free_port()
        with open(os.path.join(data, "postgresql.auto.conf"), "a") as f:
            f.write("listen_addresses = '127.0.0.1'\nport = %d\nunix_socket_directories = '%s'\n"
                    "max_connections = 20\n" % (self.port, self.dir))
        subprocess.run(as_postgres([PG_BIN + "/pg_ctl", "-D", data, "-l", os.path.join(self.dir, "server.log"),
                                    "-w", "-t", "60", "start"]), check=True, stdout=subprocess.DEVNULL)
        self.dsn = "host=%s port=%d user=postgres dbname=postgres" % (self.dir, self.port)
        return self

    def __exit__(self, *exc):
        subprocess.run(as_postgres([PG_BIN + "/pg_ctl", "-D", os.path.join(self.dir, "data"), "-m", "fast", "-w",
                                    "stop"]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        shutil.rmtree(self.dir, ignore_errors=True)
        fcntl.flock(self.lock, fcntl.LOCK_UN)
        self.lock.close()


def price_llm_cost(rows, tokens, dsn):
    import psycopg

    out = []
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS llm_cost")
        version = conn.execute("SELECT extversion FROM pg_extension WHERE extname = 'llm_cost'").fetchone()[0]
        for r in rows:
            i, o = call_tokens(r, tokens)
            res = {"cost": None, "how": None, "resolved": None, "error": None, "price_id": None}
            try:
                cost, bd = conn.execute(
                    "SELECT llm_cost.llm_cost(%(p)s, %(m)s, %(i)s, %(o)s),"
                    "       llm_cost.cost_breakdown(%(p)s, %(m)s, %(i)s, %(o)s)",
                    {"p": r["provider"], "m": r["model"], "i": i, "o": o}).fetchone()
                res["cost"] = cost
                if bd:
                    rz = bd.get("resolution", {})
                    res["how"] = rz.get("method")
                    res["resolved"] = "%s/%s" % (rz.get("resolved_provider"), rz.get("resolved_model"))
                    res["price_id"] = bd.get("price", {}).get("id")
            except Exception as e:
                res["error"] = "%s: %s" % (type(e).__name__, str(e).splitlines()[0][:160])
            out.append(res)
    return out, version


# ---------------------------------------------------------------- report

def fmt_table(header, body):
    widths = [max(len(str(x)) for x in col) for col in zip(header, *body)]
    line = lambda cells: "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(b) for b in body])


def cause(row):
    """Why a name is hard, from its corpus kind, for grouping llm_cost's misses."""
    return row["kind"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", default=CORPUS)
    ap.add_argument("--dsn", help="libpq connection string of a server with the llm_cost extension available; "
                                  "default: a throwaway cluster using the extension installed in %s" % PG_BIN)
    ap.add_argument("--tokens", type=int, default=100_000, help="input and output tokens of the priced call")
    ap.add_argument("--json", help="write per-row results to this file")
    ap.add_argument("--no-llm-cost", action="store_true", help="peers only")
    args = ap.parse_args()
    ensure_venv()

    rows = load_corpus(args.corpus)
    t0 = time.time()
    results = {"genai-prices": price_genai(rows, args.tokens), "litellm": price_litellm(rows, args.tokens)}
    tools = ["genai-prices", "litellm"]
    version = None
    if not args.no_llm_cost:
        if args.dsn:
            results["llm_cost"], version = price_llm_cost(rows, args.tokens, args.dsn)
        else:
            if not os.path.exists("/usr/share/postgresql/15/extension/llm_cost.control"):
                sys.exit("llm_cost is not installed into the system PostgreSQL 15; pass --dsn or --no-llm-cost")
            with ThrowawayCluster() as c:
                results["llm_cost"], version = price_llm_cost(rows, args.tokens, c.dsn)
        tools.append("llm_cost")

    verdicts = {t: [verdict(r, res["cost"], args.tokens) for r, res in zip(rows, results[t])] for t in tools}
    zeros = {t: [silent_zero(r, res["cost"]) for r, res in zip(rows, results[t])] for t in tools}

    llm_rows = [i for i, r in enumerate(rows) if r["expected_model"] != "-"]
    with_price = [i for i in llm_rows if expected_range(rows[i], args.tokens) is not None]
    print("Model-name coverage: %d corpus rows (%d LLM calls, %d with an expected list price), "
          "a call of %s input + %s output tokens" % (len(rows), len(llm_rows), len(with_price),
                                                    format(args.tokens, ","), format(args.tokens, ",")))
    if version:
        print("llm_cost extension version %s" % version)
    print()
    body = []
    for t in tools:
        v = verdicts[t]
        priced = sum(1 for i in llm_rows if v[i] != "unpriced")
        body.append([t,
                     "%d (%.0f%%)" % (priced, 100.0 * priced / len(llm_rows)),
                     "%d (%.0f%%)" % (sum(v[i] == "correct" for i in with_price),
                                      100.0 * sum(v[i] == "correct" for i in with_price) / len(with_price)),
                     sum(v[i] == "wrong" for i in with_price),
                     sum(zeros[t]),
                     sum(v[i] == "unpriced" for i in llm_rows),
                     sum(1 for x in v if x == "not-llm-priced")])
    print(fmt_table(["tool", "priced", "correct", "wrong", "silent $0", "unpriced", "non-LLM priced"], body))
    print("\npriced: of %d LLM rows; correct / wrong: of the %d rows with an expected price (0.5%% tolerance);"
          "\nsilent $0: returned 0 for a call that costs money; non-LLM priced: rows marked '-' that got a number"
          % (len(llm_rows), len(with_price)))

    # per kind
    kinds = collections.OrderedDict()
    for i in llm_rows:
        kinds.setdefault(rows[i]["kind"], []).append(i)
    body = []
    for k, idx in sorted(kinds.items(), key=lambda kv: -len(kv[1])):
        cells = [k, len(idx), sum(1 for i in idx if expected_range(rows[i], args.tokens) is not None)]
        for t in tools:
            v = verdicts[t]
            cells.append("%d/%d" % (sum(v[i] != "unpriced" for i in idx), sum(v[i] == "correct" for i in idx)))
        body.append(cells)
    print("\nBy kind (priced/correct; correct needs an expected price):\n")
    print(fmt_table(["kind", "rows", "with price"] + tools, body))
    if "llm_cost" in tools:
        methods = collections.Counter((results["llm_cost"][i]["how"] or "?", verdicts["llm_cost"][i])
                                      for i in llm_rows if verdicts["llm_cost"][i] != "unpriced")
        body = [[m, sum(n for (mm, _), n in methods.items() if mm == m)] +
                [methods.get((m, v), 0) for v in ("correct", "wrong", "priced")]
                for m in sorted({m for m, _ in methods})]
        print("\nllm_cost by resolution method (cost_breakdown -> resolution.method):\n")
        print(fmt_table(["method", "priced", "correct", "wrong", "no expected price"], body))

    # wrong prices of each tool
    for t in tools:
        bad = [i for i in with_price if verdicts[t][i] == "wrong"]
        if bad:
            print("\n%s wrong prices (%d):" % (t, len(bad)))
            for i in bad:
                r = rows[i]
                lo, hi = expected_range(r, args.tokens)
                res = results[t][i]
                print("  %-22s %-58s got %-12s want %s%s" % (
                    r["provider"], r["model"], _num(res["cost"]), _num(lo),
                    "" if hi == lo else "-" + _num(hi)) + ("  [%s%s]" % (res["resolved"], " by " + res["how"] if t == "llm_cost" else "")
                                                            if res.get("resolved") else ""))

    if "llm_cost" in tools:
        miss = collections.OrderedDict()
        for i in llm_rows:
            v = verdicts["llm_cost"][i]
            if v not in ("unpriced", "wrong"):
                continue
            peers = [t for t in ("genai-prices", "litellm") if verdicts[t][i] == "correct"]
            if not peers:
                continue
            miss.setdefault(cause(rows[i]), []).append((i, v, peers))
        total = sum(len(x) for x in miss.values())
        print("\nNames llm_cost leaves unpriced or prices wrong while a peer is right (%d), by kind:" % total)
        for k, items in miss.items():
            print("\n  %s (%d)" % (k, len(items)))
            for i, v, peers in items:
                r = rows[i]
                res = results["llm_cost"][i]
                extra = "" if v == "unpriced" else " got %s as %s" % (_num(res["cost"]), res["resolved"])
                print("    %-22s %-58s %-8s right: %s%s" % (r["provider"], r["model"], v, ",".join(peers), extra))

        extra = [i for i in llm_rows if expected_range(rows[i], args.tokens) is None
                 and verdicts["llm_cost"][i] == "unpriced"
                 and any(verdicts[t][i] != "unpriced" for t in ("genai-prices", "litellm"))]
        print("\nNames with no expected price that llm_cost leaves unpriced while a peer prices them (%d):"
              % len(extra))
        for i in extra:
            r = rows[i]
            peers = [t for t in ("genai-prices", "litellm") if verdicts[t][i] != "unpriced"]
            print("    %-22s %-58s %-8s %s" % (r["provider"], r["model"], r["kind"], ",".join(peers)))

    if args.json:
        out = []
        for i, r in enumerate(rows):
            rng = expected_range(r, args.tokens)
            rec = {k: r[k] for k in ("provider", "model", "expected_model", "kind", "source")}
            rec["expected_cost"] = None if rng is None else [str(rng[0]), str(rng[1])]
            for t in tools:
                res = results[t][i]
                rec[t] = {"cost": _num(res["cost"]) if res["cost"] is not None else None,
                          "verdict": verdicts[t][i], "silent_zero": zeros[t][i],
                          "how": res.get("how"), "resolved": res.get("resolved"), "error": res.get("error")}
                if "price_id" in res:
                    rec[t]["price_id"] = res["price_id"]
            out.append(rec)
        with open(args.json, "w") as f:
            json.dump({"tokens": args.tokens, "llm_cost_version": version, "rows": out}, f, indent=1)
        print("\nper-row results: %s" % args.json)
    print("\n(%.1f s)" % (time.time() - t0))
    return 0


def _num(d):
    if d is None:
        return "NULL"
    d = Decimal(d)
    s = format(d.normalize(), "f")
    return s


if __name__ == "__main__":
    sys.exit(main())
