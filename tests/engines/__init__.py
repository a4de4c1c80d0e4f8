"""One driver interface over three browser engines: Chromium, Firefox ESR and WebKitGTK."""
