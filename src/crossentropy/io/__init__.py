"""Readers that turn files and data-frame columns into NumPy row blocks for evaluation.

``crossentropy.io.columns``: Arrow, pandas and polars columns as 2-D (or N-D) NumPy views.
``crossentropy.io.arrow``: Parquet files and datasets and Arrow IPC files, streamed in bounded memory.
Both need pyarrow only when an Arrow object or file is actually given (``pip install crossentropy[arrow]``).
"""
