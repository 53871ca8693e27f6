package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/ava-labs/avalanchego/ids"
	"github.com/ava-labs/avalanchego/utils/crypto/secp256k1"
	"github.com/ava-labs/avalanchego/vms/example/xsvm/api"
	"github.com/ava-labs/avalanchego/vms/example/xsvm/tx"
)

// Nonce polls back off from pollFirst to pollMax. Each poll is an HTTP
// request the node hands to the plugin (recorded calls), so polling stays
// sparse while a transfer waits for its proposer window (seconds with 2
// nodes); xsvm's own 50 ms ticker would bloat the recordings.
const (
	pollFirst = 100 * time.Millisecond
	pollMax   = time.Second
)

// transferrer issues xsvm transfers through the chain's HTTP API, as the
// `xsvm issue transfer` command does, one at a time.
type transferrer struct {
	ChainID ids.ID
	Key     *secp256k1.PrivateKey
	Out     io.Writer
}

// run issues n transfers through each node in turn (round robin), waits for
// each to be accepted by the node it went to, then for every node to have
// accepted them all. It returns when the first transfer was seen accepted and
// the final block height.
func (t *transferrer) run(ctx context.Context, uris []string, n int) (first time.Time, height uint64, err error) {
	clients := make([]*api.Client, len(uris))
	for i, u := range uris {
		clients[i] = api.NewClient(u, t.ChainID.String())
	}
	from := t.Key.Address()
	to := ids.GenerateTestShortID()
	for i, c := range clients {
		if err := waitFor(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			_, err := c.Nonce(ctx, from)
			return err == nil, nil
		}); err != nil {
			return first, 0, fmt.Errorf("xsvm API of node %d (%s) not answering: %w", i, uris[i], err)
		}
	}
	total := n * len(clients)
	for k := 0; k < total; k++ {
		i := k % len(clients)
		c := clients[i]
		nonce, err := c.Nonce(ctx, from)
		if err != nil {
			return first, 0, fmt.Errorf("nonce from node %d: %w", i, err)
		}
		stx, err := tx.Sign(&tx.Transfer{
			ChainID: t.ChainID,
			Nonce:   nonce,
			AssetID: t.ChainID,
			Amount:  uint64(1000 + k),
			To:      to,
		}, t.Key)
		if err != nil {
			return first, 0, err
		}
		issued := time.Now()
		txID, err := c.IssueTx(ctx, stx)
		if err != nil {
			return first, 0, fmt.Errorf("issue transfer %d through node %d: %w", k+1, i, err)
		}
		// With several nodes a transfer waits until the node it went to is
		// the proposer of a 5 s slot: seconds, rarely tens of seconds.
		if err := waitFor(ctx, 2*time.Minute, func(ctx context.Context) (bool, error) {
			cur, err := c.Nonce(ctx, from)
			return err == nil && cur > nonce, err
		}); err != nil {
			return first, 0, fmt.Errorf("transfer %d (%s) through node %d not accepted: %w", k+1, txID, i, err)
		}
		if first.IsZero() {
			first = time.Now()
		}
		fmt.Fprintf(t.Out, "recordnet:   transfer %d/%d %s via node %d accepted in %s\n", k+1, total, txID, i, time.Since(issued).Round(time.Millisecond))
	}
	// Every node has accepted every block.
	want := uint64(total)
	for i, c := range clients {
		if err := waitFor(ctx, time.Minute, func(ctx context.Context) (bool, error) {
			cur, err := c.Nonce(ctx, from)
			return err == nil && cur >= want, err
		}); err != nil {
			return first, 0, fmt.Errorf("node %d did not accept all %d transfers: %w", i, total, err)
		}
		_, blk, err := c.LastAccepted(ctx)
		if err != nil {
			return first, 0, fmt.Errorf("last accepted on node %d: %w", i, err)
		}
		if i == 0 {
			height = blk.Height
		} else if blk.Height != height {
			return first, 0, fmt.Errorf("node %d at height %d, node 0 at %d", i, blk.Height, height)
		}
	}
	return first, height, nil
}

// waitFor polls cond (pollFirst, doubling up to pollMax) until it holds or
// limit passes. An error from cond is remembered and reported if the wait
// times out.
func waitFor(ctx context.Context, limit time.Duration, cond func(context.Context) (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	interval := pollFirst
	t := time.NewTimer(interval)
	defer t.Stop()
	var last error
	for {
		ok, err := cond(ctx)
		if ok {
			return nil
		}
		if err != nil {
			last = err
		}
		select {
		case <-ctx.Done():
			if last != nil {
				return fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			}
			return ctx.Err()
		case <-t.C:
			interval = min(2*interval, pollMax)
			t.Reset(interval)
		}
	}
}
