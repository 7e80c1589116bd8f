package sqlstore

import (
	"context"
	"time"

	"github.com/hogpipe/hogpipe/trainingfile"
)

// Lost is closed when the lock's connection is gone without Release
// (another replica may hold the lock now).
func (l *Leader) Lost() <-chan struct{} { return l.lost }

// Lead makes the store the training file writer's lease (trainingfile.Leases):
// TryLead when within is 0, WaitLead otherwise.
func (s *Store) Lead(ctx context.Context, within time.Duration) (trainingfile.Lease, error) {
	var l *Leader
	var err error
	if within > 0 {
		l, err = s.WaitLead(ctx, within)
	} else {
		l, err = s.TryLead(ctx)
	}
	if l == nil {
		// A nil *Leader must not become a non-nil Lease.
		return nil, err
	}
	return l, err
}
