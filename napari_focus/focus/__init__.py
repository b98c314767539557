"""The FOCUS model core (docs/method.md §3), pure PyTorch, no Qt.

Modules: `groups` (spectral groups), `backbone` (frozen timm ViT from local files), `model`
(`FocusModel`), `readout` (named saliency rules), `explain` (`explain`, `predict`, `Explanation`),
`baselines` (gradient × input, Grad-CAM), `train`, `checkpoint`, `evaluate`, `factory`, `device`, `cli`.
Nothing is imported here, so `import napari_focus.focus` stays cheap until a model is needed.
"""
