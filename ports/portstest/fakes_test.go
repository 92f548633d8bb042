package portstest_test

import (
	"errors"
	"testing"

	"github.com/gcftrace/gcftrace/ports"
	"github.com/gcftrace/gcftrace/ports/portstest"
)

func TestStaticEnvironmentConforms(t *testing.T) {
	portstest.TestEnvironmentSource(t, func(*testing.T) ports.EnvironmentSource {
		return portstest.StaticEnvironment{Function: "f", Platform: ports.PlatformFunctionsGen2}
	})
}

func TestFailingEnvironmentConforms(t *testing.T) {
	portstest.TestEnvironmentSource(t, func(*testing.T) ports.EnvironmentSource {
		return portstest.FailingEnvironment{Err: ports.ErrNotOnGCP}
	})
}

func TestBlockingEnvironmentConforms(t *testing.T) {
	portstest.TestEnvironmentSource(t, func(*testing.T) ports.EnvironmentSource {
		return &portstest.BlockingEnvironment{}
	})
}

func TestBlockingEnvironmentRelease(t *testing.T) {
	b := &portstest.BlockingEnvironment{Env: ports.Environment{Function: "f"}}
	b.Release()
	b.Release() // idempotent
	env, err := b.Environment(t.Context())
	if err != nil || env.Function != "f" {
		t.Fatalf("after Release: %+v, %v", env, err)
	}
}

func TestCountingFlusher(t *testing.T) {
	want := errors.New("boom")
	f := &portstest.CountingFlusher{Err: want}
	for range 3 {
		if err := f.ForceFlush(t.Context()); !errors.Is(err, want) {
			t.Fatalf("ForceFlush = %v, want %v", err, want)
		}
	}
	if got := f.Calls(); got != 3 {
		t.Fatalf("Calls() = %d, want 3", got)
	}
}

func TestEnvironmentMerge(t *testing.T) {
	a := ports.Environment{ProjectID: "user", MemoryMB: 256}
	b := ports.Environment{ProjectID: "meta", Region: "europe-west3", MemoryMB: 512, Platform: ports.PlatformFunctionsGen2}
	got := a.Merge(b)
	want := ports.Environment{ProjectID: "user", Region: "europe-west3", MemoryMB: 256, Platform: ports.PlatformFunctionsGen2}
	if got != want {
		t.Fatalf("Merge = %+v, want %+v", got, want)
	}
}
