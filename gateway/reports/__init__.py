"""Monthly statements: the figures of a month per customer (statement.py), gathered from the
database (gather.py), written as text, JSON, CSV (formats.py) or HTML with charts (html.py)."""
