package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
)

// horizonReader is the cheapest read the database answers.
type horizonReader interface {
	Horizon(ctx context.Context) (horizon, head int64, err error)
}

// handleHealth serves GET /healthz: 200 when the database answers.
func handleHealth(store horizonReader) echo.HandlerFunc {
	return func(c echo.Context) error {
		_, head, err := store.Horizon(c.Request().Context())
		if err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": "database does not answer"})
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "ok", "position": head})
	}
}
