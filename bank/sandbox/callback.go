package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/apoyo-cdmx/apoyo/payment"
)

// maxQueuedCallbacks bounds memory if a callback endpoint is down for long;
// callbacks are best effort and Status is the source of truth.
const maxQueuedCallbacks = 10_000

// delivery is one callback to make.
type delivery struct {
	url    string
	seq    int64
	kind   MovementKind
	status payment.Status
}

// notifier delivers callbacks one at a time, in movement order, from a
// single goroutine, so a receiver never sees "settled" after "returned".
type notifier struct {
	b     *Bank
	mu    sync.Mutex
	queue []delivery
	wake  chan struct{}
	once  sync.Once
}

func newNotifier(b *Bank) *notifier {
	return &notifier{b: b, wake: make(chan struct{}, 1)}
}

// enqueue adds d to the queue and starts the worker on first use. Called
// with b.mu held and b not closed, which keeps wg.Add ahead of Close's Wait.
func (n *notifier) enqueue(d delivery) {
	n.once.Do(func() {
		n.b.wg.Add(1)
		go n.run()
	})
	n.mu.Lock()
	if len(n.queue) >= maxQueuedCallbacks {
		n.b.log.Warn("sandbox bank: callback queue full, dropping oldest", "url", n.queue[0].url)
		n.queue = n.queue[1:]
	}
	n.queue = append(n.queue, d)
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) run() {
	defer n.b.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-n.b.stop
		cancel()
	}()
	for {
		n.mu.Lock()
		var d delivery
		have := len(n.queue) > 0
		if have {
			d = n.queue[0]
			n.queue = n.queue[1:]
		}
		n.mu.Unlock()
		if !have {
			select {
			case <-n.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		n.deliver(ctx, d)
		if ctx.Err() != nil {
			return
		}
	}
}

// deliver POSTs one status, retrying with doubling backoff.
func (n *notifier) deliver(ctx context.Context, d delivery) {
	body, err := json.Marshal(d.status)
	if err != nil {
		n.b.log.Error("sandbox bank: encoding callback", "err", err)
		return
	}
	backoff := 100 * time.Millisecond
	for attempt := 1; attempt <= n.b.cfg.CallbackTries; attempt++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.url, bytes.NewReader(body))
		if err != nil {
			n.b.log.Warn("sandbox bank: bad callback url", "url", d.url, "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/json")
		// Lets a receiver drop duplicates and order events.
		req.Header.Set("X-Sandbox-Movement-Seq", strconv.FormatInt(d.seq, 10))
		req.Header.Set("X-Sandbox-Movement-Kind", string(d.kind))
		resp, err := n.b.cfg.CallbackClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode >= 200 && resp.StatusCode < 300 {
				return
			}
		}
		if attempt == n.b.cfg.CallbackTries {
			n.b.log.Warn("sandbox bank: giving up on callback", "url", d.url, "order", d.status.OrderID, "err", err)
			return
		}
		select {
		case <-time.After(backoff):
			backoff *= 2
		case <-ctx.Done():
			return
		}
	}
}
