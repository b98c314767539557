"""How the Explain dock puts a finished run into the viewer: one step per event-loop turn, then the curve's top
band, one colour scale in plain words, and a status line without jargon.

A mixin of `ExplainDock` (kept apart so that the dock's module stays about wiring widgets and the worker).
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import QTimer

from .result_layers import add_result_layers

_STEP_INTERVAL_MS = 40  # between the steps that add a result (see `_show_in_turns`)


def colour_scale_text(exp: Any, layer_meta: dict, limits: tuple[float, float], band_text: str) -> str:
    """What the overlay's colours mean, in plain words, with the numbers read from this result."""
    from ..explain_layers import class_words, method_label

    share = round(100 * float(layer_meta.get("saturated_at_most", 0.02)))
    return (f"Colour = how strongly a pixel, at the band shown, pushed the model towards "
            f"'{class_words(exp.class_name)}' ({method_label(exp.method, exp.refined)}, in its own units). "
            f"Transparent at 0, brightest at {limits[1]:.3g} or more: at most {share} % of the leaf's pixels reach "
            f"that at {band_text}, the curve's top band. One scale for all bands: scrub to compare them.")


class ResultShowing:
    """The result half of `ExplainDock`: needs its viewer, status, progress, run button and result fields."""

    viewer: Any
    _showing: QTimer | None

    def show_result(self, layer: Any, exp: Any, model: Any, prepared: tuple[Any, Any] | None = None) -> None:
        """Add (or refill) the saliency layers, the leaf mask and the spectral dock, all at once.

        `prepared`: (saliency layer data, curve[, layers built from them]) computed off the GUI thread for this
        layer's geometry.
        """
        for _ in self._show_steps(layer, exp, model, prepared):
            pass

    def _show_in_turns(self, layer: Any, steps: Any) -> None:
        """Run `steps` one per event-loop turn: each napari layer add (and its first draw) and the spectral dock
        cost 50–250 ms of GUI time; one turn for all of them stalled the viewer ~1 s (benchmarks/gui_latency.py).
        A cube removed (or the dock closed) meanwhile discards what was added, so nothing is left half-added."""
        from napari.utils.notifications import show_error, show_warning

        added: list[str] = []
        timer = QTimer(self)
        # single-shot, restarted after each step: a repeating 0 ms timer ran the next step before the paint and the
        # timers that were due (two steps and a draw in one 0.4-0.6 s stall, benchmarks/gui_latency.py). A step's
        # layer insertion posts the window's relayout and repaint (20-70 ms each with software OpenGL); after 1 ms
        # the next step often ran in the same event-loop pass as them, after 40 ms it mostly waits for them
        # (first click, alternating quiet runs, 4 and 3: p99 gap 75-79 ms against 96-109 ms)
        timer.setSingleShot(True)
        timer.setInterval(_STEP_INTERVAL_MS)
        self._showing = timer
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(False)
        self.status.setText("adding the result…")

        def abandon(why: str) -> None:
            timer.stop()
            steps.close()  # its `finally`s run: e.g. the window, paused while layers go in, repaints
            for name in added:
                if name in self.viewer.layers:
                    self.viewer.layers.remove(name)
            self.status.setText(why)
            self._done_showing()

        def turn() -> None:
            if layer not in self.viewer.layers:
                show_warning("napari-focus: the cube layer was removed while the result was added; it was discarded")
                abandon("cube removed; nothing was added")
                return
            if self._discard:
                abandon(self._discard)
                return
            try:
                name = next(steps)
            except StopIteration:
                timer.stop()
                self._done_showing()
            except Exception as exc:  # noqa: BLE001 (a notification, never a traceback dump)
                show_error(f"napari-focus could not show the result: {type(exc).__name__}: {exc}")
                abandon("failed; nothing was added")
            else:
                if name:
                    added.append(name)
                timer.start()

        timer.timeout.connect(turn)
        timer.start()

    def _done_showing(self) -> None:
        self._showing = None
        if self.worker is None:
            self._ready()

    def _show_steps(self, layer: Any, exp: Any, model: Any, prepared: tuple[Any, Any] | None) -> Any:
        """The result as steps; each yields the name of the layer it added ("" for other steps)."""
        from ..explain_layers import class_words, curve_from_explanation, probability_text, saliency_layer_data

        bbl = layer.metadata.get("bbl")
        if prepared is None:
            prepared = (saliency_layer_data(exp, layer.scale, layer.translate, layer.name, bbl),
                        curve_from_explanation(exp, model, bbl))
        layer_data, curve, *built = prepared
        yield from add_result_layers(self.viewer, layer, exp.leaf_mask, layer_data, built[0] if built else None)
        yield ""  # the window, paused while the layers went in, repaints (~70 ms) in its own turn, not with the dock
        # pyqtgraph: imported by the prefetch thread when the dock opened (the worker waited for it), never here
        from .band_link import DOCK_NAME, _find_dock, dock_hidden_plot, spectral_dock_steps

        if _find_dock(self.viewer, DOCK_NAME) is None:  # the first result came before the timer, or the user closed it
            dock_hidden_plot(self.viewer)  # a turn of its own
            yield ""
        self.spectral = yield from spectral_dock_steps(self.viewer, curve, layer, saliency=exp.T)
        classes = list(getattr(model, "classes", []))
        self._classes = classes
        self.result, self.result_model = exp, model
        self.viewer.layers.selection.active = layer
        saliency = self.viewer.layers[layer_data[0][1]["name"]]
        top = int(saliency.metadata.get("top_band", 0))
        self.spectral[1].band.go_to(top)
        yield ""  # the canvas at the new band and the new layer controls repaint in this turn, the dock's texts next
        self._show_scale_of(saliency, exp, curve, top)
        self.probabilities.setText(f"predicted: {class_words(exp.predicted)}  ({probability_text(exp, classes)})")
        self.status.setText(self._status_text(exp))
        self.export_button.setEnabled(True)
        self._shown = True
        yield ""

    def _show_scale_of(self, saliency: Any, exp: Any, curve: Any, top: int) -> None:
        """The overlay's colour scale with its meaning (read at the curve's top band `top`) in the dock."""
        from ..explain_layers import saliency_colormap

        limits = tuple(saliency.contrast_limits)
        self.colour_scale.set_scale(saliency_colormap(), limits,
                                    colour_scale_text(exp, saliency.metadata, limits, curve.band_text(top, 1)))

    @staticmethod
    def _status_text(exp: Any) -> str:
        from ..explain_layers import class_words, method_label

        notes = "; ".join(exp.notes)
        tiles = len(getattr(exp, "tiles", None) or [])
        how = f" in {tiles} tiles" if tiles else ""
        who = method_label(exp.method, exp.refined)
        text = f"{who} explained '{class_words(exp.class_name)}'{how} in {exp.seconds:.1f} s"
        return text + (f". Note: {notes}" if notes else "")
