package portstest

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/gcftrace/gcftrace/ports"
)

// StaticEnvironment is an EnvironmentSource that always reports the same
// Environment.
type StaticEnvironment ports.Environment

// Environment returns the Environment, or ctx.Err() when ctx is done.
func (s StaticEnvironment) Environment(ctx context.Context) (ports.Environment, error) {
	if err := ctx.Err(); err != nil {
		return ports.Environment{}, err
	}
	return ports.Environment(s), nil
}

// FailingEnvironment is an EnvironmentSource that reports Partial with Err.
type FailingEnvironment struct {
	Partial ports.Environment
	Err     error
}

// Environment returns f.Partial and f.Err, or ctx.Err() when ctx is done.
func (f FailingEnvironment) Environment(ctx context.Context) (ports.Environment, error) {
	if err := ctx.Err(); err != nil {
		return f.Partial, err
	}
	return f.Partial, f.Err
}

// BlockingEnvironment is an EnvironmentSource that answers only when Release
// is called or ctx is done, like a metadata server that hangs.
type BlockingEnvironment struct {
	Env ports.Environment

	once    sync.Once
	release chan struct{}
}

func (b *BlockingEnvironment) ch() chan struct{} {
	b.once.Do(func() { b.release = make(chan struct{}) })
	return b.release
}

// Release lets every pending and future call return Env.
func (b *BlockingEnvironment) Release() {
	ch := b.ch()
	select {
	case <-ch:
	default:
		close(ch)
	}
}

// Environment blocks until Release or ctx is done.
func (b *BlockingEnvironment) Environment(ctx context.Context) (ports.Environment, error) {
	select {
	case <-b.ch():
		return b.Env, nil
	case <-ctx.Done():
		return ports.Environment{}, ctx.Err()
	}
}

// CountingFlusher is a Flusher that counts its calls and returns Err.
type CountingFlusher struct {
	Err   error
	calls atomic.Int64
}

// ForceFlush counts the call and returns f.Err.
func (f *CountingFlusher) ForceFlush(context.Context) error {
	f.calls.Add(1)
	return f.Err
}

// Calls reports how many times ForceFlush was called.
func (f *CountingFlusher) Calls() int { return int(f.calls.Load()) }

var (
	_ ports.EnvironmentSource = StaticEnvironment{}
	_ ports.EnvironmentSource = FailingEnvironment{}
	_ ports.EnvironmentSource = (*BlockingEnvironment)(nil)
	_ ports.Flusher           = (*CountingFlusher)(nil)
)
