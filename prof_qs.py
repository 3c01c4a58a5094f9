import sys, tempfile, cProfile, pstats, time
from pathlib import Path
sys.path.insert(0, "bench"); sys.path.insert(0, "examples/quickstart")
import quickstart as q
with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp); q.make_data(root/"data", 200_000)
    for r in range(2):
        t=time.perf_counter(); q.run_bare(root/"data", root/f"b{r}"); print("bare", time.perf_counter()-t)
        t=time.perf_counter(); q.run_pump(root/"data", root/f"p{r}"); print("pump", time.perf_counter()-t)
    if len(sys.argv) > 1:
        cProfile.run('q.run_pump(root/"data", root/"pp")', "/tmp/qs.prof")
        pstats.Stats("/tmp/qs.prof").sort_stats("tottime").print_stats(30)
