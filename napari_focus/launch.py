"""`make run`: napari with the plugin, a sample leaf and (once present) the Explain dock.

`--screenshot PNG` renders the window and quits, for machines without a display (under xvfb-run)
and for the README.
"""

from __future__ import annotations

import argparse
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m napari_focus.launch", description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="bls_vnir204", help="sample key to open ('' for none)")
    parser.add_argument("--screenshot", metavar="PNG", help="save a screenshot of the window and quit")
    args = parser.parse_args(argv)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) and sys.platform.startswith("linux"):
        print("napari-focus: no display found (DISPLAY is unset). Run this on a desktop session, or render "
              "a screenshot with 'make screenshot'.", file=sys.stderr)
        return 1
    import napari

    viewer = napari.Viewer(title="napari-focus")
    if args.sample:
        try:
            viewer.open_sample("napari-focus", args.sample)
        except Exception as exc:  # the sample is a convenience: napari must still open
            print(f"napari-focus: could not open sample {args.sample!r}: {exc}", file=sys.stderr)
    _open_docks(viewer)
    if args.screenshot:
        import time

        from qtpy.QtWidgets import QApplication

        end = time.monotonic() + 1.5  # the docks' layout and the refitted view settle over a few event-loop turns
        while time.monotonic() < end:
            QApplication.processEvents()
            time.sleep(0.02)
        _close_toasts(viewer)
        viewer.screenshot(args.screenshot, canvas_only=False, flash=False)
        viewer.close()
        print(args.screenshot)
        return 0
    napari.run()
    return 0


def _close_toasts(viewer: object) -> None:
    """Close napari's notification toasts (its PyQt5 deprecation notice) before a README picture: they would cover
    the canvas. napari's toast class is private; without it, the picture keeps them."""
    try:
        from napari._qt.dialogs.qt_notification import NapariQtNotification
    except ImportError:
        return
    for toast in viewer.window._qt_window.findChildren(NapariQtNotification):
        toast.close()


def _open_docks(viewer: object) -> None:
    """Open the plugin's main dock when the manifest provides one."""
    from npe2 import PluginManager

    pm = PluginManager.instance()
    manifest = pm.get_manifest("napari-focus")
    for widget in manifest.contributions.widgets or ():
        viewer.window.add_plugin_dock_widget("napari-focus", widget.display_name)  # type: ignore[attr-defined]
        break


if __name__ == "__main__":
    sys.exit(main())
