package main

import (
	"github.com/consentd/consentd/internal/natspub"
	"github.com/consentd/consentd/internal/webhook"
)

// startEvents starts webhook delivery and, with --nats-url, the NATS
// JetStream publisher. Both read the consent log from stored
// positions; a commit of this process wakes both, and they poll for the
// commits of other processes (webhooks every 250 ms, NATS every second). Every replica runs both: an event may then go out more
// than once, always with the same id, and positions never move back.
func (m *Main) startEvents(r *running) error {
	r.api.WebhookAllowPrivate = r.cfg.WebhookAllowPrivate
	d := webhook.New(r.db, r.cfg.WebhookAllowPrivate, r.log)
	r.afterCommit.add(d.Nudge)
	r.work.Add(1)
	go func() { defer r.work.Done(); d.Run(r.ctx) }()
	if r.cfg.NATSURL == "" {
		return nil
	}
	p, err := natspub.Connect(r.cfg.NATSURL, r.db, r.log)
	if err != nil {
		return err
	}
	r.afterCommit.add(p.Nudge)
	r.work.Add(1)
	go func() {
		defer r.work.Done()
		defer p.JS.Conn().Close()
		p.Run(r.ctx)
	}()
	return nil
}
