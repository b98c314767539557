"""Qt widgets and docks (qtpy, pyqtgraph): the only place napari-focus imports Qt.

Import the submodules directly (`napari_focus._qt.spectral_plot`, `napari_focus._qt.band_link`);
this package imports nothing itself so that importing one widget does not load the others.
"""
