package github

import (
	"testing"
	"time"
)

func TestRateGate(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)}
	g := &rateGate{now: clock.Now}
	if err := g.check(); err != nil {
		t.Fatalf("new gate closed: %v", err)
	}
	reset := clock.Now().Add(time.Minute)
	g.block(reset, true)
	g.block(clock.Now().Add(time.Second), false) // an earlier end does not shorten it
	err := g.check()
	if err == nil || !err.Reset.Equal(reset) || !err.Secondary || err.Err != nil {
		t.Fatalf("check = %+v, want a secondary limit until %v", err, reset)
	}
	clock.Add(time.Minute - time.Nanosecond)
	if g.check() == nil {
		t.Fatal("gate open before the reset")
	}
	clock.Add(time.Nanosecond)
	if err := g.check(); err != nil {
		t.Fatalf("gate closed at the reset: %v", err)
	}
}
