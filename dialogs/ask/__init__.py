"""Questions in plain English: parse.py turns text into a Query; answer.py runs it in SQL."""
