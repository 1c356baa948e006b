"""Trainer adapters: code that produces SAEs the eval suite can run."""
