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
        from qtpy.QtWidgets import QApplication

        QApplication.processEvents()
        viewer.screenshot(args.screenshot, canvas_only=False, flash=False)
        viewer.close()
        print(args.screenshot)
        return 0
    napari.run()
    return 0


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
