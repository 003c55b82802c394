package cli

import (
	"net/http"

	"github.com/drover-dev/drover/internal/webui"
)

// uiHandler serves the embedded web UI.
func uiHandler() http.Handler { return webui.Handler() }
