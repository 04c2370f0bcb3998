"""The v1 HTTP routes, one module per journey surface; ``common`` holds what they share."""
