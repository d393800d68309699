package router

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/imh-project/imh/routerproto"
)

// Config tunes a Router. Start from DefaultConfig.
type Config struct {
	// Name is the router's name in logs and /status.
	Name string
	// GracePeriod is how long a managed session outlives the loss of its
	// control connection (tunnels kept, payloads queued) before it is
	// destroyed. The balancer's failover must re-attach within it.
	GracePeriod time.Duration
	// QueueLimit bounds the payloads queued for a detached managed session;
	// beyond it the oldest are dropped and counted.
	QueueLimit int
	// MaxSessions caps the sessions the router holds at once (managed,
	// unmanaged and those in their grace period; data attachments do not
	// count). A CreateSession for a new Destination beyond it is answered
	// SessionStatus refused. At most 65535 (the session id space).
	MaxSessions int
	// MaxSessionsPerConn caps what one connection holds: the sessions it
	// controls plus its data attachments. One client cannot take the
	// whole router (a balancer needs one per destination; a frontend one
	// attachment per destination).
	MaxSessionsPerConn int
	// PublishRetry is the first delay between publication attempts of a
	// LeaseSet; it doubles up to PublishRetryMax.
	PublishRetry    time.Duration
	PublishRetryMax time.Duration
	// BuildRetry is the first delay before an unmanaged pool retries a
	// failed build; it doubles up to 30 s.
	BuildRetry time.Duration
	// RebuildBefore is how long before expiry an unmanaged pool builds a
	// replacement tunnel.
	RebuildBefore time.Duration
	// Clock is the router's time (nil: wall-clock time).
	Clock Clock
	// Logger receives the router's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultConfig returns the settings of CLI.md: a 5 minute grace period.
func DefaultConfig() Config {
	return Config{
		GracePeriod:        5 * time.Minute,
		QueueLimit:         1024,
		MaxSessions:        DefaultMaxSessions,
		MaxSessionsPerConn: DefaultMaxSessionsPerConn,
		PublishRetry:       500 * time.Millisecond,
		PublishRetryMax:    15 * time.Second,
		BuildRetry:         500 * time.Millisecond,
		RebuildBefore:      2 * time.Minute,
	}
}

// Defaults of Config.MaxSessions and Config.MaxSessionsPerConn.
const (
	DefaultMaxSessions        = 1024
	DefaultMaxSessionsPerConn = 256
)

// ErrBadConfig reports an invalid Config.
var ErrBadConfig = errors.New("router: bad config")

// Validate reports the first invalid setting.
func (c Config) Validate() error {
	switch {
	case c.Name == "":
		return fmt.Errorf("%w: empty name", ErrBadConfig)
	case c.GracePeriod <= 0:
		return fmt.Errorf("%w: grace period %v must be positive", ErrBadConfig, c.GracePeriod)
	case c.QueueLimit < 0:
		return fmt.Errorf("%w: queue limit %d is negative", ErrBadConfig, c.QueueLimit)
	case c.MaxSessionsPerConn < 1:
		return fmt.Errorf("%w: max sessions per connection %d (want at least 1)", ErrBadConfig, c.MaxSessionsPerConn)
	case c.MaxSessions < 1 || c.MaxSessions > int(routerproto.NoSession):
		return fmt.Errorf("%w: max sessions %d (want 1..%d)", ErrBadConfig, c.MaxSessions, routerproto.NoSession)
	case c.PublishRetry <= 0 || c.PublishRetryMax < c.PublishRetry:
		return fmt.Errorf("%w: publish retry %v..%v", ErrBadConfig, c.PublishRetry, c.PublishRetryMax)
	case c.BuildRetry <= 0:
		return fmt.Errorf("%w: build retry %v must be positive", ErrBadConfig, c.BuildRetry)
	case c.RebuildBefore < 0:
		return fmt.Errorf("%w: rebuild-before %v is negative", ErrBadConfig, c.RebuildBefore)
	}
	return nil
}
