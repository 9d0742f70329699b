package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/beacon-live/beacon/db"
)

// healthReader is what /healthz asks the database.
type healthReader interface {
	// Horizon is the cheapest read the database answers.
	Horizon(ctx context.Context) (horizon, head int64, err error)
	// WriteError says why the disk refuses writes now (full, read-only).
	WriteError() error
	// FollowErr says why the database cannot apply the cluster's log now.
	FollowErr() error
}

// Checker says why this instance cannot take writes now (its connection
// to the cluster is down), or nil.
type Checker interface {
	Check(ctx context.Context) error
}

// handleHealth serves GET /healthz: 200 when the database answers, its
// last writes went through and, in a cluster, when the cluster's log takes
// writes and this instance applies it; 503 with the reason otherwise
// ("database full": until a write succeeds again). Reads and open
// connections keep working while it says 503.
func handleHealth(store healthReader, cluster Checker) echo.HandlerFunc {
	return func(c echo.Context) error {
		ctx, cancel := context.WithTimeout(c.Request().Context(), time.Second)
		defer cancel()
		_, head, err := store.Horizon(ctx)
		if err != nil {
			reason := db.Reason(err)
			if reason == "" {
				reason = "database does not answer"
			}
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": reason})
		}
		if err := store.WriteError(); err != nil {
			return c.JSON(http.StatusServiceUnavailable, map[string]string{"status": "unavailable", "error": db.Reason(err)})
		}
		if cluster != nil {
			if err := cluster.Check(ctx); err != nil {
				return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable", "error": err.Error(), "position": head})
			}
			if err := store.FollowErr(); err != nil {
				return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "unavailable",
					"error": "cannot apply the cluster log: " + err.Error(), "position": head})
			}
		}
		return c.JSON(http.StatusOK, map[string]any{"status": "ok", "position": head})
	}
}
