import sys, tempfile, time, gc
from pathlib import Path
sys.path.insert(0, "bench"); sys.path.insert(0, "examples/quickstart")
import quickstart as q
with tempfile.TemporaryDirectory() as tmp:
    root = Path(tmp); q.make_data(root/"data", 200_000)
    for r in range(3):
        t=time.process_time(); q.run_bare(root/"data", root/f"b{r}"); print("bare", time.process_time()-t)
        gc.enable()
        t=time.process_time(); q.run_pump(root/"data", root/f"p{r}"); print("pump", time.process_time()-t)
        gc.disable()
        t=time.process_time(); q.run_pump(root/"data", root/f"g{r}"); print("pump nogc", time.process_time()-t)
        gc.enable()
