"""Spreadsheets: reading, writing, cells, the import columns, output paths, template, report, undo files."""
