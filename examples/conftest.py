import os

# The tests read local files only: make any attempt to reach the Hub fail fast instead of hanging.
# Set before `datasets` and `transformers` are imported, which read these once.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
