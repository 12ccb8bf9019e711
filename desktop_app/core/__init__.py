"""Qt-free and torch-free core of the workbench: image loading and preprocessing."""
