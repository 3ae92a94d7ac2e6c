"""Published weight layouts in and out of worldjepa's modules (docs/interop.md)."""
