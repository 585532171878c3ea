"""Database tables and the prediction-history writer (SQLAlchemy 2, typed)."""
