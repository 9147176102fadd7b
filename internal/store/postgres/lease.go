package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluegreen-dev/bluegreen/internal/store"
)

// The controller lease is a row per app in bluegreen_leases. Expiry is
// judged by the database's clock (clock_timestamp()), so the instances'
// clocks need not agree. A fenced write takes the row FOR SHARE in its
// own transaction, so a takeover (an UPDATE of the row) waits for the
// writes already under way and every later write sees the new token.

// AcquireLease gives holder app's lease for ttl if nobody holds it or the
// last holder's lease has expired; the token is one more than the last
// (1 for the first). It returns store.ErrLeaseHeld, wrapped with the
// holder, if another instance holds it. A holder whose lease is still in
// force uses RenewLease.
func (s *Store) AcquireLease(ctx context.Context, app, holder string, ttl time.Duration) (store.Lease, error) {
	l := store.Lease{App: app, Holder: holder}
	err := s.pool.QueryRow(ctx, `
INSERT INTO bluegreen_leases AS l (app, holder, token, expires_at)
VALUES ($1, $2, 1, clock_timestamp() + $3 * interval '1 microsecond')
ON CONFLICT (app) DO UPDATE SET holder = excluded.holder, token = l.token + 1, expires_at = excluded.expires_at
WHERE l.expires_at <= clock_timestamp()
RETURNING token, expires_at`, app, holder, ttl.Microseconds()).Scan(&l.Token, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		cur, cerr := s.Lease(ctx, app)
		if cerr != nil {
			return store.Lease{}, fmt.Errorf("acquire lease of %s: %w", app, store.ErrLeaseHeld)
		}
		return store.Lease{}, fmt.Errorf("acquire lease of %s: %w: %s holds token %d until %s",
			app, store.ErrLeaseHeld, cur.Holder, cur.Token, cur.Expires.Format(time.RFC3339Nano))
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("acquire lease of %s: %w", app, err)
	}
	l.Expires = l.Expires.UTC()
	return l, nil
}

// RenewLease extends l by ttl from now if it is still the lease in force
// (same holder and token, not expired); otherwise it returns
// store.ErrFenced and the holder must stop acting as leader.
func (s *Store) RenewLease(ctx context.Context, l store.Lease, ttl time.Duration) (store.Lease, error) {
	err := s.pool.QueryRow(ctx, `
UPDATE bluegreen_leases SET expires_at = clock_timestamp() + $4 * interval '1 microsecond'
WHERE app = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()
RETURNING expires_at`, l.App, l.Holder, l.Token, ttl.Microseconds()).Scan(&l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Lease{}, fmt.Errorf("renew lease of %s (token %d): %w", l.App, l.Token, store.ErrFenced)
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("renew lease of %s (token %d): %w", l.App, l.Token, err)
	}
	l.Expires = l.Expires.UTC()
	return l, nil
}

// ReleaseLease ends l now, if it is still in force, so another instance
// can take over at once (a clean stop); a lease already lost is no error.
func (s *Store) ReleaseLease(ctx context.Context, l store.Lease) error {
	_, err := s.pool.Exec(ctx, `
UPDATE bluegreen_leases SET expires_at = clock_timestamp()
WHERE app = $1 AND holder = $2 AND token = $3 AND expires_at > clock_timestamp()`, l.App, l.Holder, l.Token)
	if err != nil {
		return fmt.Errorf("release lease of %s (token %d): %w", l.App, l.Token, err)
	}
	return nil
}

// Lease returns app's lease as stored (possibly expired), or
// store.ErrNotFound if nobody ever held it.
func (s *Store) Lease(ctx context.Context, app string) (store.Lease, error) {
	l := store.Lease{App: app}
	err := s.pool.QueryRow(ctx, `SELECT holder, token, expires_at FROM bluegreen_leases WHERE app = $1`, app).
		Scan(&l.Holder, &l.Token, &l.Expires)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.Lease{}, fmt.Errorf("read lease of %s: %w", app, store.ErrNotFound)
	}
	if err != nil {
		return store.Lease{}, fmt.Errorf("read lease of %s: %w", app, err)
	}
	l.Expires = l.Expires.UTC()
	return l, nil
}
