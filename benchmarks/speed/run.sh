#!/usr/bin/env bash
# The measurements of benchmarks/speed/README.md. Run from the repository root; each step is one process.
# Usage: benchmarks/speed/run.sh [paper|seeds|cpu|sweeps|seeds-small|throughput-3x128|all]
set -eu
cd "$(dirname "$0")/../.."
F=".venv/bin/fidec bench-speed"
O=benchmarks/speed
. benchmarks/copy_metrics.sh  # stamp
what=${1:-all}
if [[ $what == paper || $what == all ]]; then
  stamp "paper preset: fd, fd-per-action, deflow, fql, bc (one process, interleaved)"
  $F --preset paper --agents fd,fd-per-action,deflow,fql,bc --chunk 4 --repeats 8 \
    --out $O/cpu-paper.json --markdown $O/cpu-paper.md 2> $O/cpu-paper.log
  stamp done
fi
if [[ $what == seeds || $what == all ]]; then
  stamp "paper preset: 1 seed vs 3 seeds sequential vs 3 seeds vmapped"
  $F --preset paper --agents fd,fql --compare-seeds 3 --chunk 2 --repeats 4 \
    --out $O/cpu-paper-seeds.json --markdown $O/cpu-paper-seeds.md 2> $O/cpu-paper-seeds.log
  stamp done
fi
if [[ $what == cpu || $what == all ]]; then
  stamp "cpu preset: seeds 1 vs 3, chunked vs one dispatch per update"
  $F --preset cpu --agents fd,fd-per-action,deflow,fql --compare-seeds 3 --dispatch --chunk 10 --repeats 5 \
    --out $O/cpu-cpu.json --markdown $O/cpu-cpu.md 2> $O/cpu-cpu.log
  stamp done
fi
if [[ $what == sweeps || $what == all ]]; then
  stamp "cpu preset: scaling sweeps (fd)"
  $F --preset cpu --agents fd --sweep batch,fisher,action-dim,width,seeds --chunk 4 --repeats 3 \
    --out $O/cpu-sweeps.json --markdown $O/cpu-sweeps.md 2> $O/cpu-sweeps.log
  stamp done
fi
if [[ $what == seeds-small || $what == all ]]; then
  stamp "the cpu benchmark's sizes (3x128, point-maze dims): 1 seed vs 3 seeds sequential vs 3 seeds vmapped"
  $F --preset cpu --hidden-dims 128,128,128 --obs-dim 2 --action-dim 2 --agents fd,fd-per-action,deflow,fql,bc \
    --compare-seeds 3 --chunk 20 --repeats 5 \
    --out $O/cpu-small-seeds.json --markdown $O/cpu-small-seeds.md 2> $O/cpu-small-seeds.log
  stamp done
fi
if [[ $what == throughput-3x128 || $what == all ]]; then
  stamp "each agent at the cpu suite's sizes (3x128, batch 256, 3 seeds vmapped, point-maze dims): how the suite was sized"
  $F --agents fd,fd-per-action,deflow,fql,bc --preset cpu --hidden-dims 128,128,128 --seeds 3 \
    --obs-dim 2 --action-dim 2 --repeats 3 --out $O/throughput-3x128.json --markdown $O/throughput-3x128.md
  stamp done
fi
