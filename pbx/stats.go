package pbx

import "sync/atomic"

// Stats are the SIP side's running totals since start, for /metrics.
type Stats struct {
	RegistersOK       uint64 // REGISTERs accepted
	RegistersRejected uint64 // challenged without credentials, wrong ones, or refused
	RegistersOverload uint64 // answered 503 because too many were in flight
	CallsTotal        uint64 // INVITEs that started a call
	CallsActive       int64
	DepositsSaved     uint64 // voicemail messages stored
	DepositsFailed    uint64 // recordings that could not be saved
	RTPReceived       uint64 // packets received from callers leaving messages
	RTPExpected       uint64 // packets those callers sent, by sequence number
	SourcesBlocked    uint64 // SIP sources blocked for failures (abuse.go)
	RequestsDropped   uint64 // requests from blocked sources, dropped unanswered
	RequestsLimited   uint64 // requests over their source's rate limit
}

// counters are Stats' live, atomic form.
type counters struct {
	registersOK, registersRejected, registersOverload atomic.Uint64
	callsTotal                                        atomic.Uint64
	depositsSaved, depositsFailed                     atomic.Uint64
	rtpReceived, rtpExpected                          atomic.Uint64
	sourcesBlocked, requestsDropped, requestsLimited  atomic.Uint64
}

// Stats returns the running totals.
func (s *Server) Stats() Stats {
	c := s.counters
	return Stats{
		RegistersOK: c.registersOK.Load(), RegistersRejected: c.registersRejected.Load(), RegistersOverload: c.registersOverload.Load(),
		CallsTotal: c.callsTotal.Load(), CallsActive: s.calls.active.Load(),
		DepositsSaved: c.depositsSaved.Load(), DepositsFailed: c.depositsFailed.Load(),
		RTPReceived: c.rtpReceived.Load(), RTPExpected: c.rtpExpected.Load(),
		SourcesBlocked: c.sourcesBlocked.Load(), RequestsDropped: c.requestsDropped.Load(), RequestsLimited: c.requestsLimited.Load(),
	}
}

// The recording methods accept a nil *counters (tests build parts alone).

func (c *counters) register(status int) {
	if c == nil {
		return
	}
	switch {
	case status == 200:
		c.registersOK.Add(1)
	case status == 503:
		c.registersOverload.Add(1)
	default:
		c.registersRejected.Add(1)
	}
}

func (c *counters) call() {
	if c != nil {
		c.callsTotal.Add(1)
	}
}

func (c *counters) deposit(saved bool, received, expected uint64) {
	if c == nil {
		return
	}
	if saved {
		c.depositsSaved.Add(1)
	} else {
		c.depositsFailed.Add(1)
	}
	c.rtpReceived.Add(received)
	c.rtpExpected.Add(expected)
}

func (c *counters) block() {
	if c != nil {
		c.sourcesBlocked.Add(1)
	}
}

func (c *counters) dropped() {
	if c != nil {
		c.requestsDropped.Add(1)
	}
}

func (c *counters) limited() {
	if c != nil {
		c.requestsLimited.Add(1)
	}
}
