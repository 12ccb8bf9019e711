"""Desktop image-classifier workbench application package."""
