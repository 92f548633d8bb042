package core_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package's tests when a goroutine outlives them: a
// background loop left running or an export still under way.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
