"""`fidec bench-speed` at the tiny preset: records, FLOP accounting and the scaling table."""

import json

import jax
import pytest

from fidec import bench
from fidec.cli import main
from fidec.config import resolve

REQUIRED = ("agent", "preset", "batch_size", "num_fisher_samples", "seeds", "updates_per_s", "compile_s", "peak_mem_mb")


@pytest.mark.parametrize(
    "agent,locality",
    [("fd", "per-state"), ("fd", "per-action"), ("deflow", "per-state"), ("fql", "per-state"), ("bc", "per-state")],
)
def test_velocity_row_count_matches_the_traced_update(agent, locality):
    """bench.velocity_rows (used for the analytic FLOPs) is the count the update really performs."""
    from tests.test_agents import count_velocity_rows

    rows, cfg = count_velocity_rows(agent, fisher_locality=locality)
    assert rows == bench.velocity_rows(cfg)


def test_analytic_flops_scale_linearly_in_batch_and_fisher_samples():
    f = lambda **kw: bench.analytic_flops(resolve({"agent": "fd", "preset": "paper", **kw}), 28, 5)  # noqa: E731
    assert f(batch_size=512) == pytest.approx(2 * f(batch_size=256))
    # per-state FD: each extra Fisher sample is one more ODE solve (K rows) and one score evaluation
    d1, d2 = f(fisher_samples=9) - f(fisher_samples=8), f(fisher_samples=17) - f(fisher_samples=16)
    assert d1 == pytest.approx(d2)


def test_bench_speed_tiny(tmp_path, capsys):
    out = tmp_path / "bench.json"
    md = tmp_path / "bench.md"
    argv = ["bench-speed", "--preset", "tiny", "--agents", "fd", "--sweep", "fisher", "--sweep-values", "1,2"]
    argv += ["--chunk", "2", "--repeats", "2", "--peak-size", "256", "--flow-steps", "2", "--compile-cache"]
    argv += ["--out", str(out), "--markdown", str(md), "--quiet"]
    assert main(argv) == 0
    assert jax.config.jax_enable_compilation_cache  # restored after the command
    records = json.loads(out.read_text())
    assert isinstance(records, list) and len(records) == 2
    for r in records:
        for k in REQUIRED:
            assert k in r, k
        assert r["agent"] == "fd" and r["preset"] == "tiny" and r["seeds"] == 1
        assert r["updates_per_s"] > 0 and r["compile_s"] > 0 and r["peak_mem_mb"] > 0
        assert r["flops_per_update"] > 0 and r["matmul_peak_gflops"] > 0
        # XLA's own count and the matmul-only analytic count agree to within elementwise overheads
        assert 0.5 < r["flops_per_update"] / r["flops_analytic"] < 2.0
        assert r["sweep"] == "fisher"
    assert [r["num_fisher_samples"] for r in records] == [1, 2]
    assert records[1]["flops_per_update"] > records[0]["flops_per_update"]
    text = capsys.readouterr().out
    assert "### Scaling: fisher (fd, tiny preset)" in text
    assert text.count("\n| 1 |") == 1 and text.count("\n| 2 |") == 1
    assert md.read_text().strip() == text.strip()
    # --render rebuilds the same tables from the JSON without measuring
    assert main(["bench-speed", "--render", str(out)]) == 0
    assert "### Scaling: fisher (fd, tiny preset)" in capsys.readouterr().out


def test_bench_rejects_unknown_agent_and_sweep(capsys):
    assert main(["bench-speed", "--preset", "tiny", "--agents", "nope"]) == 1
    assert "unknown agent" in capsys.readouterr().err
    assert main(["bench-speed", "--preset", "tiny", "--sweep", "depth"]) == 1
    assert "unknown sweep" in capsys.readouterr().err


def test_markdown_reports_ratios_and_comparisons():
    base = {
        "preset": "paper",
        "mode": "chunked",
        "batch_size": 256,
        "hidden_dims": [512] * 4,
        "action_dim": 5,
        "seeds": 1,
        "sweep": None,
        "sweep_value": None,
        "num_fisher_samples": 8,
        "compile_s": 1.0,
        "peak_mem_mb": 10.0,
        "flops_per_update": 1e9,
        "flops_analytic": 1e9,
        "matmul_peak_gflops": 100.0,
        "achieved_fraction": 0.5,
        "load_avg_1m": [1.0],
        "platform": "cpu",
        "device": "cpu",
        "jax": jax.__version__,
    }

    def rec(variant, ups, **kw):
        r = dict(base, variant=variant, agent=variant.split("-")[0], updates_per_s=ups, ms_per_update=1e3 / ups)
        r.update(kw)
        return r

    records = [
        rec("fd", 3.5),
        rec("deflow", 7.0),
        rec("fql", 10.0),
        rec("fd-per-action", 6.0),
        rec("fd", 1.0, mode="sequential", seeds=3),
        rec("fd", 1.5, seeds=3),
        rec("fd", 2.0, mode="dispatch"),
    ]
    text = bench.markdown(records)
    assert "| fd | 3.50 | 2.8 | 1.25x | 3.4 | met | 50 % | 90.00 (32.14x) |" in text
    assert "| fql | 10.00 | 9.4 | 1.06x | 11.5 | missed |" in text
    assert "per-action FD costs 1.17x DeFlow's" in text
    assert "vmapped 1.50 vs sequential 1.00 updates/s in total = 1.50x" in text
    assert "chunked 3.50 vs one dispatch per update 2.00 updates/s = 1.75x" in text
