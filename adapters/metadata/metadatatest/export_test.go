package metadatatest

import "time"

// SetRelistenWait replaces RelistenWait for s, so that a test of a port
// that stays taken does not wait the full bound.
func SetRelistenWait(s *Server, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.relistenWait = d
}
