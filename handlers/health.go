package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
)

// healthReader says whether the database answers reads and takes writes.
type healthReader interface {
	Horizon(ctx context.Context) (horizon, head int64, err error)
	WriteError() error
}

// handleHealth serves GET /healthz: 200 when the database answers and its
// last writes went through; 503 with the reason otherwise ("database
// full": until a write succeeds again).
func handleHealth(store healthReader) echo.HandlerFunc {
	return func(c echo.Context) error {
		_, head, err := store.Horizon(c.Request().Context())
		if err == nil {
			err = store.WriteError()
		}
		if err != nil {
			reason := db.Reason(err)
			if reason == "" {
				reason = "database does not answer"
			}
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": reason})
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "ok", "position": head})
	}
}
