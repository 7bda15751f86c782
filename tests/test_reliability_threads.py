"""Run files opened from several threads of one process at once (analysis workers).

``analyze-batch --scheduler`` on a local cluster runs its workers as threads of one
process, each opening run files through :func:`labcore.h5files.open_for_reading`. HDF5 is
not thread-safe; h5py serialises every call into it with one lock, and the one call this
project makes into the library past h5py (the metadata read attempts of a file-access
property list, through ctypes) must take that lock too. Without it a worker's call landed
while another thread was inside HDF5 and the process died with a segmentation fault (seen
in the suite's local-cluster test; without the lock the loop below crashed its child in
5 of 6 runs of 8 s, most within 2-4 s; with it, none in 8 runs). The threads run in a
child process, so a crash fails this test instead of ending the suite.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HAMMER = r"""
import sys, threading, time
from pathlib import Path
import h5py, numpy as np
from labcore.h5files import open_for_reading

path = Path(sys.argv[1])
with h5py.File(path, "w", libver="latest") as f:
    for g in range(4):
        grp = f.create_group(f"g{g}")
        for d in range(5):
            grp.create_dataset(f"d{d}", data=np.arange(100.0))
            grp.attrs[f"a{d}"] = d
stop = time.monotonic() + float(sys.argv[2])
opened = [0] * 4

def work(k):
    while time.monotonic() < stop:
        with open_for_reading(path, live=k % 2 == 0) as f:
            for g in list(f)[:2]:
                for d in f[g]:
                    f[g][d].attrs.keys()
                    f[g].attrs.get("a1")
        opened[k] += 1

threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(min(opened))
"""


def test_run_files_opened_from_four_threads_at_once(tmp_path):
    out = subprocess.run([sys.executable, "-c", HAMMER, str(tmp_path / "f.h5"), "8"],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, (out.returncode, out.stderr[-2000:])  # -11: segfault
    assert int(out.stdout) > 10  # every thread opened the file many times
