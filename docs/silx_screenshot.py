"""Screenshot of silx's viewer on a labapp run file: docs/images/silx-nxdata-dc-sweep.png.

silx is not a labapp dependency: ``pip install silx qtawesome PyOpenGL`` first. The file
root is given to silx's ``DataViewerFrame``, which follows the NeXus ``default``
attributes to the run's NXdata by itself (nothing labapp-specific is passed).
Run: ``QT_QPA_PLATFORM=offscreen python docs/silx_screenshot.py``.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    from silx.gui import qt  # noqa: I001 - Qt binding first

    import silx.io
    from silx.gui.data.DataViewerFrame import DataViewerFrame

    from tests.protocol_runs import write_run

    path = Path(tempfile.mkdtemp()) / "sweep.h5"
    write_run(path, "dc-sweep", seed=1)
    app = qt.QApplication([])
    h5 = silx.io.open(str(path))
    w = DataViewerFrame()
    w.setData(h5["/"])
    w.resize(900, 600)
    w.show()
    for _ in range(20):
        app.processEvents()
    out = ROOT / "docs" / "images" / "silx-nxdata-dc-sweep.png"
    w.grab().save(str(out))
    print(out)


if __name__ == "__main__":
    main()
