"""The Teams app package sources (manifest.json template and icons), shipped as package data."""
