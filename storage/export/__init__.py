"""Exports of a plan as of a date: json, csv, xlsx (the tracker) and docx (the board report)."""
