package cli

import "net/http"

// uiHandler serves the web UI; nil until the UI is embedded.
func uiHandler() http.Handler { return nil }
