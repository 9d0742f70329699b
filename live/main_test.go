package live

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if any test leaves a goroutine behind: the hub's
// heartbeat, a connection's writer, an HTTP client's read loop.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
