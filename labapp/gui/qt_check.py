"""Why Qt could not open a window, said before Qt tries (it aborts the process instead).

Qt's X11 platform plugin (``libqxcb.so``, shipped in the PyQt6 wheel) links against
X11/xcb libraries the wheel does not ship; on a minimal Debian several are missing and
Qt ends the process with "could not load the Qt platform plugin 'xcb'", which Python
cannot catch. :func:`qt_start_problem` asks the dynamic linker (``ldd`` on the plugin)
which libraries are missing and turns them into one line naming them and the Debian
packages that provide them (Debian Policy 8.1: a shared library ``libfoo.so.N`` is in the
package ``libfooN``, ``libfoo-N`` when the name ends in a digit). It also catches the
other common case: no display at all.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

#: the system packages the window needs on a minimal Debian (docs/gui.md)
DEBIAN_PACKAGES = ("libxcb-icccm4", "libxcb-image0", "libxcb-keysyms1",
                   "libxcb-render-util0", "libxcb-xkb1", "libxkbcommon-x11-0",
                   "libxcb-shape0", "libxcb-xinerama0", "libxcb-cursor0")
_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.M)


def debian_package(soname: str) -> str:
    """``libxcb-icccm.so.4`` -> ``libxcb-icccm4``; ``libxkbcommon-x11.so.0`` ->
    ``libxkbcommon-x11-0``."""
    m = re.fullmatch(r"(lib.+?)\.so\.(\d+)(?:\..*)?", soname)
    if not m:
        return soname
    base, major = m.groups()
    return f"{base}-{major}" if base[-1].isdigit() else f"{base}{major}"


def xcb_plugin() -> Path | None:
    """PyQt6's X11 platform plugin, found without importing Qt."""
    spec = importlib.util.find_spec("PyQt6")
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        plugin = Path(root) / "Qt6" / "plugins" / "platforms" / "libqxcb.so"
        if plugin.exists():
            return plugin
    return None


def _ldd(path: Path) -> str:
    ldd = shutil.which("ldd")
    if ldd is None:
        return ""
    try:
        return subprocess.run([ldd, str(path)], capture_output=True, text=True, timeout=20,
                              check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return ""


def missing_xcb_libraries(ldd: Callable[[Path], str] = _ldd) -> list[str]:
    """Shared libraries the xcb plugin needs that the dynamic linker cannot find."""
    plugin = xcb_plugin()
    if plugin is None:
        return []
    return list(dict.fromkeys(_NOT_FOUND.findall(ldd(plugin))))


def qt_start_problem(environ: dict[str, str] | None = None,
                     missing: Callable[[], list[str]] = missing_xcb_libraries) -> str | None:
    """One line saying why a Qt window cannot start here, or None when it can."""
    env = os.environ if environ is None else environ
    platform = env.get("QT_QPA_PLATFORM", "")
    if not sys.platform.startswith("linux") or (platform and not platform.startswith("xcb")):
        return None  # offscreen, wayland, vnc, ...: not the X11 plugin
    if not platform and env.get("WAYLAND_DISPLAY"):
        return None
    libs = missing()
    if libs:
        packages = " ".join(dict.fromkeys(debian_package(s) for s in libs))
        return (f"the window cannot start: Qt's X11 platform plugin needs {', '.join(libs)}, "
                f"not installed; on Debian/Ubuntu: sudo apt-get install {packages} "
                f"(all the window needs: {' '.join(DEBIAN_PACKAGES)})")
    if not env.get("DISPLAY"):
        return ("the window cannot start: no display (DISPLAY is not set); run it on the "
                "bench computer's desktop or over 'ssh -X', or set QT_QPA_PLATFORM=offscreen "
                "for --screenshot")
    return None


if __name__ == "__main__":  # python -m labapp.gui.qt_check
    problem = qt_start_problem()
    print(problem or "Qt can start a window here")
    sys.exit(1 if problem else 0)
