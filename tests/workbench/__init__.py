"""Tests for the ground floor, ``workbench``: image decoding, preprocessing, atomic writes, hostile files."""
