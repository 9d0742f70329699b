package limit

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind. The
// limiter promises to start none; this keeps that promise honest.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
