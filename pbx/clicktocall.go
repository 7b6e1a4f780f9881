package pbx

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/emiago/diago"

	"github.com/frontdesk-pbx/frontdesk/store"
)

// ErrNotRegistered means an extension has no phone to ring.
var ErrNotRegistered = errors.New("the extension has no registered phone")

// ClickToCall rings an extension's phones and, when one answers, calls
// number (an internal number or an outside one, within the extension's
// outbound permission) and connects the two. It returns the call-log id once
// the call is under way; actor (e.g. "user:alice") goes to the audit log.
func (s *Server) ClickToCall(ctx context.Context, extension, number, actor string) (int64, error) {
	return s.calls.clickToCall(ctx, s.runCtx, extension, number, actor)
}

func (b *b2bua) clickToCall(ctx, serverCtx context.Context, extension, number, actor string) (int64, error) {
	ext, err := b.store.Extension(ctx, extension)
	if err != nil {
		return 0, err
	}
	devices, err := b.store.Bindings(ctx, ext.Number, b.now())
	if err != nil {
		return 0, err
	}
	if len(devices) == 0 {
		return 0, fmt.Errorf("extension %s: %w", ext.Number, ErrNotRegistered)
	}
	// Decide where the second leg goes before ringing anyone.
	var plan *outboundPlan
	callee, internalErr := b.store.Extension(ctx, number)
	if internalErr != nil {
		p, err := b.planOutbound(ctx, ext, number)
		if err != nil {
			return 0, err
		}
		if why, down := trunkUnreachable(b.trunks, p); down {
			return 0, fmt.Errorf("%w: trunk %s: %s", ErrTrunkUnreachable, p.trunk.Name, why)
		}
		plan = &p
	}
	id, err := b.store.StartCall(ctx, store.Call{SIPCallID: "click-to-call", FromNumber: ext.Number, FromName: ext.Name,
		ToNumber: number, StartedAt: b.now(), Status: store.CallRinging})
	if err != nil {
		return 0, err
	}
	if err := b.store.Audit(ctx, actor, "call.click_to_call", "", 0, ext.Number+" -> "+number); err != nil {
		b.log.Error("audit", "error", err)
	}
	log := b.log.With("call", id, "click_to_call", ext.Number+" -> "+number, "by", actor)
	go func() {
		status, hangupBy := b.runClickToCall(serverCtx, ext, devices, callee, plan, number, id, log)
		if err := b.store.EndCall(context.Background(), id, b.now(), status, hangupBy); err != nil {
			log.Error("call log", "error", err)
		}
		log.Info("click-to-call ended", "status", status, "hangup_by", hangupBy)
	}()
	return id, nil
}

// runClickToCall places both legs and relays them.
func (b *b2bua) runClickToCall(ctx context.Context, ext store.Extension, devices []store.Binding, callee store.Extension,
	plan *outboundPlan, number string, id int64, log *slog.Logger) (string, string) {
	// First leg: the user's own phone, showing whom it is about to call.
	ringCtx, cancel := context.WithTimeout(ctx, time.Duration(ext.RingSeconds)*time.Second)
	first, _ := b.ringDevicesFor(ringCtx, nil, func() {}, party{Number: number, Display: "Call " + number}, devices, log)
	cancel()
	if first == nil {
		return store.CallNoAnswer, ""
	}
	defer first.Close()
	if err := first.Ack(ctx); err != nil {
		log.Warn("ACK first leg", "error", err)
	}
	hangUpFirst := func() {
		hctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = first.Hangup(hctx)
	}
	caller := extensionParty(ext)
	var second *diago.DialogClientSession
	if plan == nil {
		targets, err := b.store.Bindings(ctx, callee.Number, b.now())
		if err != nil || len(targets) == 0 {
			hangUpFirst()
			return store.CallUnavailable, ""
		}
		ringCtx, cancel := context.WithTimeout(first.Context(), time.Duration(callee.RingSeconds)*time.Second)
		second, _ = b.ringDevicesFor(ringCtx, first, func() {}, caller, targets, log)
		cancel()
	} else {
		var err error
		second, _, err = b.dialTrunk(first.Context(), first, func() {}, caller, plan.trunk, plan.dialled)
		if err != nil {
			log.Info("click-to-call: number not answered", "error", err)
		}
	}
	if second == nil {
		if first.Context().Err() != nil {
			return store.CallCanceled, "caller"
		}
		hangUpFirst()
		return store.CallNoAnswer, ""
	}
	defer second.Close()
	if err := second.Ack(ctx); err != nil {
		log.Warn("ACK second leg", "error", err)
	}
	if err := b.store.CallAnswered(context.Background(), id, b.now()); err != nil {
		log.Error("call log", "error", err)
	}
	log.Info("click-to-call connected")
	return store.CallAnswered, relay(first, second, log)
}
